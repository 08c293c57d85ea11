//! Metric handles that bind to the recorder once one is installed.
//!
//! A `metrics` handle binds to the recorder current when it is registered; handles registered
//! before the application installed its recorder go to the no-op recorder for good. A pool is
//! often built before the exporter (or in a library that does not know), and then recorded
//! nothing, silently. These handles bind at once when a recorder is installed (the common case:
//! one branch more per use), else they keep what they are given (counter increments, the last
//! gauge value; histogram samples are dropped) and bind, replaying it, at their first use after
//! a recorder appears (the pool's maintenance task uses the gauges every second).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata};

static METADATA: Metadata<'static> = Metadata::new("perf_db", Level::INFO, Some("perf_db"));

/// Whether a recorder (thread-local or global) is installed. `metrics` has no query for this;
/// its fallback, the no-op recorder, is zero-sized, and no recorder that records anything is.
pub(crate) fn recorder_installed() -> bool {
    metrics::with_recorder(|recorder| size_of_val(recorder) != 0)
}

/// A handle bound at creation, or the key to bind it with later.
#[derive(Debug)]
enum Binding<H> {
    Bound(H),
    Late { key: Key, handle: OnceLock<H> },
}

impl<H> Binding<H> {
    fn new(
        name: &'static str,
        labels: Vec<Label>,
        register: impl FnOnce(&dyn metrics::Recorder, &Key) -> H,
    ) -> Self {
        let key = Key::from_parts(name, labels);
        if recorder_installed() {
            Self::Bound(metrics::with_recorder(|r| register(r, &key)))
        } else {
            Self::Late {
                key,
                handle: OnceLock::new(),
            }
        }
    }

    /// The bound handle, binding it now if a recorder appeared (`replay` runs once, on it).
    fn get(
        &self,
        register: impl FnOnce(&dyn metrics::Recorder, &Key) -> H,
        replay: impl FnOnce(&H),
    ) -> Option<&H> {
        match self {
            Self::Bound(handle) => Some(handle),
            Self::Late { key, handle } => {
                if let Some(handle) = handle.get() {
                    return Some(handle);
                }
                if !recorder_installed() {
                    return None;
                }
                Some(handle.get_or_init(|| {
                    let bound = metrics::with_recorder(|r| register(r, key));
                    replay(&bound);
                    bound
                }))
            }
        }
    }
}

fn counter(r: &dyn metrics::Recorder, key: &Key) -> Counter {
    r.register_counter(key, &METADATA)
}
fn gauge(r: &dyn metrics::Recorder, key: &Key) -> Gauge {
    r.register_gauge(key, &METADATA)
}
fn histogram(r: &dyn metrics::Recorder, key: &Key) -> Histogram {
    r.register_histogram(key, &METADATA)
}

/// A counter that keeps its count until a recorder is installed.
#[derive(Debug)]
pub(crate) struct LateCounter {
    binding: Binding<Counter>,
    kept: AtomicU64,
}

impl LateCounter {
    pub(crate) fn new(name: &'static str, labels: Vec<Label>) -> Self {
        Self {
            binding: Binding::new(name, labels, counter),
            kept: AtomicU64::new(0),
        }
    }

    fn handle(&self) -> Option<&Counter> {
        self.binding.get(counter, |c| {
            c.increment(self.kept.swap(0, Ordering::Relaxed))
        })
    }

    pub(crate) fn increment(&self, n: u64) {
        match self.handle() {
            Some(c) => c.increment(n),
            None => {
                self.kept.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn absolute(&self, value: u64) {
        match self.handle() {
            Some(c) => c.absolute(value),
            None => self.kept.store(value, Ordering::Relaxed),
        }
    }
}

/// A gauge that keeps its value until a recorder is installed.
#[derive(Debug)]
pub(crate) struct LateGauge {
    binding: Binding<Gauge>,
    /// `f64` bits.
    kept: AtomicU64,
}

impl LateGauge {
    pub(crate) fn new(name: &'static str, labels: Vec<Label>) -> Self {
        Self {
            binding: Binding::new(name, labels, gauge),
            kept: AtomicU64::new(0f64.to_bits()),
        }
    }

    fn handle(&self) -> Option<&Gauge> {
        self.binding.get(gauge, |g| {
            g.set(f64::from_bits(self.kept.load(Ordering::Relaxed)));
        })
    }

    fn keep(&self, update: impl Fn(f64) -> f64) {
        let _ = self
            .kept
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some(update(f64::from_bits(bits)).to_bits())
            });
    }

    pub(crate) fn set(&self, value: f64) {
        match self.handle() {
            Some(g) => g.set(value),
            None => self.keep(|_| value),
        }
    }

    pub(crate) fn increment(&self, by: f64) {
        match self.handle() {
            Some(g) => g.increment(by),
            None => self.keep(|v| v + by),
        }
    }

    pub(crate) fn decrement(&self, by: f64) {
        match self.handle() {
            Some(g) => g.decrement(by),
            None => self.keep(|v| v - by),
        }
    }
}

/// A histogram; samples recorded before a recorder is installed are dropped.
#[derive(Debug)]
pub(crate) struct LateHistogram {
    binding: Binding<Histogram>,
}

impl LateHistogram {
    pub(crate) fn new(name: &'static str, labels: Vec<Label>) -> Self {
        Self {
            binding: Binding::new(name, labels, histogram),
        }
    }

    pub(crate) fn record(&self, value: f64) {
        if let Some(h) = self.binding.get(histogram, |_| {}) {
            h.record(value);
        }
    }
}
