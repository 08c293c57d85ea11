//! Building a cache key: `Key::new("user").arg(n)` (the path every `get` with an id pays,
//! written through `CacheKey`) and a string segment that needs escaping, against the peer a
//! user would otherwise write, `format!("user:{n}")`, in the same run.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use perf_cache::Key;

fn key_build(c: &mut Criterion) {
    let mut g = c.benchmark_group("cache_key_build");
    g.bench_function("key_new_user_arg_u64", |b| {
        let mut n = 0_u64;
        b.iter(|| {
            n = n.wrapping_add(7_919);
            black_box(Key::new(black_box("user")).arg(black_box(n)))
        });
    });
    g.bench_function("key_new_user_arg_escaped_str", |b| {
        b.iter(|| black_box(Key::new(black_box("user")).arg(black_box("a:b*c"))));
    });
    g.bench_function("format_string_peer", |b| {
        let mut n = 0_u64;
        b.iter(|| {
            n = n.wrapping_add(7_919);
            black_box(format!("user:{}", black_box(n)))
        });
    });
    g.finish();
}

criterion_group!(benches, key_build);
criterion_main!(benches);
