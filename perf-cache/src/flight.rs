//! Single-flight: concurrent loads of one key share one loader run, whatever API they came
//! through (`get_or_load`, `try_get_or_load`, `get_or_load_optional`).
//!
//! The first caller of a cold key becomes the *leader* and holds a [`Leader`] guard; later
//! callers hold a [`Waiter`] on a `watch` channel. The leader **publishes** its outcome as soon
//! as the loader returns, before it writes the value to the tiers, and keeps the key in the map
//! until it is done: a caller arriving while the leader still writes to Redis or disk joins as a
//! waiter and gets the published outcome at once, instead of missing L1 and loading again.
//!
//! Dropping the leader ends the flight: it removes the key, then the channel closes. A waiter
//! that cannot use the published outcome (a "not found" when it needs a value, or an error of
//! another type) waits for that end and joins again, so callers of different APIs still share
//! one flight per key at a time rather than each running its own loader. If the leader is
//! cancelled or its loader panics, the flight ends without an outcome: waiters join again and
//! one becomes the new leader, so a key is never wedged.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::Key;

/// What a finished load produced, shared with every waiter.
#[derive(Clone)]
pub(crate) enum Outcome<V> {
    /// The value, or `None` for "not found".
    Value(Option<V>),
    /// The loader's error, type-erased so that callers with the same error type can share it.
    Error(Arc<dyn Any + Send + Sync>),
}

type Map<V> = Arc<Mutex<HashMap<Key, watch::Receiver<Option<Outcome<V>>>>>>;

pub(crate) struct Flights<V> {
    map: Map<V>,
}

impl<V> std::fmt::Debug for Flights<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flights").finish_non_exhaustive()
    }
}

impl<V> Default for Flights<V> {
    fn default() -> Self {
        Self {
            map: Arc::default(),
        }
    }
}

pub(crate) enum Join<V> {
    Leader(Leader<V>),
    Waiter(Waiter<V>),
}

/// Held by the one caller running the load; dropping it ends the flight.
pub(crate) struct Leader<V> {
    map: Map<V>,
    key: Key,
    tx: watch::Sender<Option<Outcome<V>>>,
}

/// Held by a caller waiting for the leader.
pub(crate) struct Waiter<V> {
    rx: watch::Receiver<Option<Outcome<V>>>,
}

impl<V: Clone> Flights<V> {
    pub(crate) fn join(&self, key: &Key) -> Join<V> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(rx) = map.get(key) {
            return Join::Waiter(Waiter { rx: rx.clone() });
        }
        let (tx, rx) = watch::channel(None);
        map.insert(key.clone(), rx);
        Join::Leader(Leader {
            map: Arc::clone(&self.map),
            key: key.clone(),
            tx,
        })
    }

    /// Whether a load of `key` is running (refresh-ahead uses it to avoid a second one).
    pub(crate) fn in_flight(&self, key: &Key) -> bool {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(key)
    }
}

impl<V> Leader<V> {
    /// Hands the outcome to every waiter, present and arriving, while the leader goes on
    /// (storing the value); the flight ends when the leader is dropped.
    pub(crate) fn publish(&self, outcome: Outcome<V>) {
        // `send_replace` stores the value even when no waiter is subscribed yet.
        self.tx.send_replace(Some(outcome));
    }
}

impl<V> Drop for Leader<V> {
    fn drop(&mut self) {
        // Free the key first; the channel closes right after (when `tx` drops), so a waiter
        // that joins again on the close never finds this flight.
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

impl<V: Clone> Waiter<V> {
    /// The leader's outcome, as soon as it is published; `None` when the leader ended without
    /// one (cancelled or panicked) and the caller should join again.
    pub(crate) async fn outcome(&mut self) -> Option<Outcome<V>> {
        loop {
            if let Some(o) = self.rx.borrow_and_update().as_ref() {
                return Some(o.clone());
            }
            if self.rx.changed().await.is_err() {
                return self.rx.borrow().clone();
            }
        }
    }

    /// Waits until the flight has ended (the leader was dropped), before joining again.
    pub(crate) async fn ended(mut self) {
        while self.rx.changed().await.is_ok() {}
    }
}
