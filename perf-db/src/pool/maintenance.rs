//! The pool's maintenance task: keeps the pool gauges (and the `closed_total{reason="other"}`
//! counter) current while nobody acquires, and retires idle connections that reached their
//! lifetime.
//!
//! The `db_pool_connections{state}` gauges used to move only on an acquire or a
//! [`Pool::stats`](crate::Pool::stats) call, so after a burst a dashboard kept showing a saturated
//! pool that had long gone idle. sqlx returns a connection to its idle queue from a task of its
//! own after the caller drops it, so no hook sees the final counts at release time; a periodic
//! refresh does.
//!
//! Recycling used to be lazy: an idle connection past `max_lifetime` was closed only when an
//! acquire reached it, so the reconnect landed on a caller's latency. Now, when some
//! connection's (jittered) lifetime has passed, the task checks out the idle connections (no
//! pre-ping), which makes the lifetime check close the expired ones and open their
//! replacements, then puts them back; HikariCP's housekeeper does the same in the background.
//! Side effect: the idle connections it checked out count as used at that moment for
//! `idle_timeout` and the pre-ping window. It runs only when a lifetime has passed, about once
//! per `max_lifetime` per group of connections opened together. The task belongs to the pool: it stops as soon as the last clone of the
//! [`Pool`](crate::Pool) is dropped (or the pool is closed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::{Either, select};
use tokio::sync::oneshot;

use super::hooks::MAINTENANCE;
use super::lifetime::Lifetimes;
use crate::Backend;
use crate::shared::Shared;
use crate::stats::Counters;

/// How often the maintenance task runs (gauges refreshed at least this often).
pub(crate) const PERIOD: Duration = Duration::from_secs(1);

/// Held by every clone of a [`Pool`](crate::Pool); dropping the last one stops the task.
#[derive(Debug)]
pub(crate) struct Maintenance {
    _stop: Option<oneshot::Sender<()>>,
}

impl Maintenance {
    /// Starts the task on the current tokio runtime; without one (a pool built outside a
    /// runtime) the gauges are refreshed on acquire and `stats()` only.
    pub(crate) fn start<DB: Backend>(
        inner: &sqlx::Pool<DB>,
        shared: &Arc<Shared>,
        lifetimes: Option<Arc<Lifetimes>>,
    ) -> Self {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Self { _stop: None };
        };
        let (stop, mut stopped) = oneshot::channel::<()>();
        let (inner, shared) = (inner.clone(), Arc::clone(shared));
        runtime.spawn(async move {
            loop {
                let tick = std::pin::pin!(tokio::time::sleep(PERIOD));
                if let Either::Right(_) = select(tick, &mut stopped).await {
                    return; // the last Pool handle is gone
                }
                if inner.is_closed() {
                    return;
                }
                if let Some(lifetimes) = &lifetimes
                    && lifetimes.any_due(Instant::now())
                {
                    retire_expired(&inner, lifetimes).await;
                }
                let (size, _) = refresh_gauges(&inner, &shared);
                refresh_closed_other(&shared, size);
            }
        });
        Self { _stop: Some(stop) }
    }
}

/// Checks out every idle connection (the lifetime check in `before_acquire` closes the expired
/// ones, and the acquire opens a replacement), then returns them all.
async fn retire_expired<DB: Backend>(inner: &sqlx::Pool<DB>, lifetimes: &Lifetimes) {
    let now = Instant::now();
    let idle = inner.num_idle();
    let mut checked_out = Vec::with_capacity(idle);
    for _ in 0..idle {
        let acquire = MAINTENANCE.scope((), inner.acquire());
        match tokio::time::timeout(RETIRE_ACQUIRE_TIMEOUT, acquire).await {
            Ok(Ok(conn)) => checked_out.push(conn),
            // Busy (callers took the rest) or the database is down: the next run tries again.
            Ok(Err(_)) | Err(_) => break,
        }
    }
    drop(checked_out);
    // Retired now, or in use and retired by age when they come back.
    lifetimes.forget_due(now);
}

/// How long the retiring run waits for one connection before giving up until the next run.
const RETIRE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Sets `db_pool_connections_closed_total{reason="other"}` (closes sqlx does on its own: idle
/// timeout, errors) from the counts; returns it.
pub(crate) fn refresh_closed_other(shared: &Shared, size: u32) -> u64 {
    let c = &*shared.counters;
    let closed = Counters::get(&c.opened).saturating_sub(u64::from(size));
    let other = closed.saturating_sub(Counters::get(&c.recycled) + Counters::get(&c.ping_failed));
    shared.metrics.closed_other.absolute(other);
    other
}

/// Sets the `db_pool_connections{state}` gauges from the pool's current counts (and
/// `db_pool_max_connections`).
pub(crate) fn refresh_gauges<DB: sqlx::Database>(
    inner: &sqlx::Pool<DB>,
    shared: &Shared,
) -> (u32, u32) {
    let size = inner.size();
    let idle = u32::try_from(inner.num_idle())
        .unwrap_or(u32::MAX)
        .min(size);
    shared.metrics.idle.set(f64::from(idle));
    shared.metrics.in_use.set(f64::from(size - idle));
    // Constant, but set again so that it binds to a recorder installed after the pool was built.
    shared.metrics.max.set(f64::from(shared.max_connections));
    (size, idle)
}
