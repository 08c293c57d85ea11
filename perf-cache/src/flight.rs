//! Single-flight: concurrent loads of one key share one loader run.
//!
//! The first caller of a cold key becomes the *leader* and holds a [`Leader`] guard; later
//! callers wait on a `watch` channel. When the leader finishes it removes the key from the map
//! and publishes the outcome. If the leader's future is dropped (cancelled) or its loader panics,
//! the guard's `Drop` removes the key and closes the channel: waiters wake, see no outcome, and
//! race again — one becomes the new leader — so a key is never wedged.

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
    Waiter(watch::Receiver<Option<Outcome<V>>>),
}

/// Held by the one caller running the load.
pub(crate) struct Leader<V> {
    map: Map<V>,
    key: Key,
    tx: Option<watch::Sender<Option<Outcome<V>>>>,
}

impl<V: Clone> Flights<V> {
    pub(crate) fn join(&self, key: &Key) -> Join<V> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(rx) = map.get(key) {
            return Join::Waiter(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        map.insert(key.clone(), rx);
        Join::Leader(Leader {
            map: Arc::clone(&self.map),
            key: key.clone(),
            tx: Some(tx),
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
    /// Publishes the outcome to every waiter. Call after the value is in L1, so that a caller
    /// arriving after the key left the map finds it there.
    pub(crate) fn finish(mut self, outcome: Outcome<V>) {
        self.remove();
        if let Some(tx) = self.tx.take() {
            // No receivers is fine: nobody waited.
            let _ = tx.send(Some(outcome));
        }
    }

    fn remove(&self) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

impl<V> Drop for Leader<V> {
    fn drop(&mut self) {
        if self.tx.is_some() {
            // Cancelled or panicked: free the key; dropping `tx` wakes the waiters empty-handed.
            self.remove();
        }
    }
}

/// Waits for the leader; `None` means it was cancelled or panicked and the caller should retry.
pub(crate) async fn wait<V: Clone>(
    mut rx: watch::Receiver<Option<Outcome<V>>>,
) -> Option<Outcome<V>> {
    loop {
        if let Some(o) = rx.borrow_and_update().as_ref() {
            return Some(o.clone());
        }
        if rx.changed().await.is_err() {
            return rx.borrow().clone();
        }
    }
}
