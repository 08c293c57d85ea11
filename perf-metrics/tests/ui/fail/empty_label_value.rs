use perf_metrics::timed;

#[timed(labels(scan_type = ""))]
fn scan() {}

fn main() {}
