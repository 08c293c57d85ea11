use perf_metrics::timed;

#[timed(labels(retries = 3))]
fn scan() {}

fn main() {}
