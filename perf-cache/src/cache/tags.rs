//! Tags on a view's entries: stamping writes and loads, checking lower-tier reads (see
//! [`crate::tag_table`] and the crate docs, "Tags").

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Cache, Write};
use crate::envelope;
use crate::fence::Ticket;
use crate::result_ttl::ResultTags;
use crate::tag_table::{Stamp, Stamps, TagStamps, TagTicket};
use crate::tiers::TierResult;
use crate::tiers::l1::L1Store as _;
use crate::{Codec, Key, LoadOptions, Result, SetOptions};

impl<V, C> Cache<V, C>
where
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    C: Codec,
{
    /// `set_with` with tags: stamped with their generations now. When those cannot be known
    /// (Redis unreachable), the key is invalidated instead, so that no older value stays.
    pub(super) async fn set_tagged(&self, key: &Key, value: V, options: &SetOptions) -> Result<()> {
        let inner = &*self.inner;
        if inner.plain {
            return Err(crate::error::invalid(
                "tags",
                "a plain view",
                "tags need the envelope: use StorageFormat::Envelope",
            ));
        }
        let names = crate::tag::normalize(options.tags_value())?;
        let changes = inner.shared.tags.changes();
        let Ok(stamps) = inner.shared.resolve_tags(&names).await else {
            tracing::warn!(namespace = %inner.namespace, key_prefix = key.prefix(), "tag generations unknown (Redis unreachable): the key is invalidated instead of set");
            let _ = self.invalidate(key).await;
            return Ok(());
        };
        self.store_stamped(
            key,
            Some(value),
            options.ttl_value(),
            Write::Set,
            Some(TagStamps::new(changes, stamps)),
        )
        .await
    }

    /// What a load notes about tags when it begins (after the lower tiers missed, before its
    /// loader runs): the stamps of the tags given up front, and the tag epochs.
    pub(super) async fn tag_ticket(&self, options: &LoadOptions) -> Arc<TagTicket> {
        let shared = &self.inner.shared;
        let local_epoch = shared.tags.epoch();
        let changes = shared.tags.changes();
        // Read on every load with Redis: whether the loader will pick tags is unknown yet.
        let redis_epoch = self.read_tag_epoch().await;
        let upfront = if options.tags.is_empty() {
            Some(Vec::new())
        } else {
            match crate::tag::normalize(&options.tags) {
                Ok(names) => shared.resolve_tags(&names).await.ok(),
                Err(e) => {
                    tracing::warn!(namespace = %self.inner.namespace, error = %e, "invalid load tags: the result will not be cached");
                    None
                }
            }
        };
        Arc::new(TagTicket {
            upfront,
            local_epoch,
            changes,
            redis_epoch,
        })
    }

    /// The stamps a fill stores with (`Ok(None)`: no tags), or `Err` when it must not be
    /// stored: tags that could not be resolved, invalid ones, or tags the loader chose whose
    /// generation at load start is unknown while a tag invalidation happened meanwhile.
    pub(super) async fn fill_stamps(
        &self,
        ticket: &Ticket,
        chosen: &ResultTags,
    ) -> std::result::Result<Option<Stamps>, ()> {
        let shared = &self.inner.shared;
        let upfront: Vec<Stamp> = match ticket.tags.as_deref() {
            None => Vec::new(),
            Some(TagTicket { upfront: None, .. }) => return Err(()),
            Some(TagTicket {
                upfront: Some(u), ..
            }) => u.clone(),
        };
        let added: Vec<String> = match chosen {
            ResultTags::Invalid => return Err(()),
            ResultTags::None => Vec::new(),
            ResultTags::Tags(t) => t
                .iter()
                .filter(|t| !upfront.iter().any(|s| &*s.name == t.as_str()))
                .cloned()
                .collect(),
        };
        let changes = ticket.tags.as_deref().map_or(0, |t| t.changes);
        if added.is_empty() {
            return Ok((!upfront.is_empty()).then(|| TagStamps::new(changes, upfront)));
        }
        if upfront.len() + added.len() > crate::tag::MAX_TAGS {
            tracing::warn!(namespace = %self.inner.namespace, tags = upfront.len() + added.len(), "more than 32 tags: the result is not cached");
            return Err(());
        }
        let Some(t) = ticket.tags.as_deref() else {
            return Err(());
        };
        // Generations first, then the epochs: an epoch unchanged since the load began means
        // no tag invalidation had begun when these generations were read, so they are no
        // newer than the ones at load start.
        let now = shared.resolve_tags(&added).await.map_err(drop)?;
        if shared.tags.epoch() != t.local_epoch {
            return Err(());
        }
        if shared.l2.is_some() {
            match (t.redis_epoch, self.read_tag_epoch().await) {
                (Some(then), Some(now)) if then == now => {}
                _ => return Err(()),
            }
        }
        let mut all = upfront;
        all.extend(now);
        Ok(Some(TagStamps::new(t.changes, all)))
    }

    /// A lower tier's entry with tags is usable only while each tag still has the generation
    /// it carries: otherwise (or when a generation cannot be known) it reads as absent. Returns
    /// the entry and its stamps for the L1 copy.
    pub(super) async fn verify_tags(
        &self,
        got: TierResult<Option<Vec<u8>>>,
    ) -> (TierResult<Option<Vec<u8>>>, Option<Stamps>) {
        let Ok(Some(bytes)) = &got else {
            return (got, None);
        };
        match envelope::tags(bytes) {
            Some(tags) if tags.is_empty() => (got, None),
            Some(tags) => {
                // Boxed: only tagged entries pay for the resolution's state.
                let stamps = Box::pin(self.verify_stored(tags)).await;
                match stamps {
                    Some(s) => (got, Some(s)),
                    None => (Ok(None), None),
                }
            }
            None => (Ok(None), None),
        }
    }

    async fn verify_stored(&self, tags: Vec<(String, u64)>) -> Option<Stamps> {
        let shared = &self.inner.shared;
        let names: Vec<String> = tags.iter().map(|(n, _)| n.clone()).collect();
        let changes = shared.tags.changes();
        let resolved = shared.resolve_tags(&names).await.ok()?;
        let stamps = crate::tag_table::matching(changes, resolved, &tags);
        if stamps.is_none() {
            tracing::trace!(namespace = %self.inner.namespace, "tagged entry invalidated by a tag; miss");
        }
        stamps
    }

    /// Redis's tag epoch now (`None`: no Redis, or unreadable: a failure is counted and
    /// logged as any L2 error).
    async fn read_tag_epoch(&self) -> Option<u64> {
        #[cfg(feature = "redis")]
        if let Some(l2) = &self.inner.shared.l2 {
            let key = crate::tag::epoch_key(&self.inner.shared.namespace);
            return match l2.tag_epoch(&key).await {
                Ok(e) => Some(e),
                Err(e) => {
                    self.tier_error(l2, &self.inner.counters.l2, "tag_epoch", "*", e);
                    None
                }
            };
        }
        None
    }

    /// Removes the L1 entry of `key` if one of its tags was invalidated (on the miss path).
    pub(super) fn drop_tag_stale(&self, key: &Key) {
        let inner = &*self.inner;
        if !inner.shared.l1_enabled {
            return;
        }
        let lookup = inner.l1_lookup(key);
        if inner
            .shared
            .l1
            .read(&lookup, |e| e.tag_stale().then_some(()))
            .is_some()
        {
            inner.shared.l1.remove(&lookup);
        }
    }
}
