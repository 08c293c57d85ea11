use perf_metrics::timed;

#[timed(name = "scans")]
fn scan() {}

fn main() {}
