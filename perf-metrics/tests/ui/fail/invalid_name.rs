use perf_metrics::timed;

#[timed(name = "scan duration seconds")]
fn scan() {}

fn main() {}
