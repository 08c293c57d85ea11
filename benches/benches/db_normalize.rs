//! Cost of the per-statement lookup on the query path: a statement seen before (hash + map
//! lookup, the cached path every repeated query takes) against normalizing it (the one-time
//! cost paid on first sight of a distinct SQL text).
//!
//! Run: `cargo bench -p perf-benches --bench db_normalize -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

const SQL: &str = "SELECT o.id, o.total, o.created_at FROM orders o \
                   JOIN users u ON u.id = o.user_id \
                   WHERE u.email = $1 AND o.status IN ('paid', 'shipped') \
                   ORDER BY o.created_at DESC LIMIT 20";

fn normalize(c: &mut Criterion) {
    let lookup = perf_db::__StatementLookup::new(1000);
    lookup.lookup(SQL);
    let mut group = c.benchmark_group("db_statement_normalization");
    group.bench_function("cached_lookup", |b| b.iter(|| lookup.lookup(black_box(SQL))));
    group.bench_function("uncached_normalize", |b| b.iter(|| perf_db::normalize_sql(black_box(SQL))));
    group.finish();
}

criterion_group!(benches, normalize);
criterion_main!(benches);
