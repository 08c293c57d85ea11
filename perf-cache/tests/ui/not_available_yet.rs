use perf_cache::cached;

#[cached(single_flight = "cluster")]
async fn leased(id: u64) -> u64 {
    id
}

#[cached(tags = "user:{id}")]
async fn tagged(id: u64) -> u64 {
    id
}

fn main() {}
