use perf_metrics::timed;

#[timed(nmae = "scan_duration_seconds")]
fn scan() {}

fn main() {}
