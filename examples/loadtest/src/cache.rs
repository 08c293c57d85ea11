//! The service's cache hit rate during the run: `GET /api/v1/performance/cache/stats` read
//! before and after, and the difference of its lifetime counters.

use http::Method;
use serde::{Deserialize, Serialize};

use crate::client::{Exchange, HttpClient};

/// Path of the service's cache statistics.
pub const CACHE_STATS_PATH: &str = "/api/v1/performance/cache/stats";

/// The lifetime counters read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheCounters {
    /// Cache hits since the service started (or its stats were reset).
    pub hits: u64,
    /// Cache misses since then.
    pub misses: u64,
}

impl CacheCounters {
    /// Parses the contract's `{"enabled":true,"stats":{"hits":..,"misses":..,..}}`; a body with
    /// `hits`/`misses` at the top level is accepted too.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Envelope {
            stats: Option<CacheCounters>,
            hits: Option<u64>,
            misses: Option<u64>,
        }
        let env: Envelope =
            serde_json::from_slice(body).map_err(|e| format!("cache stats are not JSON: {e}"))?;
        match (env.stats, env.hits, env.misses) {
            (Some(stats), _, _) => Ok(stats),
            (None, Some(hits), Some(misses)) => Ok(CacheCounters { hits, misses }),
            _ => Err("cache stats have no `stats.hits` and `stats.misses`".to_owned()),
        }
    }

    /// Reads the counters from the service.
    pub async fn fetch(client: &HttpClient) -> (Exchange, Result<Self, String>) {
        let exchange = client
            .send(Method::GET, CACHE_STATS_PATH, None, None, None)
            .await;
        let counters = match (exchange.is_success(), exchange.body()) {
            (true, Some(body)) => Self::parse(body),
            _ => Err(exchange.describe()),
        };
        (exchange, counters)
    }
}

/// The cache's work during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheDelta {
    /// Counters before the first user started.
    pub before: CacheCounters,
    /// Counters after the last user stopped.
    pub after: CacheCounters,
    /// Hits during the run.
    pub hits: u64,
    /// Misses during the run.
    pub misses: u64,
    /// `hits / (hits + misses)` during the run; `None` when the run looked nothing up.
    pub hit_ratio: Option<f64>,
    /// The same as a percentage with two decimals (`"81.65%"`), like the service's `hit_rate`.
    pub hit_rate: Option<String>,
    /// True when a counter went down (the service restarted or its stats were cleared during
    /// the run): the difference is then a lower bound.
    pub counters_reset: bool,
}

impl CacheDelta {
    /// The difference between two readings.
    pub fn between(before: CacheCounters, after: CacheCounters) -> Self {
        let counters_reset = after.hits < before.hits || after.misses < before.misses;
        let hits = after.hits.saturating_sub(before.hits);
        let misses = after.misses.saturating_sub(before.misses);
        let lookups = hits + misses;
        // Counts far below 2^53: the division is exact enough.
        #[allow(clippy::cast_precision_loss)]
        let hit_ratio = (lookups > 0).then(|| hits as f64 / lookups as f64);
        CacheDelta {
            before,
            after,
            hits,
            misses,
            hit_ratio,
            hit_rate: hit_ratio.map(|r| format!("{:.2}%", r * 100.0)),
            counters_reset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_contract_shape() {
        let body = br#"{"enabled":true,"stats":{"size":245,"max_size":100000,"hits":1523,
            "misses":342,"hit_rate":"81.65%","hit_ratio":0.8165,"total_requests":1865}}"#;
        assert_eq!(
            CacheCounters::parse(body).unwrap(),
            CacheCounters {
                hits: 1523,
                misses: 342
            }
        );
        assert_eq!(
            CacheCounters::parse(br#"{"hits":1,"misses":2}"#).unwrap(),
            CacheCounters { hits: 1, misses: 2 }
        );
        assert!(CacheCounters::parse(br#"{"enabled":false}"#).is_err());
        assert!(CacheCounters::parse(b"<html>").is_err());
    }

    #[test]
    fn delta_is_over_the_run_not_the_lifetime() {
        // Lifetime 50 %; during the run 900 hits and 100 misses: 90 %.
        let d = CacheDelta::between(
            CacheCounters {
                hits: 5_000,
                misses: 5_000,
            },
            CacheCounters {
                hits: 5_900,
                misses: 5_100,
            },
        );
        assert_eq!((d.hits, d.misses), (900, 100));
        assert_eq!(d.hit_ratio, Some(0.9));
        assert_eq!(d.hit_rate.as_deref(), Some("90.00%"));
        assert!(!d.counters_reset);
    }

    #[test]
    fn delta_without_lookups_or_after_a_reset() {
        let same = CacheCounters {
            hits: 10,
            misses: 5,
        };
        let d = CacheDelta::between(same, same);
        assert_eq!(d.hit_ratio, None);
        assert_eq!(d.hit_rate, None);
        let d = CacheDelta::between(same, CacheCounters { hits: 3, misses: 9 });
        assert!(d.counters_reset);
        assert_eq!((d.hits, d.misses), (0, 4));
    }
}
