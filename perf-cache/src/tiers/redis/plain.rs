//! Plain-mode reads and writes ([`StorageFormat::Plain`](crate::StorageFormat::Plain)): a key's
//! value and its remaining time to live in one round trip, `GET` + `PTTL` pipelined (on a
//! cluster both commands carry the same key, so the pipeline goes to the node owning its
//! slot); writes are a bare `SET key value PX ms`.
//!
//! Plain writes raise no generation (see [`generation`](super::generation)): another service's
//! client writes the same keys with its own `SET`, so no plain load compares one, and a
//! generation key would only be one more key per value in the shared keyspace.

use std::time::Duration;

use redis::Value;

use super::{Connection, RedisTier, px, settle};
use crate::tiers::{TierError, TierResult};

/// What Redis holds under one key, read together with its remaining time to live.
#[derive(Debug)]
pub(crate) enum PlainRead {
    /// The stored bytes and the `PTTL` reply: milliseconds left, `-1` for no expiry, `-2` for a
    /// key that expired between the two commands.
    Found(Vec<u8>, i64),
    /// No such key (through `MGET`, also a key of another type).
    Absent,
    /// An error reply about this key only, e.g. `WRONGTYPE` on a hash another service wrote.
    Refused(String),
}

impl RedisTier {
    /// `GET key` and `PTTL key` in one pipeline. An error reply about the key (not an outage)
    /// is [`PlainRead::Refused`] and never counts towards the circuit breaker.
    pub(crate) async fn fetch_plain(&self, key: &[u8]) -> TierResult<PlainRead> {
        let permit = self.permit()?;
        let result = self.get_with_ttl(key).await;
        let replies = settle(permit, result)?;
        Ok(read_pair(replies))
    }

    /// Several keys in one round trip: `MGET k1 … kn` then `PTTL k1` … `PTTL kn` in one
    /// pipeline (on a cluster, one `GET` + `PTTL` pipeline per key, sent together). Results
    /// come in the order of `keys`.
    pub(crate) async fn fetch_many_plain(&self, keys: &[Vec<u8>]) -> TierResult<Vec<PlainRead>> {
        let permit = self.permit()?;
        #[cfg(feature = "redis-cluster")]
        if matches!(self.conn, Connection::Cluster(_)) {
            let reads = keys.iter().map(|key| self.get_with_ttl(key));
            let mut out = Vec::with_capacity(keys.len());
            let mut outage = None;
            for result in futures::future::join_all(reads).await {
                match result {
                    Ok(replies) => out.push(read_pair(replies)),
                    Err(e) if crate::breaker::is_outage(&e) => outage = Some(e),
                    Err(e) => out.push(PlainRead::Refused(e.to_string())),
                }
            }
            return settle(permit, outage.map_or(Ok(out), Err));
        }
        let mut pipe = redis::pipe();
        pipe.cmd("MGET");
        for key in keys {
            pipe.arg(key.as_slice());
        }
        for key in keys {
            pipe.cmd("PTTL").arg(key.as_slice());
        }
        let result = self.send_pipeline(&pipe, keys.len() + 1).await;
        let replies = settle(permit, result)?;
        let mut replies = replies.into_iter();
        let values = match replies.next() {
            Some(Value::Array(values)) if values.len() == keys.len() => values,
            // Never log the reply itself: it may hold values.
            other => {
                return Err(TierError::Failed(format!(
                    "MGET of {} keys answered {}",
                    keys.len(),
                    reply_kind(other.as_ref())
                )));
            }
        };
        Ok(values
            .into_iter()
            .zip(replies.chain(std::iter::repeat(Value::Nil)))
            .map(|(value, ttl)| read_value(value, ttl))
            .collect())
    }

    /// `SET key value PX ms`.
    pub(crate) async fn store_plain(
        &self,
        key: &[u8],
        value: &[u8],
        ttl: Duration,
    ) -> TierResult<()> {
        self.run(set_px(key, value, ttl)).await
    }

    /// Several plain writes in one round trip (on a cluster, sent together).
    pub(crate) async fn store_many_plain(
        &self,
        items: &[(Vec<u8>, Vec<u8>, Duration)],
    ) -> TierResult<()> {
        let permit = self.permit()?;
        let cmds = items
            .iter()
            .map(|(key, value, ttl)| set_px(key, value, *ttl))
            .collect();
        let result = self.send_each::<Value>(cmds).await;
        settle(permit, result).map(drop)
    }

    async fn get_with_ttl(&self, key: &[u8]) -> redis::RedisResult<Vec<Value>> {
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(key).cmd("PTTL").arg(key);
        self.send_pipeline(&pipe, 2).await
    }

    /// Sends a pipeline and reads `count` replies; error replies stay in the vector as
    /// `Value::ServerError` (only transport failures are `Err`).
    async fn send_pipeline(
        &self,
        pipe: &redis::Pipeline,
        count: usize,
    ) -> redis::RedisResult<Vec<Value>> {
        match &self.conn {
            Connection::Single(conn) => conn.clone().send_packed_commands(pipe, 0, count).await,
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(cluster) => cluster.pipeline(pipe, count).await,
        }
    }
}

/// The replies of `GET` + `PTTL`.
fn set_px(key: &[u8], value: &[u8], ttl: Duration) -> redis::Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(value).arg("PX").arg(px(ttl));
    cmd
}

fn read_pair(replies: Vec<Value>) -> PlainRead {
    let mut replies = replies.into_iter();
    match (replies.next(), replies.next()) {
        (Some(value), Some(ttl)) => read_value(value, ttl),
        (value, _) => PlainRead::Refused(format!(
            "GET + PTTL answered one reply: {}",
            reply_kind(value.as_ref())
        )),
    }
}

fn read_value(value: Value, ttl: Value) -> PlainRead {
    match value {
        Value::Nil => PlainRead::Absent,
        Value::BulkString(bytes) => match ttl {
            Value::Int(ms) => PlainRead::Found(bytes, ms),
            other => PlainRead::Refused(format!("PTTL answered {}", reply_kind(Some(&other)))),
        },
        Value::ServerError(e) => PlainRead::Refused(redis::RedisError::from(e).to_string()),
        other => PlainRead::Refused(format!("GET answered {}", reply_kind(Some(&other)))),
    }
}

/// What kind of reply Redis sent, without its contents (which may hold values).
fn reply_kind(value: Option<&Value>) -> String {
    match value {
        None => "nothing".to_owned(),
        Some(Value::Array(items)) => format!("an array of {}", items.len()),
        Some(Value::Int(n)) => format!("the integer {n}"),
        Some(other) => {
            let name = format!("{other:?}");
            let kind: String = name.chars().take_while(|c| c.is_alphanumeric()).collect();
            format!("a {kind} reply")
        }
    }
}
