use perf_cache::{LoadTimeout, cached};

#[derive(Debug)]
enum E {
    Timeout,
}

impl From<LoadTimeout> for E {
    fn from(_: LoadTimeout) -> Self {
        E::Timeout
    }
}

#[cached(hard_timeout = "2s")]
async fn by_name(name: &str) -> Result<usize, E> {
    Ok(name.len())
}

#[cached(stale_if_error = "5m", soft_timeout = "200ms")]
async fn by_slice(items: &[u64]) -> Result<usize, E> {
    Ok(items.len())
}

fn main() {}
