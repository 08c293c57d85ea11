use perf_cache::cached;

#[cached(local, codec = perf_cache::Json)]
async fn with_codec(id: u64) -> u64 {
    id
}

#[cached(local, l2_ttl = "1h", l3_ttl = "1d")]
async fn with_lower_ttls(id: u64) -> u64 {
    id
}

#[cached(local, plain)]
async fn with_plain(id: u64) -> u64 {
    id
}

#[cached(local, refresh_ahead = "10s")]
async fn with_refresh(id: u64) -> u64 {
    id
}

fn main() {}
