use perf_cache::cached;

struct Pool;

#[cached]
async fn count_users(pool: &Pool, team: u64) -> u64 {
    let _ = pool;
    team
}

fn main() {}
