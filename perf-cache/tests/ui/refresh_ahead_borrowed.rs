use perf_cache::cached;

#[cached(refresh_ahead = "10s")]
async fn lookup(name: &str) -> usize {
    name.len()
}

struct Repo;

impl Repo {
    #[cached(refresh_ahead = "10s", skip(self))]
    async fn find(&self, id: u64) -> u64 {
        id
    }
}

fn main() {}
