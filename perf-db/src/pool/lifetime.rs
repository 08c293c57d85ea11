//! Connection lifetimes with jitter.
//!
//! Connections opened together (a burst, a restart, `min_connections` at start-up) would all
//! reach `max_lifetime` together and be replaced together: a reconnect storm on the database and
//! a latency spike on the callers. Like HikariCP (which subtracts up to 2.5 % of `maxLifetime`
//! per connection), each connection gets its own lifetime, drawn uniformly from
//! `max_lifetime - 2.5 % ..= max_lifetime`: never longer than configured.
//!
//! sqlx gives its hooks a connection's age but no identity, so the lifetimes are kept by
//! creation instant: the instant our `after_connect` hook finished, which precedes sqlx's own
//! `created_at` by the rest of that poll (microseconds). A connection is matched to the latest
//! registration at or before `now - age`. Two connections whose openings interleave within those
//! microseconds may swap lifetimes; both stay within the bounds. A connection whose entry is gone
//! gets the shortest lifetime of the range.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The share of `max_lifetime` a connection's lifetime may be shortened by: 1/40 = 2.5 %.
const JITTER_DIVISOR: u32 = 40;

/// How far apart our registration and sqlx's `created_at` may be for them to match.
const MATCH_TOLERANCE: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(crate) struct Lifetimes {
    max: Duration,
    min: Duration,
    /// Registration instant of each live connection -> its lifetime.
    opened: Mutex<BTreeMap<Instant, Duration>>,
    random: RandomState,
    draws: AtomicU64,
}

impl Lifetimes {
    pub(crate) fn new(max_lifetime: Duration) -> Self {
        Self {
            max: max_lifetime,
            min: max_lifetime - max_lifetime / JITTER_DIVISOR,
            opened: Mutex::new(BTreeMap::new()),
            random: RandomState::new(),
            draws: AtomicU64::new(0),
        }
    }

    /// A lifetime drawn uniformly from `min..=max`.
    fn draw(&self) -> Duration {
        let bits = self
            .random
            .hash_one(self.draws.fetch_add(1, Ordering::Relaxed));
        let spread = (self.max - self.min).as_nanos();
        let offset = (spread * u128::from(bits)) >> 64; // < spread, fits in u64
        self.max - Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX))
    }

    /// Registers a connection opened at `at` (now, from `after_connect`); returns its lifetime.
    pub(crate) fn register(&self, at: Instant) -> Duration {
        let lifetime = self.draw();
        let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        // Entries past `max` are useless (every connection that old is expired anyway): this
        // bounds the map by the connections opened within one lifetime.
        if let Some(oldest_kept) = at.checked_sub(self.max) {
            opened.retain(|&opened_at, _| opened_at >= oldest_kept);
        }
        opened.insert(at, lifetime);
        lifetime
    }

    /// The lifetime of the connection registered at or just before `created`.
    pub(crate) fn lifetime_of(&self, created: Instant) -> Duration {
        let opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        opened
            .range(created.checked_sub(MATCH_TOLERANCE).unwrap_or(created)..=created)
            .next_back()
            .map_or(self.min, |(_, lifetime)| *lifetime)
    }

    /// Whether a connection of age `age` has reached its lifetime at `now`.
    pub(crate) fn expired_at(&self, now: Instant, age: Duration) -> bool {
        if age < self.min {
            return false; // the common case: no lock
        }
        if age >= self.max {
            return true;
        }
        now.checked_sub(age)
            .is_none_or(|created| age >= self.lifetime_of(created))
    }

    /// Whether a connection of age `age` has reached its lifetime now.
    pub(crate) fn expired(&self, age: Duration) -> bool {
        self.expired_at(Instant::now(), age)
    }

    /// Forgets the connection of age `age` (it was closed).
    pub(crate) fn forget(&self, age: Duration) {
        let Some(created) = Instant::now().checked_sub(age) else {
            return;
        };
        let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        let found = opened
            .range(created.checked_sub(MATCH_TOLERANCE).unwrap_or(created)..=created)
            .next_back()
            .map(|(at, _)| *at);
        if let Some(at) = found {
            opened.remove(&at);
        }
    }

    /// Whether some registered connection has reached its lifetime at `now` (it may be idle:
    /// the maintenance task then retires it).
    pub(crate) fn any_due(&self, now: Instant) -> bool {
        let opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        opened.iter().any(|(at, lifetime)| *at + *lifetime <= now)
    }

    /// Forgets every connection that has reached its lifetime at `now` (after the maintenance
    /// task retired the idle ones; those in use are retired when they come back, by age).
    pub(crate) fn forget_due(&self, now: Instant) {
        let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        opened.retain(|at, lifetime| *at + *lifetime > now);
    }

    /// The lifetime range, for the docs and tests: `(min, max)`.
    #[cfg(test)]
    fn bounds(&self) -> (Duration, Duration) {
        (self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_opened_together_get_different_lifetimes_within_two_and_a_half_percent() {
        let max = Duration::from_secs(30 * 60);
        let lifetimes = Lifetimes::new(max);
        let (min, upper) = lifetimes.bounds();
        assert_eq!(upper, max);
        assert_eq!(min, Duration::from_secs(30 * 60 - 45)); // 2.5 % of 30 min = 45 s
        let start = Instant::now();
        let drawn: Vec<Duration> = (0..20)
            .map(|i| lifetimes.register(start + Duration::from_micros(i * 500)))
            .collect();
        for lifetime in &drawn {
            assert!(min <= *lifetime && *lifetime <= max, "{lifetime:?}");
        }
        let distinct: std::collections::BTreeSet<_> = drawn.iter().collect();
        assert_eq!(distinct.len(), 20, "{drawn:?}");
        // each connection is matched to its own lifetime, also when sqlx's clock read came a
        // little later than ours
        for (i, lifetime) in drawn.iter().enumerate() {
            let created = start + Duration::from_micros(i as u64 * 500 + 20);
            assert_eq!(lifetimes.lifetime_of(created), *lifetime);
            let before = created + *lifetime - Duration::from_nanos(1);
            let age = before - created;
            assert!(!lifetimes.expired_at(before, age));
            let at = created + *lifetime;
            assert!(lifetimes.expired_at(at, at - created));
        }
        assert!(!lifetimes.any_due(start + min - Duration::from_nanos(1)));
        assert!(lifetimes.any_due(start + max + Duration::from_millis(10)));
        lifetimes.forget_due(start + max + Duration::from_millis(10));
        assert!(!lifetimes.any_due(start + max * 2));
        // an unknown connection gets the shortest lifetime
        assert_eq!(lifetimes.lifetime_of(start), min);
    }
}
