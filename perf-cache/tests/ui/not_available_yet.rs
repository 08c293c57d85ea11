use perf_cache::cached;

#[cached(tags = "user:{id}")]
async fn tagged(id: u64) -> u64 {
    id
}

fn main() {}
