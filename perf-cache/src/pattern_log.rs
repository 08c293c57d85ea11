//! The recent patterns of one backend, so that a pattern invalidation turns away only the
//! fills in flight whose key it matches (not every fill of the backend).
//!
//! Each pattern invalidation (local, or another instance's received on the bus) raises the
//! fence's *pattern epoch* and logs its compiled globs under the new epoch, with the key-space
//! heads (`<namespace>:<prefix>:`) of the views that existed then. A fill whose ticket predates
//! some logged patterns is turned away only if its stored key matches one of them. The log
//! holds the last [`CAPACITY`] patterns; a ticket older than the oldest one kept cannot be
//! checked and is turned away (as every fill was before the log existed). A view built after a
//! pattern has no ticket older than it, so the heads recorded with the pattern are enough.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::Key;
use crate::glob::Glob;

/// Patterns kept: enough for bursts of invalidations while a slow load runs.
pub(crate) const CAPACITY: usize = 64;

/// One logged pattern invalidation.
#[derive(Debug)]
struct Logged {
    /// The pattern epoch it raised the fence to.
    epoch: u64,
    globs: Arc<[Glob]>,
    /// Key-space heads by space id, when it ran.
    heads: Arc<[Vec<u8>]>,
}

/// The log; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct PatternLog {
    entries: VecDeque<Logged>,
    /// The newest epoch dropped from the log (0: none): tickets older than it are unchecked.
    lost: u64,
}

impl PatternLog {
    /// Logs the patterns of the invalidation that raised the epoch to `epoch`.
    pub(crate) fn push(&mut self, epoch: u64, globs: Arc<[Glob]>, heads: Arc<[Vec<u8>]>) {
        if self.entries.len() == CAPACITY
            && let Some(old) = self.entries.pop_front()
        {
            self.lost = self.lost.max(old.epoch);
        }
        self.entries.push_back(Logged {
            epoch,
            globs,
            heads,
        });
    }

    /// Whether a fill of `key` in key space `space`, whose ticket saw pattern epoch `seen`,
    /// may still store: no pattern logged since matches its stored key, and none was lost.
    pub(crate) fn admits(&self, seen: u64, space: u32, key: &Key) -> bool {
        if seen < self.lost {
            return false;
        }
        let since = self.entries.iter().filter(|e| e.epoch > seen);
        for logged in since {
            // A raw key is stored as written, without the view's head.
            let head: &[u8] = if key.is_raw() {
                &[]
            } else {
                match usize::try_from(space)
                    .ok()
                    .and_then(|i| logged.heads.get(i))
                {
                    Some(head) => head,
                    // A space unknown to the pattern: cannot tell, so not admitted.
                    None => return false,
                }
            };
            if logged
                .globs
                .iter()
                .any(|g| g.is_match_split(head, key.as_bytes()))
            {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globs(p: &[u8]) -> Arc<[Glob]> {
        Arc::from(vec![Glob::new(p)])
    }

    #[test]
    fn only_matching_keys_after_the_ticket_are_turned_away() {
        let heads: Arc<[Vec<u8>]> = Arc::from(vec![b"ns:v:".to_vec()]);
        let mut log = PatternLog::default();
        log.push(1, globs(b"ns:v:1:*"), Arc::clone(&heads));
        let (matching, other) = (Key::new(1_u64).arg("x"), Key::new(2_u64).arg("x"));
        assert!(!log.admits(0, 0, &matching));
        assert!(log.admits(0, 0, &other));
        assert!(
            log.admits(1, 0, &matching),
            "a ticket taken after the pattern"
        );
        assert!(
            !log.admits(0, 7, &other),
            "a space the pattern did not know"
        );
    }

    #[test]
    fn an_overflowed_log_turns_away_older_tickets() {
        let heads: Arc<[Vec<u8>]> = Arc::from(vec![b"ns:v:".to_vec()]);
        let mut log = PatternLog::default();
        for epoch in 1..=u64::try_from(CAPACITY).unwrap() + 1 {
            log.push(epoch, globs(b"ns:none"), Arc::clone(&heads));
        }
        let key = Key::new(2_u64);
        assert!(!log.admits(0, 0, &key), "the first pattern was dropped");
        assert!(log.admits(1, 0, &key));
    }
}
