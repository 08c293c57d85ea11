//! [`SingleFlight`]: how far "one loader run per key at a time" reaches, and the settings of
//! the cluster-wide lease ([`CacheBuilder::single_flight`], [`CacheBuilder::lease_ttl`],
//! [`CacheBuilder::lease_wait`]).

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::invalid;
use crate::{CacheBuilder, Codec};

/// Default [`CacheBuilder::lease_ttl`]: 10 s.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);
/// Default [`CacheBuilder::lease_wait`]: 5 s.
pub const DEFAULT_LEASE_WAIT: Duration = Duration::from_secs(5);

/// The reach of single-flight loading: which concurrent loads of one cold key share one
/// loader run. See the crate docs, "Cluster-wide single-flight".
///
/// ```
/// use perf_cache::SingleFlight;
/// assert_eq!(SingleFlight::default(), SingleFlight::Process);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SingleFlight {
    /// Callers in this process share one loader run per key (the default; no Redis round
    /// trip is added).
    #[default]
    Process,
    /// Callers in every instance sharing the Redis share one loader run per key: the process's
    /// leader takes a short lease in Redis (`SET NX PX` with a random token) before it runs the
    /// loader; the other instances wait for the value, within
    /// [`lease_wait`](CacheBuilder::lease_wait). Without Redis, while its circuit breaker is
    /// open or when Redis fails, it is [`Process`](Self::Process).
    Cluster,
}

/// The view's single-flight settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlightSettings {
    pub(crate) mode: SingleFlight,
    pub(crate) lease_ttl: Duration,
    pub(crate) lease_wait: Duration,
}

impl Default for FlightSettings {
    fn default() -> Self {
        Self {
            mode: SingleFlight::Process,
            lease_ttl: DEFAULT_LEASE_TTL,
            lease_wait: DEFAULT_LEASE_WAIT,
        }
    }
}

impl FlightSettings {
    /// `lease_ttl` within 10 ms..=1 hour, `lease_wait` within 1 ms..=1 hour.
    pub(crate) fn validate(&self) -> crate::Result<()> {
        const HOUR: Duration = Duration::from_secs(3_600);
        let t = self.lease_ttl;
        if t < Duration::from_millis(10) || t > HOUR {
            return Err(invalid("lease_ttl", format!("{t:?}"), "10 ms..=1 hour"));
        }
        let w = self.lease_wait;
        if w < Duration::from_millis(1) || w > HOUR {
            return Err(invalid("lease_wait", format!("{w:?}"), "1 ms..=1 hour"));
        }
        Ok(())
    }
}

impl<V, C> CacheBuilder<V, C>
where
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    C: Codec,
{
    /// The reach of single-flight loading for this view's `get_or_load…` calls. Default
    /// [`SingleFlight::Process`]. [`SingleFlight::Cluster`] adds, per cold load on the
    /// instance that loads, one round trip: the lease's script (`SET NX PX`, and the
    /// generation read a load needs anyway) before the loader and its compare-and-delete after
    /// the value is stored; a view in
    /// [`StorageFormat::Plain`](crate::StorageFormat::Plain) stays at `Process`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// # let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    /// # let ns = format!("doc-lease-{}", std::process::id());
    /// use perf_cache::{Cache, Key, SingleFlight};
    ///
    /// let cache = Cache::<u64>::builder()
    ///     .namespace(&ns)
    ///     .redis_url(&url)
    ///     .single_flight(SingleFlight::Cluster)
    ///     .build()
    ///     .await?;
    /// let key = Key::new("report").arg(7_u64);
    /// assert_eq!(cache.get_or_load(&key, || async { 42 }).await, 42);
    /// assert_eq!(cache.stats().lease_acquired, 1); // no other instance was loading it
    /// # cache.invalidate(&key).await;
    /// # Ok(()) }
    /// ```
    pub fn single_flight(mut self, mode: SingleFlight) -> Self {
        self.flight.mode = mode;
        self
    }

    /// How long a lease of [`SingleFlight::Cluster`] lives in Redis if its holder never
    /// releases it (the process died or was frozen). Default 10 s
    /// ([`DEFAULT_LEASE_TTL`]); from 10 ms to 1 hour. A holder releases it as soon as its
    /// value is stored, or when its load fails, panics or is cancelled; a loader that runs
    /// longer than this lets another instance load too. The lease is not renewed.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = perf_cache::Cache::<u8>::builder().lease_ttl(Duration::from_secs(30));
    /// # drop(b);
    /// ```
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.flight.lease_ttl = ttl;
        self
    }

    /// How long an instance waits for another instance's lease of [`SingleFlight::Cluster`]
    /// before it runs the loader itself. Default 5 s ([`DEFAULT_LEASE_WAIT`]); from 1 ms to 1
    /// hour. Set it above the loader's usual duration. The waiter is woken by the holder's
    /// release (a message on `<namespace>%:lease`) and, should that be lost, polls Redis (one
    /// script per poll; first after 1 ms, backing off to one every 20 ms, jittered).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = perf_cache::Cache::<u8>::builder().lease_wait(Duration::from_millis(500));
    /// # drop(b);
    /// ```
    pub fn lease_wait(mut self, wait: Duration) -> Self {
        self.flight.lease_wait = wait;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_lease_settings_name_their_field() {
        let mut s = FlightSettings {
            lease_ttl: Duration::from_millis(5),
            ..FlightSettings::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(
            e.contains("lease_ttl") && e.contains("10 ms..=1 hour"),
            "{e}"
        );
        s.lease_ttl = DEFAULT_LEASE_TTL;
        s.lease_wait = Duration::ZERO;
        let e = s.validate().unwrap_err().to_string();
        assert!(
            e.contains("lease_wait") && e.contains("1 ms..=1 hour"),
            "{e}"
        );
        s.lease_wait = DEFAULT_LEASE_WAIT;
        assert!(s.validate().is_ok());
    }
}
