use perf_cache::cached;

#[cached(hard_timeout = "2s")]
async fn plain(id: u64) -> u64 {
    id
}

#[cached(hard_timeout = "2s")]
async fn maybe(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
