//! Confirmed announcements: an invalidation returns once every instance subscribed to the
//! bus has applied it (or a timeout passed), so a read on another instance after the write
//! returned never sees the old value from its L1.
//!
//! The announcement is published wrapped in [`Op::Confirm`](crate::bus::Op::Confirm) with a
//! sequence number of the publisher. `PUBLISH` answers how many subscribers it reached (the
//! publisher's own subscriber among them); each of them confirms once it has applied the
//! operation: another instance by publishing the sequence number on the publisher's own
//! channel `<namespace>%:ack:<publisher id as 16 hex digits>`, the publisher's own subscriber
//! in process. The publisher waits for as many confirmations as `PUBLISH` counted, at most
//! [`BackendBuilder::bus_confirm_timeout`](crate::BackendBuilder::bus_confirm_timeout).

// Without feature `redis` there is no bus: nothing is confirmed.
#![cfg_attr(not(feature = "redis"), allow(dead_code))]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::oneshot;

/// What the subscribers of the bus confirmed of some announcements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Confirmed {
    /// Deliveries `PUBLISH` counted (this instance's subscriber included when subscribed).
    pub(crate) reached: u64,
    /// Of those, the ones confirmed applied before the wait ended.
    pub(crate) confirmed: u64,
}

impl Confirmed {
    pub(crate) fn add(&mut self, other: Self) {
        self.reached += other.reached;
        self.confirmed += other.confirmed;
    }
}

/// One announcement waiting for its confirmations.
#[derive(Debug)]
struct Waiting {
    heard: u64,
    /// `PUBLISH`'s count, once its reply is in (a confirmation may arrive before it).
    expected: Option<u64>,
    done: Option<oneshot::Sender<()>>,
}

impl Waiting {
    fn settle(&mut self) {
        if self.expected.is_some_and(|e| self.heard >= e)
            && let Some(done) = self.done.take()
        {
            let _ = done.send(());
        }
    }
}

/// The announcements of one backend waiting for confirmations, by sequence number.
#[derive(Debug, Default)]
pub(crate) struct Confirmations {
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, Waiting>>,
}

impl Confirmations {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<u64, Waiting>) -> R) -> R {
        f(&mut self.waiting.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A new sequence number, registered before it is published (so that no confirmation
    /// is lost), and the receiver completed once every delivery is confirmed.
    pub(crate) fn register(&self) -> (u64, oneshot::Receiver<()>) {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.with(|w| {
            w.insert(
                seq,
                Waiting {
                    heard: 0,
                    expected: None,
                    done: Some(tx),
                },
            )
        });
        (seq, rx)
    }

    /// `PUBLISH` reached `n` subscribers.
    pub(crate) fn expect(&self, seq: u64, n: u64) {
        self.with(|w| {
            if let Some(entry) = w.get_mut(&seq) {
                entry.expected = Some(n);
                entry.settle();
            }
        });
    }

    /// One subscriber confirmed `seq` (ignored once the wait ended).
    pub(crate) fn heard(&self, seq: u64) {
        self.with(|w| {
            if let Some(entry) = w.get_mut(&seq) {
                entry.heard += 1;
                entry.settle();
            }
        });
    }

    /// How many announcements are waiting.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.with(|w| w.len())
    }

    /// Ends the wait for `seq`: what was counted and confirmed.
    pub(crate) fn finish(&self, seq: u64) -> Confirmed {
        self.with(|w| w.remove(&seq))
            .map_or_else(Confirmed::default, |e| {
                let reached = e.expected.unwrap_or(0);
                Confirmed {
                    reached,
                    confirmed: e.heard.min(reached),
                }
            })
    }
}

/// The sequence numbers one write registered: whatever of them is still waiting when this is
/// dropped is forgotten, so a caller that gives up on the write mid-wait (a cancelled
/// request) leaves nothing behind in [`Confirmations`].
pub(crate) struct Registered<'a> {
    confirmations: &'a Confirmations,
    seqs: Vec<u64>,
}

impl<'a> Registered<'a> {
    pub(crate) fn new(confirmations: &'a Confirmations) -> Self {
        Self {
            confirmations,
            seqs: Vec::new(),
        }
    }

    /// Registers a new sequence number (see [`Confirmations::register`]).
    pub(crate) fn register(&mut self) -> (u64, oneshot::Receiver<()>) {
        let (seq, rx) = self.confirmations.register();
        self.seqs.push(seq);
        (seq, rx)
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        for &seq in &self.seqs {
            self.confirmations.finish(seq);
        }
    }
}

/// The payload of a confirmation: the sequence number, 8 bytes little-endian.
pub(crate) fn encode_ack(seq: u64) -> [u8; 8] {
    seq.to_le_bytes()
}

/// The sequence number of a confirmation; `None` for anything else.
pub(crate) fn decode_ack(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn completes_when_every_counted_delivery_is_confirmed_in_any_order() {
        let c = Confirmations::default();
        let (seq, mut rx) = c.register();
        // A confirmation before PUBLISH's reply is kept.
        c.heard(seq);
        assert!(rx.try_recv().is_err());
        c.expect(seq, 2);
        assert!(rx.try_recv().is_err());
        c.heard(seq);
        assert!(rx.try_recv().is_ok());
        assert_eq!(
            c.finish(seq),
            Confirmed {
                reached: 2,
                confirmed: 2
            }
        );
        // Late confirmations and unknown numbers change nothing.
        c.heard(seq);
        c.heard(999);
        assert_eq!(c.finish(seq), Confirmed::default());
    }

    #[tokio::test]
    async fn a_missing_confirmation_is_reported() {
        let c = Confirmations::default();
        let (a, _rx_a) = c.register();
        let (b, mut rx_b) = c.register();
        assert_ne!(a, b);
        c.expect(a, 3);
        c.heard(a);
        c.expect(b, 0);
        assert!(rx_b.try_recv().is_ok(), "nobody to wait for");
        assert_eq!(
            c.finish(a),
            Confirmed {
                reached: 3,
                confirmed: 1
            }
        );
    }

    #[test]
    fn a_write_given_up_mid_wait_leaves_nothing_waiting() {
        let c = Confirmations::default();
        let mut registered = Registered::new(&c);
        let (a, _) = registered.register();
        let _ = registered.register();
        c.expect(a, 2);
        assert_eq!(c.len(), 2);
        drop(registered);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn acks_round_trip_and_other_bytes_are_refused() {
        assert_eq!(decode_ack(&encode_ack(u64::MAX - 3)), Some(u64::MAX - 3));
        assert_eq!(decode_ack(b"short"), None);
        assert_eq!(decode_ack(&[0; 9]), None);
    }
}
