use perf_cache::cached;

#[cached(refresh_ahead = "10s")]
fn refreshed(id: u64) -> u64 {
    id
}

#[cached(l2_ttl = "1h")]
fn in_redis(id: u64) -> u64 {
    id
}

#[cached(codec = perf_cache::Json)]
fn encoded(id: u64) -> u64 {
    id
}

#[cached(stale_if_error = "1m")]
fn stale(id: u64) -> Result<u64, String> {
    Ok(id)
}

#[cached(plain)]
fn interop(id: u64) -> u64 {
    id
}

#[cached(single_flight = "cluster")]
fn leased(id: u64) -> u64 {
    id
}

#[cached(soft_timeout = "100ms", hard_timeout = "1s")]
fn timed(id: u64) -> Result<u64, std::io::Error> {
    Ok(id)
}

fn main() {}
