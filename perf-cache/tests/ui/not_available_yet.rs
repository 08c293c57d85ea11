use perf_cache::cached;

#[cached(single_flight = "cluster")]
async fn leased(id: u64) -> u64 {
    id
}

#[cached]
fn plain_fn(id: u64) -> u64 {
    id
}

fn main() {}
