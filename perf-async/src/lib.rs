//! Bounded-concurrency helpers for tokio services: the seeds' Python `run_parallel` and
//! `batch_process`, done right.
//!
//! | you want | use |
//! |---|---|
//! | run futures, at most N at once, outputs in input order | [`run_parallel`] |
//! | process items, at most N at once, no per-batch barrier | [`batch_process`] |
//! | process whole chunks (`Vec<T>`), several in flight | [`process_chunks`] |
//! | cut a stream into chunks by size or deadline | [`ChunksTimeoutExt::chunks_timeout`] |
//! | timeouts, retries with backoff, progress, fail-fast or collect-all, spawned tasks | [`Parallel`] |
//! | say which failures are retried, and hear about each retry | [`RetryIf`] |
//! | find polls that block the executor thread | [`DetectBlockingExt::detect_blocking`] |
//!
//! Everything keeps results in input order and admits the next task as soon as *any* running
//! task finishes; nothing waits for the slowest task of a batch, and a slow first task never
//! holds back the others (the head-of-line trap of `futures`' `buffered`).
//!
//! # Execution modes
//! Chosen explicitly on [`Parallel`]:
//! - [`Parallel::local`]: futures are polled inside the caller's task. They may borrow local
//!   data and need not be `Send` or `'static`. Concurrency, not parallelism.
//! - [`Parallel::spawned`]: each task is a tokio task on the worker threads. At most
//!   `max_concurrent` tasks *exist* at once (the place is taken before spawning), a panic
//!   becomes that task's [`Error::Panicked`], dropping the returned future aborts every
//!   task still running, and each task runs inside the caller's current `tracing` span (as
//!   local tasks do), so logs and per-request tooling keep the request's context.
//!
//! # Failure handling
//! Chosen by the method you call, so the return type matches: `try_run*` is fail-fast (the
//! first failure stops admission, the running tasks are dropped or aborted, and the error comes
//! back with the task's index), `collect*` runs everything and returns one `Result` per task.
//! Retrying (`*_retrying`) takes task *factories* (`FnMut() -> Future`), since a failed future
//! cannot be polled again, and a [`RetryIf`] that says which failures are worth another attempt
//! ([`RetryIf::always`] or a predicate; a unique violation or a `4xx` is not) and can hear
//! about each retry.
//!
//! ```
//! use std::time::Duration;
//! use perf_async::{Parallel, RetryIf, RetryPolicy, batch_process, run_parallel};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Python: results = await run_parallel(tasks, max_concurrent=10)
//! let urls = ["a", "b", "c"];
//! let pages = run_parallel(urls.iter().map(|url| async move { format!("<{url}>") }), 10).await?;
//! assert_eq!(pages, ["<a>", "<b>", "<c>"]);
//!
//! // Python: results = await batch_process(items, processor, batch_size=100)
//! let doubled = batch_process(0..1000, 100, |n| async move { n * 2 }).await?;
//! assert_eq!(doubled[999], 1998);
//!
//! // Timeout, retries and progress, fail-fast, on spawned tasks:
//! let parallel = Parallel::builder()
//!     .max_concurrent(10)
//!     .timeout(Duration::from_secs(2))
//!     .retry(RetryPolicy::exponential().max_retries(3))
//!     .on_progress(|done, total| println!("{done}/{total}"))
//!     .build()?;
//! let ids = (0..20u32).map(|id| move || async move { Ok::<_, std::io::Error>(id * 10) });
//! let values = parallel.spawned().try_run_retrying(ids, RetryIf::always()).await?;
//! assert_eq!(values.len(), 20);
//! # Ok(())
//! # }
//! ```
//!
//! # Metrics
//! With the `metrics` feature, [`DetectBlocking`] increments the counter
//! `async_slow_polls_total` (no labels) through the `metrics` facade for each slow poll. This
//! crate never installs a recorder. No other metric is emitted.
//!
//! # Features
//! - `metrics` (off by default): emit `async_slow_polls_total`.

mod batch;
pub mod blocking;
mod chunks;
mod chunks_timeout;
mod drive;
mod error;
mod local;
mod outcome;
mod parallel;
mod retry;
mod retry_if;
mod run_parallel;
mod spawned;
mod task;

pub use crate::batch::batch_process;
pub use crate::blocking::{DEFAULT_THRESHOLD, DetectBlocking, DetectBlockingExt};
pub use crate::chunks::process_chunks;
pub use crate::chunks_timeout::{ChunksTimeout, ChunksTimeoutExt, MAX_CHUNK_BYTES};
pub use crate::error::{Error, Result};
pub use crate::local::Local;
pub use crate::parallel::{Parallel, ParallelBuilder};
pub use crate::retry::RetryPolicy;
pub use crate::retry_if::RetryIf;
pub use crate::run_parallel::run_parallel;
pub use crate::spawned::Spawned;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
