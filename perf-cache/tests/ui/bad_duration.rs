use perf_cache::cached;

#[cached(ttl = "ten minutes")]
async fn scan(id: u64) -> u64 {
    id
}

#[cached(l2_ttl = "2years")]
async fn too_long(id: u64) -> u64 {
    id
}

fn main() {}
