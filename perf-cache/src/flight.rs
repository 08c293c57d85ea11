//! Single-flight: concurrent loads of one key share one loader run, whatever API they came
//! through (`get_or_load`, `try_get_or_load`, `get_or_load_optional`).
//!
//! The first caller of a cold key becomes the *leader* and holds a [`Leader`] guard; later
//! callers hold a [`Waiter`] on the flight (an outcome slot behind a mutex and a `Notify`). The leader **publishes** its outcome as soon
//! as the loader returns, before it writes the value to the tiers, and keeps the key in the map
//! until it is done: a caller arriving while the leader still writes to Redis or disk joins as a
//! waiter and gets the published outcome at once, instead of missing L1 and loading again.
//!
//! Dropping the leader ends the flight: it removes the key, then marks the flight ended. A waiter
//! that cannot use the published outcome (a "not found" when it needs a value, or an error of
//! another type) waits for that end and joins again, so callers of different APIs still share
//! one flight per key at a time rather than each running its own loader. If the leader is
//! cancelled or its loader panics, the flight ends without an outcome: waiters join again and
//! one becomes the new leader, so a key is never wedged.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::Key;

/// What a finished load produced, shared with every waiter.
#[derive(Clone)]
pub(crate) enum Outcome<V> {
    /// The value, or `None` for "not found".
    Value(Option<V>),
    /// The loader's error, type-erased so that callers with the same error type can share it.
    Error(Arc<dyn Any + Send + Sync>),
}

/// The flights in progress, by key. foldhash (seeded per map, as L1 and the fence use it):
/// every miss hashes its key here twice (join and end), and SipHash was a visible part of a
/// miss.
type Map<V> = Arc<Mutex<HashMap<Key, Arc<Flight<V>>, foldhash::fast::RandomState>>>;

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

/// One load in progress: its outcome once published, whether it ended, and the waiters'
/// wake-up. One allocation per flight; a flight nobody waits on never touches `changed`.
struct Flight<V> {
    state: Mutex<State<V>>,
    changed: Notify,
}

struct State<V> {
    outcome: Option<Outcome<V>>,
    /// The leader is gone (the key is no longer in the map).
    ended: bool,
    /// A waiter registered on `changed` before it found nothing to take: the leader must wake
    /// it. Set under the lock the leader takes to publish or end, so no wake-up is missed.
    parked: bool,
}

impl<V> Flight<V> {
    fn new() -> Self {
        Self {
            state: Mutex::new(State {
                outcome: None,
                ended: false,
                parked: false,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<V>> {
        // Nothing panics while the state is held: a poisoned lock still holds a valid state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the state and wakes the parked waiters, if any.
    fn update(&self, change: impl FnOnce(&mut State<V>)) {
        let wake = {
            let mut state = self.lock();
            change(&mut state);
            state.parked
        };
        if wake {
            self.changed.notify_waiters();
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
    flight: Arc<Flight<V>>,
}

/// Held by a caller waiting for the leader.
pub(crate) struct Waiter<V> {
    flight: Arc<Flight<V>>,
}

impl<V> Flights<V> {
    fn map(&self) -> MutexGuard<'_, HashMap<Key, Arc<Flight<V>>, foldhash::fast::RandomState>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<V: Clone> Flights<V> {
    pub(crate) fn join(&self, key: &Key) -> Join<V> {
        let mut map = self.map();
        if let Some(flight) = map.get(key) {
            return Join::Waiter(Waiter {
                flight: Arc::clone(flight),
            });
        }
        let flight = Arc::new(Flight::new());
        map.insert(key.clone(), Arc::clone(&flight));
        Join::Leader(Leader {
            map: Arc::clone(&self.map),
            key: key.clone(),
            flight,
        })
    }

    /// Whether a load of `key` is running (refresh-ahead uses it to avoid a second one).
    pub(crate) fn in_flight(&self, key: &Key) -> bool {
        self.map().contains_key(key)
    }
}

impl<V> Leader<V> {
    /// Hands the outcome to every waiter, present and arriving, while the leader goes on
    /// (storing the value); the flight ends when the leader is dropped.
    pub(crate) fn publish(&self, outcome: Outcome<V>) {
        self.flight.update(|s| s.outcome = Some(outcome));
    }
}

impl<V> Drop for Leader<V> {
    fn drop(&mut self) {
        // Free the key first, then end the flight, so a waiter that joins again on the end
        // never finds this flight.
        {
            let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
            if map
                .get(&self.key)
                .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
            {
                map.remove(&self.key);
            }
        }
        self.flight.update(|s| s.ended = true);
    }
}

impl<V: Clone> Waiter<V> {
    /// The leader's outcome, as soon as it is published; `None` when the leader ended without
    /// one (cancelled or panicked) and the caller should join again.
    pub(crate) async fn outcome(&mut self) -> Option<Outcome<V>> {
        self.wait(|s| match &s.outcome {
            Some(o) => Some(Some(o.clone())),
            None if s.ended => Some(None),
            None => None,
        })
        .await
    }

    /// Waits until the flight has ended (the leader was dropped), before joining again.
    pub(crate) async fn ended(self) {
        self.wait(|s| s.ended.then_some(())).await;
    }

    /// Waits until `ready` finds what it needs in the state.
    async fn wait<R>(&self, mut ready: impl FnMut(&State<V>) -> Option<R>) -> R {
        loop {
            let notified = self.flight.changed.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the state is read: a change after the read wakes this waiter.
            notified.as_mut().enable();
            {
                let mut state = self.flight.lock();
                if let Some(r) = ready(&state) {
                    return r;
                }
                state.parked = true;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_gets_the_published_outcome_and_then_the_end() {
        let flights = Flights::<u64>::default();
        let key = Key::new(1_u64);
        let Join::Leader(leader) = flights.join(&key) else {
            panic!("the first caller leads")
        };
        let Join::Waiter(mut early) = flights.join(&key) else {
            panic!("the second caller waits")
        };
        let waiting = tokio::spawn(async move {
            let got = early.outcome().await;
            early.ended().await;
            got
        });
        tokio::task::yield_now().await;
        leader.publish(Outcome::Value(Some(7)));
        // A caller arriving after the outcome but before the end still joins this flight.
        let Join::Waiter(mut late) = flights.join(&key) else {
            panic!("the flight has not ended")
        };
        assert!(matches!(
            late.outcome().await,
            Some(Outcome::Value(Some(7)))
        ));
        assert!(flights.in_flight(&key));
        drop(leader);
        assert!(!flights.in_flight(&key));
        assert!(matches!(
            waiting.await.unwrap(),
            Some(Outcome::Value(Some(7)))
        ));
        late.ended().await;
        assert!(
            matches!(flights.join(&key), Join::Leader(_)),
            "a new flight"
        );
    }

    #[tokio::test]
    async fn a_leader_gone_without_an_outcome_releases_its_waiters() {
        let flights = Flights::<u64>::default();
        let key = Key::new(2_u64);
        let Join::Leader(leader) = flights.join(&key) else {
            panic!("the first caller leads")
        };
        let Join::Waiter(mut waiter) = flights.join(&key) else {
            panic!("the second caller waits")
        };
        let waiting = tokio::spawn(async move { waiter.outcome().await.is_none() });
        tokio::task::yield_now().await;
        drop(leader);
        assert!(waiting.await.unwrap(), "no outcome: join again");
        assert!(!flights.in_flight(&key));
    }
}
