//! Tag generations in Redis: `<namespace>%:t:<tag>` counters raised with `INCR` (no clock:
//! nothing is compared across machines) and the tag epoch `<namespace>%:te`. Every command
//! names one key, so a cluster routes each to its slot's node; no script spans slots.

use super::{Connection, RedisTier, settle};
use crate::tiers::TierResult;

impl RedisTier {
    /// The generations of the tag counters `keys` (absent or unreadable: 0), in order: one
    /// `MGET` on a standalone server, one `GET` per key sent together on a cluster.
    pub(crate) async fn tag_generations(&self, keys: &[Vec<u8>]) -> TierResult<Vec<u64>> {
        let permit = self.permit()?;
        let result: redis::RedisResult<Vec<Option<Vec<u8>>>> = match &self.conn {
            Connection::Single(_) => {
                let mut cmd = redis::cmd("MGET");
                for k in keys {
                    cmd.arg(k);
                }
                self.send(&cmd).await
            }
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(_) => {
                let gets = keys.iter().map(|k| async move {
                    let mut cmd = redis::cmd("GET");
                    cmd.arg(k);
                    self.send::<Option<Vec<u8>>>(&cmd).await
                });
                futures::future::join_all(gets).await.into_iter().collect()
            }
        };
        settle(permit, result).map(|got| {
            got.iter()
                .map(|g| crate::tiers::generation::parse(g.as_deref()))
                .collect()
        })
    }

    /// The tag epoch now (absent: 0).
    pub(crate) async fn tag_epoch(&self, key: &[u8]) -> TierResult<u64> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        let got: Option<Vec<u8>> = self.query(cmd).await?;
        Ok(crate::tiers::generation::parse(got.as_deref()))
    }

    /// Raises the tag epoch, then the tag's generation; returns the new generation. One
    /// pipeline (one round trip) on a standalone server, where the two run in order; on a
    /// cluster the epoch's `INCR` is answered before the tag's is sent (two round trips), so a
    /// load that reads the epoch unchanged after reading a tag's generation read the old one.
    pub(crate) async fn bump_tag(&self, epoch_key: &[u8], tag_key: &[u8]) -> TierResult<u64> {
        let permit = self.permit()?;
        let result: redis::RedisResult<u64> = match &self.conn {
            Connection::Single(conn) => {
                let mut pipe = redis::pipe();
                pipe.cmd("INCR").arg(epoch_key).ignore();
                pipe.cmd("INCR").arg(tag_key);
                pipe.query_async::<(u64,)>(&mut conn.clone())
                    .await
                    .map(|(g,)| g)
            }
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(_) => {
                let mut epoch = redis::cmd("INCR");
                epoch.arg(epoch_key);
                let mut tag = redis::cmd("INCR");
                tag.arg(tag_key);
                match self.send::<u64>(&epoch).await {
                    Ok(_) => self.send::<u64>(&tag).await,
                    Err(e) => Err(e),
                }
            }
        };
        settle(permit, result)
    }
}
