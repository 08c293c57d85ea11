use perf_cache::cached;

#[cached(tags = ["scan:{scan_id}", "target:{target}"])]
async fn scan(scan_id: u64) -> u64 {
    scan_id
}

#[cached(tags = ["open:{id"])]
async fn unclosed(id: u64) -> u64 {
    id
}

fn main() {}
