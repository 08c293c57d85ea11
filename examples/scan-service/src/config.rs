//! The service's configuration: command-line flags, each with an environment variable.

use std::net::IpAddr;
use std::time::Duration;

use clap::Parser;

/// scan-service's configuration. Every flag can also be given through the environment variable
/// named beside it; with no `DATABASE_URL` and no `REDIS_URL` the service runs embedded
/// (a SQLite file and an in-process cache) and needs no server.
#[derive(Clone, Parser)]
#[command(name = "scan-service", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// Port to listen on; 0 picks a free one (the chosen port is printed on stdout).
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,

    /// Database: `postgres://…` for the full stack, `sqlite://…` for the embedded mode.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://scan-service.db?mode=rwc",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Redis for the shared cache tier, the invalidation bus and sessions; unset: in-process.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Cache namespace in Redis (keys `<namespace>:…`); instances that share it share entries.
    #[arg(long, env = "CACHE_NAMESPACE", default_value = "scan-service")]
    pub cache_namespace: String,

    /// Serve reads straight from the database (the uncached benchmark); the cache is still built.
    #[arg(long, env = "CACHE_DISABLED", default_value_t = false)]
    pub cache_disabled: bool,

    /// Insert this many generated scans before serving (default: 10,000 when the table is
    /// empty, else none).
    #[arg(long, env = "SEED")]
    pub seed: Option<u64>,

    /// Insert the seed data, then exit without serving.
    #[arg(long, default_value_t = false)]
    pub seed_only: bool,

    /// Scans loaded into the cache at start-up, before `/health` reports ready.
    #[arg(long, env = "WARM_SCANS", default_value_t = 1_000)]
    pub warm_scans: usize,

    /// Requests per second allowed per client (session, else peer address); 0 disables.
    #[arg(long, env = "RATE_LIMIT_PER_SECOND", default_value_t = 100)]
    pub rate_limit_per_second: u32,

    /// Burst allowed per client above the steady rate.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 200)]
    pub rate_limit_burst: u32,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// Session lifetime (e.g. `1h`, `30m`).
    #[arg(long, env = "SESSION_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub session_ttl: Duration,

    /// The demo account's e-mail.
    #[arg(long, env = "SCAN_SERVICE_USER", default_value = "test@example.com")]
    pub user: String,

    /// The demo account's password.
    #[arg(
        long,
        env = "SCAN_SERVICE_PASSWORD",
        default_value = "password123",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub password: String,

    /// Name of this instance in metrics and logs (default: host name and pid).
    #[arg(long, env = "INSTANCE")]
    pub instance: Option<String>,
}

impl Config {
    /// Whether the database is PostgreSQL (else SQLite).
    #[must_use]
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://")
    }
}

/// Passwords never reach logs: URLs are redacted and the demo password is not shown.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("database_url", &perf_db::redact_url(&self.database_url))
            .field(
                "redis_url",
                &self.redis_url.as_deref().map(perf_cache::redact_url),
            )
            .field("cache_namespace", &self.cache_namespace)
            .field("cache_disabled", &self.cache_disabled)
            .field("seed", &self.seed)
            .field("warm_scans", &self.warm_scans)
            .field("rate_limit_per_second", &self.rate_limit_per_second)
            .field("rate_limit_burst", &self.rate_limit_burst)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("session_ttl", &self.session_ttl)
            .field("user", &self.user)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}
