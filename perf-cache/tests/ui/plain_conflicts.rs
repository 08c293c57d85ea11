use perf_cache::cached;

#[cached(plain, codec = perf_cache::Postcard)]
async fn binary(id: u64) -> u64 {
    id
}

#[cached(plain, cache_none)]
async fn maybe(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
