use perf_cache::cached;

struct NotClone(u64);

#[cached(local)]
async fn handle(id: u64) -> NotClone {
    NotClone(id)
}

fn main() {}
