//! Cost of the per-statement lookup on the query path: a statement seen before (hash + map
//! lookup, the cached path every repeated query takes) against normalizing it (the one-time
//! cost paid on first sight of a distinct SQL text).
//!
//! Also the whole per-query bookkeeping (`db_per_query_bookkeeping`).
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
    group.bench_function("cached_lookup", |b| {
        b.iter(|| lookup.lookup(black_box(SQL)))
    });
    group.bench_function("uncached_normalize", |b| {
        b.iter(|| perf_db::normalize_sql(black_box(SQL)))
    });
    group.finish();
}

/// The whole per-query bookkeeping a `perf_db::Pool` adds around a query (no database), with
/// spans off and with spans on under a tracing registry. The baseline is the same loop doing
/// nothing, so the difference is the added cost per query.
fn per_query(c: &mut Criterion) {
    let off = perf_db::__QueryRecorder::new(&perf_db::PoolConfig::default());
    let on = perf_db::__QueryRecorder::new(
        &perf_db::PoolConfig::builder()
            .query_spans(true)
            .build()
            .unwrap(),
    );
    let mut group = c.benchmark_group("db_per_query_bookkeeping");
    group.bench_function("baseline_nothing", |b| b.iter(|| black_box(SQL)));
    group.bench_function("spans_off", |b| b.iter(|| off.record(black_box(SQL), 1)));
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry());
    group.bench_function("spans_on_registry", |b| {
        b.iter(|| on.record(black_box(SQL), 1))
    });
    group.finish();
}

criterion_group!(benches, normalize, per_query);
criterion_main!(benches);
