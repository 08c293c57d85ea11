use perf_metrics::timed;

#[timed(labels(scan_type = "nmap", scan_type = "masscan"))]
fn scan() {}

fn main() {}
