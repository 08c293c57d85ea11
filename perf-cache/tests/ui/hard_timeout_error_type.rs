use perf_cache::cached;

#[derive(Debug, Clone)]
struct DbError;

#[cached(hard_timeout = "2s")]
async fn row(id: u64) -> Result<u64, DbError> {
    Ok(id)
}

fn main() {}
