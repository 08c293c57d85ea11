use perf_metrics::timed;

#[timed(labels(outcome = "always_ok"))]
fn scan() {}

fn main() {}
