use perf_cache::cached;

#[cached(key = "scan:{scan}")]
async fn get_scan_results(scan_id: u64) -> u64 {
    scan_id
}

fn main() {}
