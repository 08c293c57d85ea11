//! A bounded, lock-free histogram over a sliding time window.
//!
//! The window is a ring of `slots` time slots; the upkeep thread (and every snapshot) advances
//! the ring, clearing the slot it reuses. Each slot holds one log-linear bucket array per shard;
//! a recording thread always writes to the same shard, so two cores recording into one series do
//! not bounce a cache line between them. Recording reads no clock: it only loads the current
//! slot index, so its cost is a thread-local read, a bucket computation and one uncontended
//! atomic add.
//!
//! Memory per series is bounded: each slot and shard has a fixed table of one lazily allocated
//! 64-byte block of counters per octave ([`buckets::OCTAVES`] octaves, 2^-40 to 2^40), allocated
//! the first time a value lands in that octave and kept (reused) from then on. A latency series
//! spanning 1 ms – 10 s uses 14 octaves: about 2.4 KiB per slot and shard; the bound, every octave
//! used, is about 6.5 KiB per slot and shard.
//!
//! perf-db keeps its own cumulative `hdrhistogram`-behind-a-mutex per statement instead of this
//! one; `benches/benches/histogram_designs.rs` compares the two (see perf-db's `histogram.rs`).

mod buckets;

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub(crate) use buckets::BUCKETS;
use buckets::{OCTAVES, PER_OCTAVE};

/// One octave's counters, allocated on first use.
type Octave = OnceLock<Box<[AtomicU32; PER_OCTAVE]>>;

/// Counter cells outside the octaves per block: underflow, overflow.
const EDGES: usize = 2;

use crate::shard::{shard_count, shard_seed};

/// Distance between two shards' maximum cells, in `u64`s (one cache line).
const MAX_STRIDE: usize = 8;

/// Window geometry shared by every series of one recorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowConfig {
    pub(crate) slot: Duration,
    pub(crate) slots: usize,
    pub(crate) shards: usize,
}

impl WindowConfig {
    /// `window` split into `slots` slots, with one shard per core (a power of two, at most 4).
    pub(crate) fn new(window: Duration, slots: usize) -> Self {
        let slots = slots.max(1);
        let divisor = u32::try_from(slots).unwrap_or(u32::MAX);
        Self {
            slot: (window / divisor).max(Duration::from_millis(1)),
            slots,
            shards: shard_count(),
        }
    }

    /// Bytes one series holds before any value is recorded.
    #[cfg(test)]
    pub(crate) fn base_bytes_per_series(&self) -> usize {
        self.slots
            * self.shards
            * (OCTAVES * size_of::<Octave>()
                + EDGES * size_of::<AtomicU32>()
                + MAX_STRIDE * size_of::<AtomicU64>())
    }

    /// The most bytes one series can hold (every octave of every slot and shard in use).
    #[cfg(test)]
    pub(crate) fn max_bytes_per_series(&self) -> usize {
        self.base_bytes_per_series()
            + self.slots * self.shards * OCTAVES * size_of::<[AtomicU32; PER_OCTAVE]>()
    }
}

/// Statistics of one series over the current window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct WindowStats {
    pub(crate) count: u64,
    pub(crate) window: Duration,
    pub(crate) rate_per_second: f64,
    pub(crate) p50: Option<f64>,
    pub(crate) p95: Option<f64>,
    pub(crate) p99: Option<f64>,
    pub(crate) max: Option<f64>,
}

#[derive(Debug)]
struct SlotClock {
    origin: Instant,
    epoch: u64,
}

/// One series' sliding-window histogram.
#[derive(Debug)]
pub(crate) struct WindowedHistogram {
    /// `OCTAVES` lazily allocated octaves per block (slot × shard).
    octaves: Box<[Octave]>,
    /// Underflow and overflow counts per block.
    edges: Box<[AtomicU32]>,
    maxima: Box<[AtomicU64]>,
    current: AtomicUsize,
    config: WindowConfig,
    shard_mask: usize,
    clock: Mutex<SlotClock>,
}

impl WindowedHistogram {
    pub(crate) fn new(config: WindowConfig, now: Instant) -> Self {
        let blocks = config.slots * config.shards;
        Self {
            octaves: (0..blocks * OCTAVES).map(|_| OnceLock::new()).collect(),
            edges: (0..blocks * EDGES).map(|_| AtomicU32::new(0)).collect(),
            maxima: (0..blocks * MAX_STRIDE)
                .map(|_| AtomicU64::new(0))
                .collect(),
            current: AtomicUsize::new(0),
            shard_mask: config.shards.next_power_of_two() - 1,
            config,
            clock: Mutex::new(SlotClock {
                origin: now,
                epoch: 0,
            }),
        }
    }

    /// Records one value (seconds).
    #[inline]
    pub(crate) fn record(&self, value: f64) {
        let slot = self.current.load(Ordering::Relaxed);
        let block = slot * self.config.shards + (shard_seed() & self.shard_mask);
        if let Some(cell) = self.cell(block, buckets::index_of(value)) {
            cell.fetch_add(1, Ordering::Relaxed);
        }
        // Non-negative f64s order like their bit patterns, so an integer max is a float max.
        if value > 0.0
            && let Some(max) = self.maxima.get(block * MAX_STRIDE)
        {
            let bits = value.to_bits();
            if bits > max.load(Ordering::Relaxed) {
                max.fetch_max(bits, Ordering::Relaxed);
            }
        }
    }

    /// The counter of bucket `index` in `block`, allocating its octave on first use.
    #[inline]
    fn cell(&self, block: usize, index: usize) -> Option<&AtomicU32> {
        if index == 0 || index >= BUCKETS - 1 {
            let edge = usize::from(index != 0);
            return self.edges.get(block * EDGES + edge);
        }
        let k = index - 1;
        let octave = self.octaves.get(block * OCTAVES + k / PER_OCTAVE)?;
        let counters = octave.get_or_init(|| Box::new(std::array::from_fn(|_| AtomicU32::new(0))));
        counters.get(k % PER_OCTAVE)
    }

    /// Advances the ring to `now`, clearing the slots it reuses.
    pub(crate) fn rotate(&self, now: Instant) {
        let mut clock = self
            .clock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.rotate_locked(&mut clock, now);
    }

    fn rotate_locked(&self, clock: &mut SlotClock, now: Instant) {
        let epoch = self.epoch_at(clock, now);
        if epoch > clock.epoch {
            let slots = u64::try_from(self.config.slots).unwrap_or(u64::MAX);
            let steps = (epoch - clock.epoch).min(slots);
            for e in (epoch + 1 - steps)..=epoch {
                self.clear_slot(self.slot_of(e));
            }
            self.current.store(self.slot_of(epoch), Ordering::Relaxed);
            clock.epoch = epoch;
        }
    }

    fn epoch_at(&self, clock: &SlotClock, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(clock.origin).as_nanos();
        let slot = self.config.slot.as_nanos().max(1);
        u64::try_from(elapsed / slot).unwrap_or(u64::MAX)
    }

    fn slot_of(&self, epoch: u64) -> usize {
        let slots = u64::try_from(self.config.slots).unwrap_or(u64::MAX);
        usize::try_from(epoch % slots).unwrap_or(0)
    }

    fn clear_slot(&self, slot: usize) {
        let shards = self.config.shards;
        let blocks = slot * shards..(slot + 1) * shards;
        for octave in &self.octaves[blocks.start * OCTAVES..blocks.end * OCTAVES] {
            for cell in octave.get().into_iter().flat_map(|c| c.iter()) {
                cell.store(0, Ordering::Relaxed);
            }
        }
        for cell in &self.edges[blocks.start * EDGES..blocks.end * EDGES] {
            cell.store(0, Ordering::Relaxed);
        }
        for block in blocks {
            self.maxima[block * MAX_STRIDE].store(0, Ordering::Relaxed);
        }
    }

    /// Count, rate, percentiles and maximum over the window ending at `now`.
    pub(crate) fn stats(&self, now: Instant) -> WindowStats {
        let (covered, window) = {
            let mut clock = self
                .clock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.rotate_locked(&mut clock, now);
            let elapsed = now.saturating_duration_since(clock.origin);
            let slot = self.config.slot;
            let full_slots = u32::try_from(self.config.slots - 1).unwrap_or(u32::MAX);
            let into_current = elapsed.as_nanos() % slot.as_nanos().max(1);
            let into_current = Duration::from_nanos(u64::try_from(into_current).unwrap_or(0));
            let covered = elapsed.min(slot.saturating_mul(full_slots) + into_current);
            (covered, slot.saturating_mul(full_slots + 1))
        };

        let mut merged = vec![0u64; BUCKETS];
        for (block, octaves) in self.octaves.chunks_exact(OCTAVES).enumerate() {
            for (o, octave) in octaves.iter().enumerate() {
                let Some(counters) = octave.get() else {
                    continue;
                };
                let base = 1 + o * PER_OCTAVE;
                for (total, cell) in merged[base..base + PER_OCTAVE]
                    .iter_mut()
                    .zip(counters.iter())
                {
                    *total += u64::from(cell.load(Ordering::Relaxed));
                }
            }
            merged[0] += u64::from(self.edges[block * EDGES].load(Ordering::Relaxed));
            merged[BUCKETS - 1] += u64::from(self.edges[block * EDGES + 1].load(Ordering::Relaxed));
        }
        let max_bits = self
            .maxima
            .iter()
            .step_by(MAX_STRIDE)
            .map(|m| m.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        let max = f64::from_bits(max_bits);
        let count: u64 = merged.iter().sum();
        let seconds = covered.as_secs_f64();
        let rate_per_second = if seconds > 0.0 {
            count as f64 / seconds
        } else {
            0.0
        };
        let quantile = |q: f64| quantile(&merged, count, max, q);
        WindowStats {
            count,
            window,
            rate_per_second,
            p50: quantile(0.50),
            p95: quantile(0.95),
            p99: quantile(0.99),
            max: (count > 0).then_some(max),
        }
    }

    /// Bytes of counter storage this series holds: the fixed tables plus the octaves allocated
    /// so far (never more than every octave of every block).
    pub(crate) fn memory_bytes(&self) -> usize {
        let allocated = self.octaves.iter().filter(|o| o.get().is_some()).count();
        self.octaves.len() * size_of::<Octave>()
            + allocated * size_of::<[AtomicU32; PER_OCTAVE]>()
            + self.edges.len() * size_of::<AtomicU32>()
            + self.maxima.len() * size_of::<AtomicU64>()
    }
}

/// The `q` quantile of the merged buckets: the representative of the bucket holding the
/// `ceil(q × count)`-th smallest value, never above the exact maximum.
fn quantile(merged: &[u64], count: u64, max: f64, q: f64) -> Option<f64> {
    if count == 0 {
        return None;
    }
    let rank = (q * count as f64).ceil().max(1.0);
    let mut seen = 0u64;
    for (index, n) in merged.iter().enumerate() {
        seen += n;
        if seen as f64 >= rank {
            let value = if index == 0 {
                // Zero, or below 2^-40 (negatives included): reported as zero.
                0.0
            } else if index == BUCKETS - 1 {
                max
            } else {
                buckets::representative(index)
            };
            return Some(value.min(max));
        }
    }
    Some(max)
}

#[cfg(test)]
mod tests;
