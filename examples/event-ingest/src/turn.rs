//! Commits in input order: chunk `i` commits only after every chunk before it has committed,
//! so what the database holds is always a prefix of the input (minus its bad lines) and the
//! resume point is exact, even when a chunk fails or the run is interrupted.
//!
//! Chunks still load in parallel (PostgreSQL: each `COPY` runs in its own transaction and only
//! its `COMMIT` waits for its turn); only the commits are ordered.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

/// What a chunk does when its turn comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// Every earlier chunk committed: commit.
    Commit,
    /// An earlier chunk failed: roll back, so the committed rows stay a prefix.
    RollBack,
}

#[derive(Debug, Default)]
struct State {
    /// The chunk whose turn it is.
    next: u64,
    /// The lowest chunk that failed; chunks from it on roll back.
    failed_at: Option<u64>,
    /// Chunks that failed before their turn came; they are passed over when it does.
    done_early: BTreeSet<u64>,
    /// Input lines committed: every line up to this one (1-based, 0 for none).
    committed_through_line: u64,
    /// Rows committed.
    committed_rows: u64,
}

/// The shared turn order of one run.
#[derive(Clone)]
pub(crate) struct Turnstile {
    state: Arc<Mutex<State>>,
    next_tx: Arc<watch::Sender<u64>>,
    on_commit: Arc<dyn Fn(u64) + Send + Sync>,
}

impl std::fmt::Debug for Turnstile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turnstile")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Turnstile {
    /// A turnstile whose first chunk is 0 and whose input starts after line `start_line`;
    /// `on_commit(rows)` runs after each commit.
    pub(crate) fn new(start_line: u64, on_commit: impl Fn(u64) + Send + Sync + 'static) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                committed_through_line: start_line,
                ..State::default()
            })),
            next_tx: Arc::new(watch::Sender::new(0)),
            on_commit: Arc::new(on_commit),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The ticket of chunk `index`, covering input lines up to `last_line`. Dropping it without
    /// [`Ticket::committed`] or [`Ticket::rolled_back`] counts the chunk as failed.
    pub(crate) fn ticket(&self, index: u64, last_line: u64) -> Ticket {
        Ticket {
            turnstile: self.clone(),
            index,
            last_line,
            done: false,
        }
    }

    /// (lines committed through, rows committed, lowest failed chunk).
    pub(crate) fn committed(&self) -> (u64, u64, Option<u64>) {
        let state = self.lock();
        (
            state.committed_through_line,
            state.committed_rows,
            state.failed_at,
        )
    }

    /// Ends chunk `index` and passes the turn on.
    fn finish(&self, index: u64, last_line: u64, outcome: Outcome) {
        let next = {
            let mut state = self.lock();
            match outcome {
                Outcome::Committed(rows) => {
                    state.committed_through_line = last_line;
                    state.committed_rows += rows;
                }
                Outcome::RolledBack => {}
                Outcome::Failed => {
                    state.failed_at = Some(state.failed_at.map_or(index, |f| f.min(index)));
                }
            }
            if state.next != index {
                // Failed before its turn: the turn skips it later.
                state.done_early.insert(index);
                return;
            }
            state.next += 1;
            loop {
                let next = state.next;
                if !state.done_early.remove(&next) {
                    break;
                }
                state.next += 1;
            }
            state.next
        };
        if let Outcome::Committed(rows) = outcome {
            (self.on_commit)(rows);
        }
        self.next_tx.send_replace(next);
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Committed(u64),
    RolledBack,
    Failed,
}

/// One chunk's place in the commit order.
#[derive(Debug)]
pub(crate) struct Ticket {
    turnstile: Turnstile,
    index: u64,
    last_line: u64,
    done: bool,
}

impl Ticket {
    /// Waits until every earlier chunk has ended; says whether to commit or roll back.
    pub(crate) async fn wait(&self) -> Turn {
        let mut rx = self.turnstile.next_tx.subscribe();
        // The sender lives in `self.turnstile`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|next| *next == self.index).await;
        let state = self.turnstile.lock();
        if state.failed_at.is_some_and(|failed| failed < self.index) {
            Turn::RollBack
        } else {
            Turn::Commit
        }
    }

    /// The chunk committed `rows` rows.
    pub(crate) fn committed(mut self, rows: u64) {
        self.done = true;
        self.turnstile
            .finish(self.index, self.last_line, Outcome::Committed(rows));
    }

    /// The chunk rolled back because an earlier one failed.
    pub(crate) fn rolled_back(mut self) {
        self.done = true;
        self.turnstile
            .finish(self.index, self.last_line, Outcome::RolledBack);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.done {
            self.turnstile
                .finish(self.index, self.last_line, Outcome::Failed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn commits_happen_in_input_order() {
        let turnstile = Turnstile::new(0, |_| {});
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for index in (0..5u64).rev() {
            let ticket = turnstile.ticket(index, (index + 1) * 10);
            let order = Arc::clone(&order);
            tasks.push(tokio::spawn(async move {
                assert_eq!(ticket.wait().await, Turn::Commit);
                order.lock().unwrap().push(index);
                ticket.committed(10);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
        assert_eq!(turnstile.committed(), (50, 50, None));
    }

    #[tokio::test]
    async fn a_failed_chunk_rolls_back_the_later_ones_only() {
        let turnstile = Turnstile::new(0, |_| {});
        let (t0, t1, t2, t3) = (
            turnstile.ticket(0, 10),
            turnstile.ticket(1, 20),
            turnstile.ticket(2, 30),
            turnstile.ticket(3, 40),
        );
        drop(t2); // fails before its turn
        assert_eq!(t0.wait().await, Turn::Commit);
        t0.committed(10);
        assert_eq!(t1.wait().await, Turn::Commit);
        t1.committed(9);
        assert_eq!(t3.wait().await, Turn::RollBack);
        t3.rolled_back();
        assert_eq!(turnstile.committed(), (20, 19, Some(2)));
    }
}
