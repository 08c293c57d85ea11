//! Helpers shared by the integration tests: service URLs, a PostgreSQL schema per test, and a
//! tracing layer that captures log events.
#![allow(dead_code, unreachable_pub)]

pub mod explain;
pub mod metrics;
pub mod rows;

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

pub fn pg_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn mysql_url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// A random lowercase suffix for schema names and keys.
pub fn random_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let h = RandomState::new().hash_one(nanos);
    format!("{h:016x}")
}

/// A PostgreSQL schema created for one test and dropped when this value is dropped (also when
/// the test panics).
pub struct PgSchema {
    pub name: String,
}

impl PgSchema {
    pub async fn create() -> Self {
        let name = format!("perf_db_test_{}", random_suffix());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&pg_url())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL at {} is unreachable: {e}",
                    perf_db::redact_url(&pg_url())
                )
            });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        Self { name }
    }

    /// Connect options hook setting this schema as `search_path`.
    pub fn search_path(
        &self,
    ) -> impl FnOnce(sqlx::postgres::PgConnectOptions) -> sqlx::postgres::PgConnectOptions + use<>
    {
        let name = self.name.clone();
        move |o| o.options([("search_path", name)])
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&pg_url()).await
                {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {name} CASCADE"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// One captured log event.
#[derive(Debug, Clone)]
pub struct Captured {
    pub level: Level,
    pub target: String,
    /// `message` plus every field as `name=value`, space separated.
    pub text: String,
}

#[derive(Clone, Default)]
pub struct Capture {
    events: Arc<Mutex<Vec<Captured>>>,
    spans: Arc<Mutex<Vec<(String, String)>>>,
}

struct SpanFields(String);

impl Capture {
    /// Installs a capturing subscriber (registry + this layer) for the current thread.
    pub fn install() -> (Self, tracing::subscriber::DefaultGuard) {
        // A global subscriber that enables everything keeps tracing's per-callsite interest
        // cache from settling on "never" while another test thread has no subscriber.
        static GLOBAL: std::sync::Once = std::sync::Once::new();
        GLOBAL.call_once(|| {
            let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
        });
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        let guard = tracing::subscriber::set_default(subscriber);
        (capture, guard)
    }

    pub fn events(&self) -> Vec<Captured> {
        self.events.lock().unwrap().clone()
    }

    pub fn with_target(&self, target: &str) -> Vec<Captured> {
        self.events()
            .into_iter()
            .filter(|e| e.target == target)
            .collect()
    }

    /// Closed spans as (name, recorded fields).
    pub fn closed_spans(&self) -> Vec<(String, String)> {
        self.spans.lock().unwrap().clone()
    }

    pub fn all_text(&self) -> String {
        self.events()
            .iter()
            .map(|e| e.text.clone())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, "{}={} ", field.name(), value);
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = Fields(String::new());
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.0));
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        let mut fields = Fields(String::new());
        values.record(&mut fields);
        if let Some(span) = ctx.span(id)
            && let Some(existing) = span.extensions_mut().get_mut::<SpanFields>()
        {
            existing.0.push_str(&fields.0);
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            let fields = span
                .extensions()
                .get::<SpanFields>()
                .map(|f| f.0.clone())
                .unwrap_or_default();
            self.spans
                .lock()
                .unwrap()
                .push((span.name().to_string(), fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.events.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_string(),
            text: fields.0,
        });
    }
}

/// Polls `check` every 20 ms until it returns true, for at most `limit`.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
