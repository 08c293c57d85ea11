//! The ideal totals: what the runs would take with zero process and scheduling overhead.

use std::time::Duration;

/// The ideal wall time of tasks run in input order with at most `limit` at once, each next task
/// starting the instant any running one finishes (perf-async's sliding window).
///
/// With the seeds' tools (60, 120, 30, 20 s) and a limit of 3 it is 120 s: sslscan starts when
/// whatweb ends at 30 s, and nuclei is the critical path. With `limit` 1 it is the sum.
pub(crate) fn sliding_window_total(durations: &[Duration], limit: usize) -> Duration {
    let limit = limit.max(1);
    // End instants of the running tasks; a limit of 3 or so makes a sorted Vec the simplest heap.
    let mut running: Vec<Duration> = Vec::with_capacity(limit);
    let mut total = Duration::ZERO;
    for &duration in durations {
        let start = if running.len() < limit {
            Duration::ZERO
        } else {
            running.sort_unstable();
            running.remove(0)
        };
        let end = start + duration;
        total = total.max(end);
        running.push(end);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(values: &[u64]) -> Vec<Duration> {
        values.iter().copied().map(Duration::from_secs).collect()
    }

    #[test]
    fn seeds_tools_with_limit_3_take_the_longest_tool() {
        let seeds = secs(&[60, 120, 30, 20]);
        assert_eq!(sliding_window_total(&seeds, 3), Duration::from_secs(120));
        assert_eq!(sliding_window_total(&seeds, 1), Duration::from_secs(230));
        // whatweb and sslscan take turns in nmap's slot while nuclei runs.
        assert_eq!(sliding_window_total(&seeds, 2), Duration::from_secs(120));
        assert_eq!(
            sliding_window_total(&secs(&[60, 30, 120, 20]), 2),
            Duration::from_secs(150)
        );
        assert_eq!(sliding_window_total(&seeds, 4), Duration::from_secs(120));
    }

    #[test]
    fn next_task_waits_for_the_first_free_slot_not_the_batch() {
        // A barrier per batch of 2 would take 100 + 10 = 110; the window takes 10 + 10 + 100.
        let tasks = secs(&[100, 10, 10, 10]);
        assert_eq!(sliding_window_total(&tasks, 2), Duration::from_secs(100));
        let tasks = secs(&[10, 10, 100, 100]);
        assert_eq!(sliding_window_total(&tasks, 2), Duration::from_secs(110));
    }

    #[test]
    fn empty_and_zero_limit() {
        assert_eq!(sliding_window_total(&[], 3), Duration::ZERO);
        assert_eq!(
            sliding_window_total(&secs(&[1, 2]), 0),
            Duration::from_secs(3)
        );
    }
}
