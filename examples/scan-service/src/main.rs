//! scan-service: the example service that composes every perf crate. See the library's docs
//! (`cargo doc -p scan-service --open`) for what it shows; run it with
//! `cargo run -p scan-service` (no servers needed) or with `DATABASE_URL` and `REDIS_URL` set.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let config = scan_service::Config::parse();
    scan_service::telemetry::init_tracing();
    match scan_service::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scan-service: {e}");
            ExitCode::FAILURE
        }
    }
}
