use perf_cache::{LoadTimeout, cached};

#[derive(Debug)]
struct E;

impl From<LoadTimeout> for E {
    fn from(_: LoadTimeout) -> Self {
        E
    }
}

#[cached(stale_if_error = "5m", soft_timeout = "2s", hard_timeout = "2s")]
async fn equal(id: u64) -> Result<u64, E> {
    Ok(id)
}

#[cached(stale_if_error = "5m", soft_timeout = "3s", hard_timeout = "1s")]
async fn above(id: u64) -> Result<u64, E> {
    Ok(id)
}

#[cached(hard_timeout = "0ms")]
async fn zero(id: u64) -> Result<u64, E> {
    Ok(id)
}

#[cached(soft_timeout = "200ms")]
async fn no_stale_window(id: u64) -> Result<u64, E> {
    Ok(id)
}

#[cached(load_timeout = "2s")]
async fn old_name(id: u64) -> Result<u64, E> {
    Ok(id)
}

fn main() {}
