//! L2 on a Redis Cluster (feature `redis-cluster`): one `ClusterConnection`, made on first use
//! so a cache can be built while the cluster is down.

use std::collections::BTreeSet;
use std::time::Duration;

use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, FromRedisValue, RedisResult, Value};
use tokio::sync::OnceCell;

pub(crate) struct Cluster {
    client: ClusterClient,
    conn: OnceCell<ClusterConnection>,
}

impl Cluster {
    pub(crate) fn new(urls: &[String], timeout: Duration) -> RedisResult<Self> {
        let client = ClusterClient::builder(urls.iter().map(String::as_str))
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(1)
            .build()?;
        Ok(Self {
            client,
            conn: OnceCell::new(),
        })
    }

    async fn connection(&self) -> RedisResult<ClusterConnection> {
        self.conn
            .get_or_try_init(|| self.client.get_async_connection())
            .await
            .cloned()
    }

    /// Runs a keyed command; the connection routes it to the node owning the key's slot.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        let mut conn = self.connection().await?;
        cmd.query_async(&mut conn).await
    }

    /// Runs a pipeline whose commands all name keys of one slot (routed to its node); error
    /// replies stay in the result as `Value::ServerError`.
    pub(crate) async fn pipeline(
        &self,
        pipe: &redis::Pipeline,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        use redis::aio::ConnectionLike as _;
        let mut conn = self.connection().await?;
        conn.req_packed_commands(pipe, 0, count).await
    }

    /// `SCAN MATCH <pattern>` on every primary, then `UNLINK` key by key (keys of one page
    /// live in different slots, and a multi-key command must not cross slots), sent together
    /// on the multiplexed connection; how many keys were removed.
    pub(crate) async fn delete_matching(&self, pattern: &[u8], count: usize) -> RedisResult<u64> {
        let mut conn = self.connection().await?;
        let mut removed = 0;
        for (host, port) in primaries(&mut conn).await? {
            let mut cursor: u64 = 0;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(count);
                let node = SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port,
                };
                let reply = conn
                    .route_command(scan, RoutingInfo::SingleNode(node))
                    .await?;
                let (next, keys): (u64, Vec<Vec<u8>>) = redis::from_redis_value(reply)?;
                removed += self.unlink_each(keys).await?;
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(removed)
    }

    /// `UNLINK` of each key (each routed to its slot's node), sent together; how many existed.
    pub(crate) async fn unlink_each(&self, keys: Vec<Vec<u8>>) -> RedisResult<u64> {
        let conn = self.connection().await?;
        let unlinks = keys.into_iter().map(|key| {
            let mut conn = conn.clone();
            async move {
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(key);
                unlink.query_async::<u64>(&mut conn).await
            }
        });
        let mut removed = 0;
        for result in futures::future::join_all(unlinks).await {
            removed += result?;
        }
        Ok(removed)
    }
}

/// Addresses of the primaries, from `CLUSTER SLOTS` (`[[start, end, [host, port, id], ...]]`).
async fn primaries(conn: &mut ClusterConnection) -> RedisResult<BTreeSet<(String, u16)>> {
    let slots: Value = redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await?;
    let mut out = BTreeSet::new();
    if let Value::Array(ranges) = slots {
        for range in ranges {
            if let Value::Array(items) = range
                && let Some(Value::Array(primary)) = items.get(2)
                && let (Some(host), Some(Value::Int(port))) = (primary.first(), primary.get(1))
            {
                let host: String = redis::from_redis_value(host.clone())?;
                if let Ok(port) = u16::try_from(*port) {
                    out.insert((host, port));
                }
            }
        }
    }
    Ok(out)
}
