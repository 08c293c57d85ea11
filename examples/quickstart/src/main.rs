//! What it shows: the two perf-async helpers a service reaches for first.
//!
//! - `run_parallel`: fan out over many futures with at most N in flight, results in input order
//!   (the seed's `run_parallel(tasks, max_concurrent=10)`);
//! - `batch_process`: process items with at most N at once, with a sliding window instead of the
//!   seed's barrier per batch (`batch_process(items, processor, batch_size=100)`).
//!
//! Run with: `cargo run -p quickstart`
//!
//! The full example service that composes every perf crate arrives with a later issue.

use std::time::{Duration, Instant};

use perf_async::{batch_process, run_parallel};

/// Stands in for an HTTP call or a query: waits, then answers.
async fn fetch_price(product: u32) -> u32 {
    tokio::time::sleep(Duration::from_millis(20)).await;
    product * 100
}

#[tokio::main]
async fn main() -> perf_async::Result<()> {
    let products: Vec<u32> = (1..=40).collect();

    let started = Instant::now();
    let prices = run_parallel(products.iter().map(|&p| fetch_price(p)), 10).await?;
    println!(
        "run_parallel: {} prices, at most 10 at once, in {:?} (first {}, last {})",
        prices.len(),
        started.elapsed(),
        prices[0],
        prices[prices.len() - 1],
    );

    // Every 10th item is slow; the others keep flowing around it.
    let started = Instant::now();
    let totals = batch_process(products, 8, |product| async move {
        let wait = if product % 10 == 0 { 100 } else { 10 };
        tokio::time::sleep(Duration::from_millis(wait)).await;
        product * 2
    })
    .await?;
    println!(
        "batch_process: {} items, at most 8 at once, in {:?}, results in input order: {:?}",
        totals.len(),
        started.elapsed(),
        &totals[..5],
    );
    Ok(())
}
