//! The in-process mode of [`SessionStore`](crate::SessionStore): sessions in a bounded map of
//! this process, for a single instance that has no Redis (an embedded demo, a test).
//!
//! The API is the store's own (`get`, `set`, `delete`); the TTL and sliding expiry behave as
//! with Redis (an expired session reads as absent, a sliding read restarts its TTL). The map
//! holds at most `max_sessions` sessions: a `set` of a new id into a full map first drops the
//! expired ones, then, if it is still full, the one closest to expiry. Values are stored
//! JSON-encoded (as in Redis), so a caller never shares a session with the store. Nothing
//! survives the process, and other instances see none of it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::{Error, Result};

/// One stored session: its JSON bytes and when it expires.
struct Entry {
    json: Vec<u8>,
    expires: Instant,
}

/// The map behind an in-process [`SessionStore`](crate::SessionStore).
pub(crate) struct MemorySessions {
    entries: Mutex<HashMap<String, Entry>>,
    max_sessions: usize,
}

impl std::fmt::Debug for MemorySessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySessions")
            .field("len", &self.len())
            .field("max_sessions", &self.max_sessions)
            .finish()
    }
}

/// Largest accepted `max_sessions`.
pub(crate) const MAX_SESSIONS_LIMIT: usize = 10_000_000;

impl MemorySessions {
    pub(crate) fn new(max_sessions: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            max_sessions,
        }
    }

    /// Sessions stored (expired ones not yet dropped included).
    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The session's JSON, `None` when absent or expired; a sliding read restarts its TTL.
    pub(crate) fn get(&self, id: &str, ttl: Duration, sliding: bool) -> Option<Vec<u8>> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get_mut(id)?;
        if entry.expires <= now {
            entries.remove(id);
            return None;
        }
        if sliding {
            entry.expires = now + ttl;
        }
        Some(entry.json.clone())
    }

    /// Stores `json` under `id` for `ttl`, making room as the module docs say.
    pub(crate) fn set(&self, id: &str, json: Vec<u8>, ttl: Duration) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if !entries.contains_key(id) && entries.len() >= self.max_sessions {
            entries.retain(|_, e| e.expires > now);
            if entries.len() >= self.max_sessions
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            id.to_owned(),
            Entry {
                json,
                expires: now + ttl,
            },
        );
    }

    pub(crate) fn delete(&self, id: &str) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
}

/// JSON bytes of `session`, at most `max` bytes.
pub(crate) fn encode<S: Serialize>(session: &S, max: usize) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(session).map_err(|e| Error::Encode {
        codec: "json",
        message: e.to_string(),
    })?;
    if json.len() > max {
        return Err(Error::ValueTooLarge {
            size: json.len(),
            max,
        });
    }
    Ok(json)
}

/// The session in `json`, or the reason it cannot be read.
pub(crate) fn decode<S: DeserializeOwned>(json: &[u8]) -> std::result::Result<S, String> {
    serde_json::from_slice(json).map_err(|e| format!("json: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn expires_after_its_ttl_and_a_sliding_read_restarts_it() {
        let store = MemorySessions::new(10);
        let ttl = Duration::from_secs(10);
        store.set("fixed", b"1".to_vec(), ttl);
        store.set("sliding", b"2".to_vec(), ttl);
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(store.get("fixed", ttl, false), Some(b"1".to_vec()));
        assert_eq!(store.get("sliding", ttl, true), Some(b"2".to_vec()));
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(store.get("fixed", ttl, false), None, "12 s > 10 s TTL");
        assert_eq!(
            store.get("sliding", ttl, true),
            Some(b"2".to_vec()),
            "read at 6 s moved its expiry to 16 s"
        );
        assert_eq!(store.len(), 1, "the expired session was dropped on read");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_store_drops_expired_sessions_then_the_one_closest_to_expiry() {
        let store = MemorySessions::new(3);
        store.set("a", b"a".to_vec(), Duration::from_secs(5));
        store.set("b", b"b".to_vec(), Duration::from_secs(100));
        store.set("c", b"c".to_vec(), Duration::from_secs(50));
        // Overwriting an existing id never evicts.
        store.set("b", b"B".to_vec(), Duration::from_secs(100));
        assert_eq!(store.len(), 3);
        // Full: "a" expires first.
        store.set("d", b"d".to_vec(), Duration::from_secs(100));
        assert_eq!(store.len(), 3);
        assert_eq!(store.get("a", Duration::from_secs(5), false), None);
        assert_eq!(
            store.get("c", Duration::from_secs(5), false),
            Some(b"c".to_vec())
        );
        tokio::time::advance(Duration::from_secs(60)).await;
        // "c" has expired: it goes, and nothing live does.
        store.set("e", b"e".to_vec(), Duration::from_secs(100));
        for id in ["b", "d", "e"] {
            assert!(
                store.get(id, Duration::from_secs(1), false).is_some(),
                "{id}"
            );
        }
        assert_eq!(store.len(), 3);
    }

    #[test]
    fn delete_removes_and_oversized_values_are_refused() {
        let store = MemorySessions::new(2);
        store.set("x", b"1".to_vec(), Duration::from_secs(60));
        store.delete("x");
        assert_eq!(store.len(), 0);
        assert!(matches!(
            encode(&"y".repeat(100), 10),
            Err(Error::ValueTooLarge { max: 10, .. })
        ));
        assert_eq!(decode::<u8>(b"7"), Ok(7));
        assert!(decode::<u8>(b"\"x\"").is_err());
    }
}
