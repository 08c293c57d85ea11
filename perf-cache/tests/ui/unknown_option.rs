use perf_cache::cached;

#[cached(ttll = "1m")]
async fn scan(id: u64) -> u64 {
    id
}

fn main() {}
