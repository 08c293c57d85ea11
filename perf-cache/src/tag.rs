//! Tag invalidation: [`Backend::invalidate_tag`] and [`Cache::invalidate_tag`], tag
//! validation, and the Redis keys of tag generations.
//!
//! A tag is a string of 1 to [`MAX_TAG_LEN`] bytes without control characters; an entry has
//! at most [`MAX_TAGS`] (duplicates count once). Tags are literal: they are stored escaped as
//! one key segment (`<namespace>%:t:<tag>`), never used as a pattern, so `*`, `%`, `:` or `{`
//! in a tag reach no other key.

use crate::backend::Shared;
use crate::group::Kind;
use crate::{Backend, Cache, Codec, Invalidation, Key, Reach, Result};

/// The longest tag, in bytes.
pub const MAX_TAG_LEN: usize = 128;
/// The most tags one entry may carry.
pub const MAX_TAGS: usize = 32;

/// Checks one tag.
pub(crate) fn validate(tag: &str) -> Result<()> {
    if tag.is_empty() || tag.len() > MAX_TAG_LEN || tag.chars().any(char::is_control) {
        let shown: String = tag.chars().take(40).collect();
        let more = if tag.len() > shown.len() { "…" } else { "" };
        return Err(crate::error::invalid(
            "tags",
            format!("{shown:?}{more} ({} bytes)", tag.len()),
            format!("1 to {MAX_TAG_LEN} bytes without control characters"),
        ));
    }
    Ok(())
}

/// Checks and normalises an entry's tags: each valid, duplicates removed (first kept), at most
/// [`MAX_TAGS`].
pub(crate) fn normalize(tags: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        validate(tag)?;
        if !out.contains(tag) {
            out.push(tag.clone());
        }
    }
    if out.len() > MAX_TAGS {
        return Err(crate::error::invalid(
            "tags",
            format!("{} tags", out.len()),
            format!("at most {MAX_TAGS} per entry"),
        ));
    }
    Ok(out)
}

/// `<namespace>%:t:<tag>`: the Redis counter of a tag's generation.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn generation_key(namespace: &str, tag: &str) -> Vec<u8> {
    crate::bookkeeping::key(namespace, "t", &Key::new(tag))
}

/// `<namespace>%:te`: the tag epoch, raised by every tag invalidation (see the crate docs,
/// "Tags": loads whose loader decides its tags compare it).
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn epoch_key(namespace: &str) -> Vec<u8> {
    let mut k = namespace.as_bytes().to_vec();
    k.push(crate::bookkeeping::MARK);
    k.extend_from_slice(b":te");
    k
}

impl Shared {
    /// The current stamps of `names` (validated), fetching unknown tags from Redis.
    pub(crate) async fn resolve_tags(
        &self,
        names: &[String],
    ) -> std::result::Result<Vec<crate::tag_table::Stamp>, crate::tag_table::Unresolved> {
        use crate::tag_table::Unresolved;
        #[cfg(feature = "redis")]
        if let Some(l2) = &self.l2 {
            return self
                .tags
                .resolve(names, |wanted| async move {
                    // A tag invalidation still waiting for replay would be read as older.
                    if !(self.replay.clear() || self.replay.l2_readable(&self.namespace, l2).await)
                    {
                        return Err(Unresolved);
                    }
                    let keys: Vec<Vec<u8>> = wanted
                        .iter()
                        .map(|t| generation_key(&self.namespace, t))
                        .collect();
                    l2.tag_generations(&keys).await.map_err(|e| {
                        if let crate::tiers::TierError::Failed(m) = e {
                            self.log.warn(&self.namespace, "l2", "tags", "*", &m);
                        }
                        Unresolved
                    })
                })
                .await;
        }
        self.tags
            .resolve(names, |_| async { Err(Unresolved) })
            .await
    }

    /// `kind`: how the call is counted (`None`: as part of a group, counted there).
    pub(crate) async fn invalidate_tag(
        &self,
        tag: &str,
        kind: Option<Kind>,
    ) -> Result<Invalidation> {
        validate(tag)?;
        let mut report = Invalidation::default();
        // Fills in flight here store nothing from now on; loads whose loader picks its tags
        // compare the epoch.
        self.fence.bump_all().await;
        self.tags.bump_epoch();
        #[cfg(feature = "redis")]
        if let Some(l2) = &self.l2 {
            let (ek, tk) = (
                epoch_key(&self.namespace),
                generation_key(&self.namespace, tag),
            );
            match l2.bump_tag(&ek, &tk).await {
                Ok(generation) => {
                    self.tags.raise(tag, generation);
                    report.l2 = Reach::Done;
                    report.tag_generation = Some(generation);
                    let heard = self
                        .announce(crate::bus::Op::Tag {
                            tag: tag.to_owned(),
                            generation,
                        })
                        .await;
                    report.confirmed(heard);
                }
                Err(e) => {
                    // Local entries with the tag miss until it is fetched again, which waits
                    // for the replay of this `INCR`; other instances are asked to resync.
                    self.tags.forget(tag);
                    report.l2 = match e {
                        crate::tiers::TierError::Skipped(_) => Reach::Skipped,
                        crate::tiers::TierError::Failed(m) => {
                            self.log
                                .warn(&self.namespace, "l2", "invalidate", "tag", &m);
                            Reach::Failed
                        }
                    };
                    let op = crate::replay::Pending::Tag { epoch: ek, tag: tk };
                    self.replay.keep(&self.namespace, op).await;
                    self.announce(crate::bus::Op::All).await;
                }
            }
        }
        if self.l2.is_none() {
            self.tags.bump_local(tag);
        }
        if self.l3.is_some() {
            // Disk entries carry their tags' generations and are checked when read.
            report.l3 = Reach::Done;
        }
        self.fence.bump_all().await;
        if let Some(kind) = kind {
            self.invalidations.count(&self.namespace, kind, &report);
        }
        Ok(report)
    }

    /// Applies another instance's tag invalidation.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn apply_tag(&self, tag: &str, generation: u64) {
        self.tags.raise(tag, generation);
        self.tags.bump_epoch();
    }
}

impl Backend {
    /// Invalidates every entry tagged `tag`, in every view and tier, in O(1) whatever the
    /// number of tagged entries: one `INCR` of the tag's generation in Redis (pipelined with
    /// the tag epoch's), the in-process tag table updated, fills in flight here turned away,
    /// and the new generation published on the bus. Entries stamped with an older generation
    /// read as misses from then on (L1, Redis and disk check them on read). Without Redis, the
    /// generation is this process's own.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use perf_cache::{Backend, Cache, Key, SetOptions};
    /// let backend = Backend::builder().namespace("scans").build().await?;
    /// let results = Cache::<String>::builder().prefix("results").build_on(&backend)?;
    /// let tagged = SetOptions::default().tags(["scan:7", "target:example.org"]);
    /// results.set_with(&Key::new(1_u64), "r1".into(), tagged.clone()).await?;
    /// results.set_with(&Key::new(2_u64), "r2".into(), SetOptions::default().tags(["scan:8"])).await?;
    ///
    /// assert!(backend.invalidate_tag("scan:7").await?.is_complete());
    /// assert_eq!(results.get(&Key::new(1_u64)).await, None);
    /// assert_eq!(results.get(&Key::new(2_u64)).await.as_deref(), Some("r2"));
    /// assert!(backend.invalidate_tag("").await.is_err()); // 1 to 128 bytes
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) (field `tags`) for an empty tag,
    /// one over [`MAX_TAG_LEN`] bytes or with control characters. Redis being unreachable is
    /// not an error: the report's `l2` says so, the `INCR` is replayed before Redis is read
    /// again, local entries with the tag miss meanwhile and other instances are asked to
    /// resync.
    pub async fn invalidate_tag(&self, tag: &str) -> Result<Invalidation> {
        self.shared.invalidate_tag(tag, Some(Kind::Tag)).await
    }

    /// Tags held in the in-process tag table now (at most
    /// [`BackendBuilder::tag_table_size`](crate::BackendBuilder::tag_table_size)) and how many
    /// were evicted since the backend was built.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// let backend = perf_cache::Backend::builder().build().await?;
    /// assert_eq!(backend.tag_table(), (0, 0));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn tag_table(&self) -> (usize, u64) {
        (self.shared.tags.len(), self.shared.tags.evictions())
    }
}

impl<V, C> Cache<V, C>
where
    V: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    C: Codec,
{
    /// Same as [`Backend::invalidate_tag`] on this view's backend: a tag spans every view.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use perf_cache::{Cache, Key, SetOptions};
    /// let cache = Cache::<u8>::builder().build().await?;
    /// cache.set_with(&Key::new(1_u64), 1, SetOptions::default().tags(["t"])).await?;
    /// assert!(cache.invalidate_tag("t").await?.is_complete());
    /// assert_eq!(cache.get(&Key::new(1_u64)).await, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Backend::invalidate_tag`].
    pub async fn invalidate_tag(&self, tag: &str) -> Result<Invalidation> {
        self.backend().invalidate_tag(tag).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked_and_literal() {
        assert!(validate("scan:7").is_ok());
        assert!(validate("").is_err());
        assert!(validate(&"x".repeat(129)).is_err());
        assert!(validate("a\nb").is_err());
        let err = normalize(&(0..33).map(|i| i.to_string()).collect::<Vec<_>>()).unwrap_err();
        assert!(err.to_string().contains("at most 32"), "{err}");
        assert_eq!(normalize(&["a".into(), "a".into()]).unwrap(), ["a"]);
        assert_eq!(generation_key("ns", "a:*%"), b"ns%:t:a%3A%2A%25");
        assert_eq!(epoch_key("ns"), b"ns%:te");
    }
}
