//! Plain mode ([`StorageFormat::Plain`](crate::StorageFormat::Plain)): values in Redis are the
//! codec's bytes alone, with Redis's own TTL; L3 is skipped. See the crate docs, "Plain mode".

use std::time::Duration;
#[cfg(feature = "redis")]
use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Cache, Lower};
use crate::fence::Ticket;
use crate::{Codec, Key, Result};

#[cfg(feature = "redis")]
use crate::tiers::redis::PlainRead;
#[cfg(feature = "redis")]
use crate::tiers::{TierError, TierResult};

impl<V, C> Cache<V, C>
where
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    C: Codec,
{
    /// The codec's bytes of `value`, size-checked: what a plain view stores in Redis.
    fn encode_plain(&self, value: &V) -> Result<Vec<u8>> {
        let inner = &*self.inner;
        let mut out = Vec::new();
        inner
            .codec
            .encode(value, &mut out)
            .map_err(|e| crate::Error::Encode {
                codec: C::NAME,
                message: e.0,
            })?;
        if out.len() > inner.max_value_size {
            return Err(crate::Error::ValueTooLarge {
                size: out.len(),
                max: inner.max_value_size,
            });
        }
        Ok(out)
    }

    /// `set`/loads of a plain view: L1 for `min(ttl, l1_ttl)`, then `SET key bytes PX ttl`.
    pub(super) async fn store_plain(
        &self,
        key: &Key,
        value: V,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let inner = &*self.inner;
        let encoded = if inner.shared.l2.is_some() || inner.always_encode {
            Some(self.encode_plain(&value)?)
        } else {
            None
        };
        let weight = encoded.as_ref().map_or(1, |b| inner.weight(key, b.len()));
        let l1_ttl = ttl.map_or(inner.l1_ttl, |t| t.min(inner.l1_ttl));
        self.insert_l1(key, Some(value), l1_ttl, weight);
        if let (Some(l2), Some(bytes)) = (&inner.shared.l2, encoded) {
            let full = crate::key::full_key(&inner.namespace, key);
            if let Err(e) = l2
                .store_plain(&full, &bytes, ttl.unwrap_or(inner.l2_ttl))
                .await
            {
                self.tier_error(l2, &inner.counters.l2, "set", key.prefix(), e);
            }
        }
        Ok(())
    }

    /// `set_many` of a plain view: every value encoded first, then L1, then one pipeline of
    /// `SET key bytes PX ttl`.
    pub(super) async fn set_many_plain(
        &self,
        items: impl IntoIterator<Item = (Key, V)>,
    ) -> Result<()> {
        let inner = &*self.inner;
        let encode = inner.shared.l2.is_some() || inner.always_encode;
        let mut encoded = Vec::new();
        for (key, value) in items {
            let bytes = if encode {
                Some(self.encode_plain(&value)?)
            } else {
                None
            };
            encoded.push((key, value, bytes));
        }
        let mut l2_items = Vec::new();
        for (key, value, bytes) in encoded {
            let weight = bytes.as_ref().map_or(1, |b| inner.weight(&key, b.len()));
            self.insert_l1(&key, Some(value), inner.l1_ttl, weight);
            if let Some(bytes) = bytes.filter(|_| inner.shared.l2.is_some()) {
                let full = crate::key::full_key(&inner.namespace, &key);
                l2_items.push((full, bytes, inner.l2_ttl));
            }
        }
        if let Some(l2) = &inner.shared.l2
            && !l2_items.is_empty()
            && let Err(e) = l2.store_many_plain(&l2_items).await
        {
            self.tier_error(l2, &inner.counters.l2, "set_many", "*", e);
        }
        Ok(())
    }

    /// The lower tiers of a plain view: Redis alone (`GET` + `PTTL` in one round trip); a hit
    /// fills L1 for at most the key's remaining time in Redis.
    pub(super) async fn lookup_plain(&self, key: &Key, ticket: &Ticket) -> Lower<V> {
        #[cfg(feature = "redis")]
        {
            let inner = &*self.inner;
            if let Some(l2) = &inner.shared.l2
                && (inner.shared.replay.clear()
                    || inner.shared.replay.l2_readable(&inner.namespace, l2).await)
            {
                let full = crate::key::full_key(&inner.namespace, key);
                let sent = Instant::now();
                let read = l2.fetch_plain(&full).await;
                if let Some((value, remaining, len)) = self.check_plain(key, read, sent) {
                    return self
                        .found(key, Some(value), remaining, len, ticket, None)
                        .await;
                }
            }
        }
        #[cfg(not(feature = "redis"))]
        let _ = (key, ticket);
        Lower::Miss
    }

    /// `get_many` of a plain view: L1 for each key, then one round trip (`MGET` + `PTTL` of
    /// each key) for the keys L1 did not have.
    pub(super) async fn get_many_plain(&self, keys: &[Key]) -> Vec<Option<V>> {
        let inner = &*self.inner;
        // Without Redis there is no lower tier to fill from.
        #[cfg_attr(not(feature = "redis"), allow(unused_mut, unused_variables))]
        let (mut out, mut missing, tickets) = self.l1_pass(keys);
        #[cfg(feature = "redis")]
        if let Some(l2) = &inner.shared.l2
            && !missing.is_empty()
            && (inner.shared.replay.clear()
                || inner.shared.replay.l2_readable(&inner.namespace, l2).await)
        {
            let full: Vec<Vec<u8>> = missing
                .iter()
                .map(|&i| crate::key::full_key(&inner.namespace, &keys[i]))
                .collect();
            let sent = Instant::now();
            match l2.fetch_many_plain(&full).await {
                Ok(reads) => {
                    let mut still = Vec::new();
                    for (i, read) in missing.into_iter().zip(reads) {
                        let key = &keys[i];
                        match self.check_plain(key, Ok(read), sent) {
                            Some((value, remaining, len)) => {
                                // Every missing key has a ticket.
                                let Some(ticket) = &tickets[i] else { continue };
                                if let Lower::Value(v) = self
                                    .found(key, Some(value), remaining, len, ticket, None)
                                    .await
                                {
                                    out[i] = Some(v);
                                }
                            }
                            None => still.push(i),
                        }
                    }
                    missing = still;
                }
                Err(e) => {
                    inner.counters.l2.misses.add(missing.len() as u64);
                    self.tier_error(l2, &inner.counters.l2, "get_many", keys[0].prefix(), e);
                }
            }
        }
        inner.counters.misses.add(missing.len() as u64);
        out
    }

    /// Counts one plain L2 read and turns it into the value and how long L1 may keep it:
    /// Redis's remaining time (`PTTL`) counted from `sent`, when the request left (the reply
    /// arrives a round trip later, so counting from now would let the L1 copy outlive the
    /// Redis key by that long), `l1_ttl` for a key without expiry, a miss for a key that
    /// expired between the two commands. Bytes that do not decode (another service wrote
    /// something else) and error replies (`WRONGTYPE`) are misses and counted L2 errors; the
    /// log line names the codec, never the value.
    #[cfg(feature = "redis")]
    fn check_plain(
        &self,
        key: &Key,
        read: TierResult<PlainRead>,
        sent: Instant,
    ) -> Option<(V, Duration, usize)> {
        let inner = &*self.inner;
        let Some(l2) = &inner.shared.l2 else {
            return None;
        };
        let counters = &inner.counters.l2;
        // A read that is a miss and a counted L2 error.
        let failed = |e: TierError| {
            counters.misses.incr();
            self.tier_error(l2, counters, "get", key.prefix(), e);
        };
        let (bytes, pttl) = match read {
            Ok(PlainRead::Found(bytes, pttl)) => (bytes, pttl),
            Ok(PlainRead::Absent) => {
                counters.misses.incr();
                tracing::trace!(namespace = %inner.namespace, tier = "l2", outcome = "miss", key_prefix = key.prefix());
                return None;
            }
            Ok(PlainRead::Refused(message)) => {
                failed(TierError::Failed(message));
                return None;
            }
            Err(e) => {
                failed(e);
                return None;
            }
        };
        let remaining = match u64::try_from(pttl) {
            Ok(ms) if ms > 0 => Duration::from_millis(ms).saturating_sub(sent.elapsed()),
            // -1: the other service set no expiry.
            _ if pttl == -1 => inner.l1_ttl,
            // -2 (gone since the GET) or 0: nothing left to serve.
            _ => {
                counters.misses.incr();
                tracing::trace!(namespace = %inner.namespace, tier = "l2", outcome = "miss", key_prefix = key.prefix(), "expired between GET and PTTL");
                return None;
            }
        };
        match inner.codec.decode::<V>(&bytes) {
            Ok(value) => {
                counters.hits.incr();
                tracing::trace!(namespace = %inner.namespace, tier = "l2", outcome = "hit", key_prefix = key.prefix());
                Some((value, remaining, bytes.len()))
            }
            Err(_) => {
                failed(TierError::Failed(format!(
                    "stored value ({} bytes) is not a {} encoding of this view's type; read as a miss",
                    bytes.len(),
                    C::NAME
                )));
                None
            }
        }
    }
}
