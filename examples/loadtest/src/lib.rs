//! What it shows: the seeds' Locust scenario (`tests/load/locustfile.py` in seeds 001) as a Rust
//! load generator for `scan-service`. Each virtual user logs in once
//! (`POST /api/auth/login`), then loops picking a task by weight: view the list ×3
//! (`GET /api/scans?page=P&page_size=50`, `P` Zipf-distributed over a few pages, sometimes with a
//! `target` or `status` filter), view one scan ×2 (`GET /api/scans/{id}`, `id` Zipf-distributed
//! over `1..=--ids`), create a scan ×1 (`POST /api/scans` with a random valid target).
//!
//! It reports requests per second, p50/p95/p99/max latency (overall and per task, from
//! HdrHistogram), errors counted by kind (timeouts, connect errors, other transport errors,
//! 429, other 4xx, 5xx) and by status, and the service's cache hit rate *during the run* (the
//! difference of `GET /api/v1/performance/cache/stats` read before and after). With `--out DIR`
//! it writes `loadtest.json` and `loadtest.svg` (latency percentiles and RPS per second).
//!
//! Run it against a running service:
//!
//! ```text
//! cargo run -p scan-service --release -- --seed 10000 &
//! cargo run -p loadtest --release -- --users 100 --duration 30s --out target/loadtest
//! # only the cached read, as the benchmarks do:
//! cargo run -p loadtest --release -- --mix view_one=1 --users 256 --duration 20s
//! # Locust's `wait_time = between(1, 3)`:
//! cargo run -p loadtest --release -- --think-time 1s..3s --users 1000 --ramp-up 100
//! ```
//!
//! Exit codes: 0 when the run completed; 1 when `--max-error-rate` was exceeded; 2 when the
//! service could not be reached, the first login failed, or an option was invalid.
//!
//! # Why a hand-rolled hyper client and not goose
//!
//! [goose](https://docs.rs/goose) is the Rust Locust and the right pick for a richer scenario
//! DSL (task sets, sequences, a web UI, distributed workers). This scenario is three requests,
//! and goose brings reqwest, a TLS stack and its own reporting: a much longer cold build on the
//! 2-core CI machine and many more dependencies to keep up to date. A lean hyper 1 client
//! (hyper-util's `client-legacy`, one keep-alive connection pool shared by every user) adds
//! almost nothing to the workspace's build, since axum already pulls in hyper, and it gives
//! exact per-request timing: the clock starts right before the request is handed to the pool
//! and stops when the whole response body has arrived.
//!
//! # What is measured, and what is not
//!
//! Users run a closed loop (each waits for its answer before the next request, plus the
//! optional think time), like Locust. A closed loop under-reports latency when the service
//! stalls (coordinated omission): a stalled user sends nothing while it waits. Latency covers
//! every request that got an answer, errors included; timeouts and transport failures are
//! counted but carry no latency. Logins count in the totals and appear as the task `login`.
//!
//! The generator's own cost: against nginx answering a fixed JSON body on loopback, 64 users
//! of `--mix view_one=1` cost 15.6 µs of CPU per request where `wrk -t2 -c64` costs 5.4 µs
//! (medians of 3 interleaved 5 s runs on the shared 2-core machine; the range was 13.4–16.8 µs
//! against 4.8–6.2 µs). On the same cores as the service, it therefore takes more CPU from the
//! service than wrk does: use wrk for a service's peak RPS, this load test for the scenario's
//! mix, its per-task figures and the cache hit rate, and compare services within one run.

pub mod args;
pub mod cache;
pub mod chart;
pub mod client;
pub mod ids;
pub mod report;
pub mod run;
pub mod scenario;
pub mod stats;
