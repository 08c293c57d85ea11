use perf_metrics::timed;

#[timed]
struct Scanner;

fn main() {}
