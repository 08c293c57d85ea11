//! Start-up: database, migrations, seed data, cache, sessions, metrics; then serve until
//! Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use tokio::net::TcpListener;

use crate::auth::Sessions;
use crate::config::Config;
use crate::db::Db;
use crate::state::AppState;

/// Why the service could not start. Each message names what failed; URLs are redacted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The database could not be reached, migrated or seeded.
    #[error("database: {0}")]
    Database(String),
    /// The cache backend (Redis) could not be set up.
    #[error("cache: {0}")]
    Cache(#[from] perf_cache::Error),
    /// The metrics recorder could not be installed.
    #[error("metrics: {0}")]
    Metrics(#[from] perf_metrics::Error),
    /// The listening socket could not be opened, or serving failed.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Runs the service with `config` until Ctrl-C or SIGTERM.
///
/// # Errors
/// [`StartError`] when a dependency cannot be set up or the port cannot be bound.
pub async fn run(config: Config) -> Result<(), StartError> {
    let metrics = crate::telemetry::install_metrics(&config)?;
    let db = Db::connect(&config).await?;
    db.migrate().await?;
    crate::seed::seed_at_start(&db, &config).await?;
    if config.seed_only {
        db.close().await;
        return Ok(());
    }
    let cache = crate::cache_setup::build_backend(&config).await?;
    let sessions = Sessions::build(&config).await?;
    let state = AppState::new(crate::state::Shared {
        config: Arc::new(config),
        db,
        cache,
        sessions,
        metrics,
        ready: Arc::new(AtomicBool::new(false)),
        started: Instant::now(),
    });
    let addr = SocketAddr::new(state.config.bind, state.config.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| StartError::Listen { addr, source })?;
    // One line on stdout, so scripts and tests started with `--port 0` learn the port.
    println!("listening on http://{local}");
    tokio::spawn(crate::warm::warm(state.clone()));
    let app = crate::app::router(state.clone());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|source| StartError::Listen { addr, source })?;
    state.db.close().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
