//! Runtime support for `#[timed]`. Generated code names only `::perf_metrics::__private::…`;
//! nothing here is a stable API.

use std::sync::OnceLock;
use std::time::Instant;

use metrics::{Histogram, Key, Label, Metadata, Recorder};

use crate::names::FUNCTION_DURATION_SECONDS;
use crate::recorder::is_installed_global;

/// How a timed call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Returned a value that is not `Err`.
    Ok,
    /// Returned `Err`, or panicked.
    Error,
    /// A future dropped before it completed.
    Cancelled,
}

impl Outcome {
    const ALL: [Outcome; 3] = [Outcome::Ok, Outcome::Error, Outcome::Cancelled];

    /// The `outcome` label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Cancelled => "cancelled",
        }
    }

    const fn index(self) -> usize {
        match self {
            Outcome::Ok => 0,
            Outcome::Error => 1,
            Outcome::Cancelled => 2,
        }
    }
}

static METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

/// One `#[timed]` function: its metric name and labels, and (when recording into the global
/// recorder this crate installed) its three histogram handles, registered once.
#[derive(Debug)]
pub struct TimedSite {
    name: &'static str,
    function: &'static str,
    module: &'static str,
    labels: &'static [(&'static str, &'static str)],
    handles: OnceLock<[Histogram; 3]>,
}

impl TimedSite {
    /// A call site; `name: None` means `function_duration_seconds`.
    pub const fn new(
        name: Option<&'static str>,
        function: &'static str,
        module: &'static str,
        labels: &'static [(&'static str, &'static str)],
    ) -> Self {
        Self {
            name: match name {
                Some(name) => name,
                None => FUNCTION_DURATION_SECONDS,
            },
            function,
            module,
            labels,
            handles: OnceLock::new(),
        }
    }

    fn key(&self, outcome: Outcome) -> Key {
        let mut labels = Vec::with_capacity(3 + self.labels.len());
        labels.push(Label::from_static_parts("function", self.function));
        labels.push(Label::from_static_parts("module", self.module));
        labels.push(Label::from_static_parts("outcome", outcome.as_str()));
        labels.extend(
            self.labels
                .iter()
                .map(|(k, v)| Label::from_static_parts(k, v)),
        );
        Key::from_parts(self.name, labels)
    }

    fn record(&self, outcome: Outcome, seconds: f64) {
        metrics::with_recorder(|recorder| {
            if is_installed_global(recorder) {
                // The installed global recorder lives for the whole process: cache its handles.
                let handles = self.handles.get_or_init(|| self.register_all(recorder));
                handles[outcome.index()].record(seconds);
            } else {
                // A local or foreign recorder may change between calls: look the series up.
                recorder
                    .register_histogram(&self.key(outcome), &METADATA)
                    .record(seconds);
            }
        });
    }

    fn register_all(&self, recorder: &dyn Recorder) -> [Histogram; 3] {
        Outcome::ALL.map(|outcome| recorder.register_histogram(&self.key(outcome), &METADATA))
    }
}

/// Measures one call; records `cancelled` (or `error` while panicking) if dropped unfinished.
#[derive(Debug)]
pub struct TimedGuard {
    site: &'static TimedSite,
    start: Instant,
    finished: bool,
}

impl TimedGuard {
    /// Starts timing.
    #[inline]
    pub fn start(site: &'static TimedSite) -> Self {
        Self {
            site,
            start: Instant::now(),
            finished: false,
        }
    }

    /// Records the call with `outcome`.
    #[inline]
    pub fn finish(mut self, outcome: Outcome) {
        self.finished = true;
        self.site
            .record(outcome, self.start.elapsed().as_secs_f64());
    }
}

impl Drop for TimedGuard {
    fn drop(&mut self) {
        if !self.finished {
            let outcome = if std::thread::panicking() {
                Outcome::Error
            } else {
                Outcome::Cancelled
            };
            self.site
                .record(outcome, self.start.elapsed().as_secs_f64());
        }
    }
}

/// Wraps a reference to a return value so method resolution can tell `Result` from the rest:
/// `(&OutcomeProbe(&value)).__perf_outcome()` picks [`ResultOutcome`] for `Result` (no autoref
/// needed) and [`ValueOutcome`] otherwise.
#[derive(Debug)]
pub struct OutcomeProbe<'a, T: ?Sized>(pub &'a T);

/// Outcome of a `Result`: `Err` is an error.
pub trait ResultOutcome {
    /// `Ok` or `Error`.
    fn __perf_outcome(&self) -> Outcome;
}

impl<T, E> ResultOutcome for OutcomeProbe<'_, Result<T, E>> {
    #[inline]
    fn __perf_outcome(&self) -> Outcome {
        if self.0.is_err() {
            Outcome::Error
        } else {
            Outcome::Ok
        }
    }
}

/// Outcome of any other value: returning is success.
pub trait ValueOutcome {
    /// Always `Ok`.
    fn __perf_outcome(&self) -> Outcome;
}

impl<T: ?Sized> ValueOutcome for &OutcomeProbe<'_, T> {
    #[inline]
    fn __perf_outcome(&self) -> Outcome {
        Outcome::Ok
    }
}

/// Calls `f`, whose return type the turbofish fixes (so `?` in the body infers).
#[inline(always)]
pub fn call_typed<T, F: FnOnce() -> T>(f: F) -> T {
    f()
}

/// Returns `f`, whose output type the turbofish fixes (so `?` in an async body infers).
#[inline(always)]
pub fn typed_future<T, F: Future<Output = T>>(f: F) -> F {
    f
}

#[cfg(test)]
mod tests {
    use super::Outcome;
    use crate::names;

    #[test]
    fn the_naming_table_lists_exactly_the_outcomes_timed_records() {
        let row = names::find(names::FUNCTION_DURATION_SECONDS).unwrap();
        let recorded = Outcome::ALL.map(Outcome::as_str);
        assert_eq!(row.values_of("outcome"), Some(&recorded[..]));
    }
}
