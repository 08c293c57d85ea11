//! Per-thread shard selection shared by the windowed and exported histograms.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

thread_local! {
    static SHARD_SEED: Cell<usize> = const { Cell::new(usize::MAX) };
}
static NEXT_SHARD_SEED: AtomicUsize = AtomicUsize::new(0);

/// Shards per series: one per core, a power of two, at most 4.
pub(crate) fn shard_count() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    cores.next_power_of_two().min(4)
}

/// A per-thread number, assigned round-robin on first use; mask it with `shards - 1`.
#[inline]
pub(crate) fn shard_seed() -> usize {
    SHARD_SEED.with(|seed| {
        let value = seed.get();
        if value != usize::MAX {
            return value;
        }
        let value = NEXT_SHARD_SEED.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
        seed.set(value);
        value
    })
}
