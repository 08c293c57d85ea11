//! Every series perf-db registers is in perf-metrics' naming table, with the table's labels and
//! only the values the table lists; and every value the table lists for perf-db is registered.
//! (The dashboards and alert rules are tested against that table.)
#![cfg(feature = "sqlite")]

use std::collections::BTreeSet;

use metrics_util::debugging::DebuggingRecorder;
use perf_db::{Pool, PoolConfig};
use perf_metrics::names;
use sqlx::Sqlite;

#[tokio::test]
async fn registered_series_match_the_naming_table_both_ways() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let config = PoolConfig::builder()
        .url("sqlite::memory:")
        .name("names")
        .build()
        .unwrap();
    // the pool registers all its series when it is created
    let _pool =
        metrics::with_local_recorder(&recorder, || Pool::<Sqlite>::connect_lazy(&config)).unwrap();

    let mut registered = BTreeSet::new(); // (metric, label, value) for closed-set labels
    let mut metrics_seen = BTreeSet::new();
    for (key, ..) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let name = key.name();
        let row = names::find(name).unwrap_or_else(|| panic!("`{name}` is not in the table"));
        assert_eq!(row.emitted_by, "perf-db", "{name}");
        let labels: Vec<&str> = key.labels().map(metrics::Label::key).collect();
        assert_eq!(labels, row.labels, "labels of {name}");
        for label in key.labels() {
            if let Some(values) = row.values_of(label.key()) {
                assert!(
                    values.contains(&label.value()),
                    "{name}{{{}=\"{}\"}}: the table lists only {values:?}",
                    label.key(),
                    label.value()
                );
                registered.insert((
                    name.to_owned(),
                    label.key().to_owned(),
                    label.value().to_owned(),
                ));
            }
        }
        metrics_seen.insert(name.to_owned());
    }
    let perf_db_rows: Vec<_> = names::ALL
        .iter()
        .filter(|m| m.emitted_by == "perf-db")
        .collect();
    for row in &perf_db_rows {
        assert!(
            metrics_seen.contains(row.name),
            "{} is never registered",
            row.name
        );
        for (label, values) in row.values {
            for value in *values {
                let triple = (
                    row.name.to_owned(),
                    (*label).to_owned(),
                    (*value).to_owned(),
                );
                assert!(
                    registered.contains(&triple),
                    "{triple:?} is in the table but never recorded"
                );
            }
        }
    }
    // the outcomes a query can end with, all four
    let outcomes: Vec<_> = registered
        .iter()
        .filter(|(m, l, _)| m == "db_queries_total" && l == "outcome")
        .map(|(.., v)| v.as_str())
        .collect();
    assert_eq!(outcomes, ["cancelled", "error", "ok", "timeout"]);
}
