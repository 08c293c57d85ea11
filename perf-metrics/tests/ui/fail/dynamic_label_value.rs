use perf_metrics::timed;

#[timed(labels(user = user_id))]
fn scan(_user_id: &str) {}

fn main() {}
