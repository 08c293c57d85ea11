//! Single-flight for plain (non-`async`) `#[cached]` functions: the first caller of a cold key
//! runs the body on its own thread; concurrent callers of that key wait on a `std` condition
//! variable for its outcome. Nothing async is involved, so no tokio worker ever waits on I/O
//! here: a waiter blocks its thread exactly as long as the body it would otherwise have run
//! itself.
//!
//! The same rules as the async [`flight`](crate::flight) module: the leader publishes its
//! outcome as soon as the body returns; dropping the leader (normally, or by a panic in the
//! body) ends the flight, and waiters that got no usable outcome join again, so a key is never
//! wedged.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use crate::Key;
use crate::flight::Outcome;

type Map<V> = Mutex<HashMap<Key, Arc<Slot<V>>>>;

/// One flight: its state and the condition variable its waiters sleep on.
struct Slot<V> {
    /// `None` while the leader runs; `Some(outcome)` once it published or ended (`None`
    /// inside: ended without an outcome).
    state: Mutex<Option<Option<Outcome<V>>>>,
    done: Condvar,
}

/// The flights of one local view, keyed by cache key.
pub(crate) struct SyncFlights<V> {
    map: Map<V>,
}

impl<V> Default for SyncFlights<V> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

pub(crate) enum SyncJoin<'a, V> {
    Leader(SyncLeader<'a, V>),
    Waiter(SyncWaiter<V>),
}

/// Held by the one caller running the body; dropping it ends the flight.
pub(crate) struct SyncLeader<'a, V> {
    map: &'a Map<V>,
    key: Key,
    slot: Arc<Slot<V>>,
}

/// Held by a caller waiting for the leader.
pub(crate) struct SyncWaiter<V> {
    slot: Arc<Slot<V>>,
}

impl<V: Clone> SyncFlights<V> {
    pub(crate) fn join(&self, key: &Key) -> SyncJoin<'_, V> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = map.get(key) {
            return SyncJoin::Waiter(SyncWaiter {
                slot: Arc::clone(slot),
            });
        }
        let slot = Arc::new(Slot {
            state: Mutex::new(None),
            done: Condvar::new(),
        });
        map.insert(key.clone(), Arc::clone(&slot));
        SyncJoin::Leader(SyncLeader {
            map: &self.map,
            key: key.clone(),
            slot,
        })
    }
}

impl<V> SyncLeader<'_, V> {
    /// Hands the outcome to every waiter, present and arriving, while the leader stores it.
    pub(crate) fn publish(&self, outcome: Outcome<V>) {
        let mut state = self
            .slot
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *state = Some(Some(outcome));
        self.slot.done.notify_all();
    }
}

impl<V> Drop for SyncLeader<'_, V> {
    fn drop(&mut self) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
        let mut state = self
            .slot
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if state.is_none() {
            // Ended without an outcome (a panic in the body): waiters join again.
            *state = Some(None);
        }
        self.slot.done.notify_all();
    }
}

impl<V: Clone> SyncWaiter<V> {
    /// Blocks until the leader published (its outcome) or ended without one (`None`: join
    /// again).
    pub(crate) fn outcome(self) -> Option<Outcome<V>> {
        let mut state = self
            .slot
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(done) = state.as_ref() {
                return done.clone();
            }
            state = self
                .slot
                .done
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}
