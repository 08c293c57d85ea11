use perf_cache::cached;

#[cached(key = "{id}", skip(pool))]
async fn user(pool: u8, id: u64) -> u64 {
    let _ = pool;
    id
}

#[cached(single_flight = "off", cache_none)]
async fn maybe(id: u64) -> Option<u64> {
    Some(id)
}

#[cached(cache_none)]
async fn not_an_option(id: u64) -> u64 {
    id
}

fn main() {}
