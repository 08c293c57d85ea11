//! The servers the invalidation bus subscribes through: one for a standalone Redis, every seed
//! node of a Redis Cluster (classic pub/sub reaches every node, so any one will do). When the
//! subscription is lost, each seed is tried in turn, starting with the one that worked last,
//! with a growing pause between rounds (backon's exponential schedule, 10 ms up to the quiet
//! period), so losing the first seed node does not lose the bus.

use std::time::Duration;

use backon::BackoffBuilder as _;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, PushInfo};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// A subscription: the connection and its pushed messages.
pub(crate) type Subscription = (MultiplexedConnection, UnboundedReceiver<PushInfo>);

/// The clients (RESP3) of the servers the bus may subscribe through.
#[derive(Debug)]
pub(crate) struct BusSeeds {
    clients: Vec<redis::Client>,
    /// The seed to try first: the last one that worked.
    first: usize,
}

impl BusSeeds {
    /// The RESP3 clients of `clients` (pushed messages need RESP3); those that cannot be made
    /// are logged and left out.
    pub(crate) fn new(namespace: &str, clients: Vec<redis::Client>) -> Self {
        let clients = clients
            .into_iter()
            .filter_map(|client| {
                let info = client.get_connection_info().clone();
                let resp3 = info
                    .redis_settings()
                    .clone()
                    .set_protocol(redis::ProtocolVersion::RESP3);
                redis::Client::open(info.set_redis_settings(resp3))
                    .inspect_err(|e| {
                        tracing::warn!(namespace, error = %e, "invalidation bus: a seed is unusable");
                    })
                    .ok()
            })
            .collect();
        Self { clients, first: 0 }
    }

    /// Whether no seed is usable.
    pub(crate) fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// How many seeds there are.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.clients.len()
    }

    /// The pauses between rounds of attempts: 10 ms, doubling, up to `quiet`, without end.
    pub(crate) fn schedule(quiet: Duration) -> impl Iterator<Item = Duration> {
        backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(10))
            .with_max_delay(quiet.max(Duration::from_millis(10)))
            .with_factor(2.0)
            .without_max_times()
            .build()
    }

    /// One round: subscribes through each seed in turn, starting with the last that worked;
    /// the first success, else the last error.
    pub(crate) async fn subscribe(
        &mut self,
        name: &str,
        channels: &[String],
        timeout: Duration,
    ) -> redis::RedisResult<Subscription> {
        let n = self.clients.len();
        let mut last = redis::RedisError::from((redis::ErrorKind::Client, "no bus seed"));
        for i in 0..n {
            let at = (self.first + i) % n;
            match subscribe(&self.clients[at], name, channels, timeout).await {
                Ok(sub) => {
                    self.first = at;
                    return Ok(sub);
                }
                Err(e) => {
                    tracing::debug!(seed = at, error = %e, "invalidation bus: subscribing failed");
                    last = e;
                }
            }
        }
        Err(last)
    }
}

async fn subscribe(
    client: &redis::Client,
    name: &str,
    channels: &[String],
    timeout: Duration,
) -> redis::RedisResult<Subscription> {
    let (tx, rx) = unbounded_channel();
    let config = AsyncConnectionConfig::new()
        .set_push_sender(tx)
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(name)
        .query_async::<()>(&mut conn)
        .await?;
    conn.subscribe(channels).await?;
    Ok((conn, rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_grows_to_the_quiet_period_and_never_ends() {
        let quiet = Duration::from_millis(300);
        let pauses: Vec<Duration> = BusSeeds::schedule(quiet).take(12).collect();
        assert_eq!(pauses[0], Duration::from_millis(10));
        assert_eq!(pauses[1], Duration::from_millis(20));
        assert_eq!(pauses[11], quiet);
        assert!(pauses.windows(2).all(|w| w[0] <= w[1]));
    }

    #[tokio::test]
    async fn every_seed_is_tried_in_turn() {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        // Nothing listens on port 1.
        let dead = redis::Client::open("redis://127.0.0.1:1").unwrap();
        let live = redis::Client::open(url).unwrap();
        let mut seeds = BusSeeds::new("seeds", vec![dead, live]);
        assert_eq!(seeds.len(), 2);
        let timeout = Duration::from_millis(500);
        let sub = seeds
            .subscribe(
                "perf-cache-bus-seeds-test",
                &["seeds%:bus".to_owned()],
                timeout,
            )
            .await;
        assert!(sub.is_ok(), "{:?}", sub.err());
        assert_eq!(seeds.first, 1, "the live seed is tried first next time");
    }
}
