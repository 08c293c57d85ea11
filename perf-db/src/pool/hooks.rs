//! The sqlx pool hooks behind recycling, the idle-window pre-ping and connection counting.
//!
//! sqlx's own `max_lifetime` and `test_before_acquire` are turned off and done here instead, so
//! that every recycled or failed connection is counted, each connection has its own jittered
//! lifetime (`lifetime.rs`), and a connection is pinged only when it sat idle longer than the
//! pre-ping window (HikariCP's `aliveBypassWindowMs`) rather than on every acquire.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use sqlx::Connection;
use sqlx::pool::PoolOptions;

use super::lifetime::Lifetimes;
use crate::shared::ACQUIRE_PHASES;
use crate::stats::{Counters, Metrics};
use crate::{Backend, PoolConfig};

tokio::task_local! {
    /// Set while the maintenance task acquires idle connections to retire expired ones: the
    /// lifetime check runs, the pre-ping does not (nobody is about to use the connection).
    pub(super) static MAINTENANCE: ();
}

fn in_maintenance() -> bool {
    MAINTENANCE.try_with(|()| ()).is_ok()
}

pub(super) fn pool_options<DB: Backend>(
    config: &PoolConfig,
    counters: &Arc<Counters>,
    metrics: &Arc<Metrics>,
    lifetimes: Option<&Arc<Lifetimes>>,
) -> PoolOptions<DB> {
    let test = config.test_before_acquire;
    let window = config.pre_ping_window;
    let session = Arc::new(config.clone());

    let mut options = PoolOptions::<DB>::new()
        .max_connections(config.max_connections)
        .min_connections(config.min_connections)
        .acquire_timeout(config.acquire_timeout)
        .idle_timeout(config.idle_timeout)
        .max_lifetime(None)
        .test_before_acquire(false);

    let (c, m) = (Arc::clone(counters), Arc::clone(metrics));
    let l = lifetimes.cloned();
    options = options.after_connect(move |conn, _meta| {
        let (c, m, l) = (Arc::clone(&c), Arc::clone(&m), l.clone());
        let session = Arc::clone(&session);
        Box::pin(async move {
            DB::on_connect(conn, &session).await?;
            c.opened.fetch_add(1, Ordering::Relaxed);
            m.opened.increment(1);
            // Absent when the pool opens a connection on its own (min_connections upkeep).
            let _ = ACQUIRE_PHASES.try_with(|p| p.connected.set(true));
            // Last, as close as possible to sqlx's own `created_at` (see `lifetime.rs`).
            if let Some(lifetimes) = l {
                lifetimes.register(Instant::now());
            }
            Ok(())
        })
    });

    if test || lifetimes.is_some() {
        let (c, m, l) = (
            Arc::clone(counters),
            Arc::clone(metrics),
            lifetimes.cloned(),
        );
        options = options.before_acquire(move |conn, meta| {
            // Decide synchronously; only a ping needs an async step (and the shared handles).
            if let Some(lifetimes) = &l
                && lifetimes.expired(meta.age)
            {
                lifetimes.forget(meta.age);
                c.recycled.fetch_add(1, Ordering::Relaxed);
                m.closed_recycled.increment(1);
                return Box::pin(std::future::ready(Ok(false)));
            }
            if !test || in_maintenance() {
                return Box::pin(std::future::ready(Ok(true)));
            }
            if meta.idle_for < window {
                c.pings_skipped.fetch_add(1, Ordering::Relaxed);
                return Box::pin(std::future::ready(Ok(true)));
            }
            let (c, m) = (Arc::clone(&c), Arc::clone(&m));
            Box::pin(async move {
                let start = Instant::now();
                let alive = conn.ping().await.is_ok();
                let took = start.elapsed();
                c.pings.fetch_add(1, Ordering::Relaxed);
                c.ping_ns.fetch_add(
                    u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
                    Ordering::Relaxed,
                );
                m.acquire_ping.record(took.as_secs_f64());
                let _ = ACQUIRE_PHASES.try_with(|p| p.ping.set(p.ping.get() + took));
                if !alive {
                    c.ping_failed.fetch_add(1, Ordering::Relaxed);
                    m.closed_ping_failed.increment(1);
                    tracing::info!(
                        target: "perf_db::pool",
                        idle_ms = meta.idle_for.as_millis(),
                        "pre-ping failed; replacing the connection"
                    );
                }
                Ok(alive)
            })
        });
    }

    if let Some(lifetimes) = lifetimes {
        let (c, m, l) = (
            Arc::clone(counters),
            Arc::clone(metrics),
            Arc::clone(lifetimes),
        );
        options = options.after_release(move |_conn, meta| {
            let recycle = l.expired(meta.age);
            if recycle {
                l.forget(meta.age);
                c.recycled.fetch_add(1, Ordering::Relaxed);
                m.closed_recycled.increment(1);
            }
            Box::pin(std::future::ready(Ok(!recycle)))
        });
    }
    options
}
