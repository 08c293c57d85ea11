//! The loop both modes share: admit tasks while fewer than `max_concurrent` are running, store
//! each result by input position as it finishes, stop when the [`Outcome`] says so. What differs
//! between the modes, how a task is started and how it is awaited, is a [`Running`] set.

use std::future::{Future, poll_fn};
use std::ops::ControlFlow;
use std::task::{Context, Poll};

use crate::error::Failure;
use crate::outcome::{Outcome, exact_len};
use crate::parallel::Parallel;

/// A task's result as the [`Outcome`] `O` stores it.
pub(crate) type TaskResult<O> =
    std::result::Result<<O as Outcome>::Value, Failure<<O as Outcome>::Error>>;

/// One task that ended, as a [`Running`] set hands it back.
pub(crate) enum Finished<T> {
    /// The task at this input position returned.
    Output(usize, T),
    /// The task at this input position panicked (spawned mode catches panics).
    Panicked(usize, String),
    /// A task ended without a result: cancelled from outside (the runtime shutting down). Its
    /// slot stays empty and reads as `Error::Cancelled`.
    Vanished,
}

/// The admitted tasks of one run, started and awaited the way one mode does it. Dropping the
/// set (the run stopped, or the caller dropped its future) ends every task still running.
pub(crate) trait Running<Fut: Future> {
    /// Tasks admitted and not yet reaped.
    fn len(&self) -> usize;

    /// Starts `task`, the one at input position `index`.
    fn start(&mut self, task: Fut, index: usize);

    /// The next task to end, or `None` once none is left.
    fn poll_finished(&mut self, cx: &mut Context<'_>) -> Poll<Option<Finished<Fut::Output>>>;
}

/// Runs the tasks in `running`, storing each result (made by `convert` from the task's output)
/// as `O` says.
pub(crate) async fn run<O: Outcome, Fut: Future>(
    options: &Parallel,
    running: impl Running<Fut>,
    tasks: impl Iterator<Item = Fut>,
    convert: impl Fn(Fut::Output) -> TaskResult<O>,
) -> O::Output {
    match exact_len(&tasks) {
        Some(total) => drive_known::<O, _>(options, running, tasks, convert, total).await,
        // The progress callback needs the total up front.
        None if options.progress.is_some() => {
            let tasks: Vec<_> = tasks.collect();
            let total = tasks.len();
            drive_known::<O, _>(options, running, tasks.into_iter(), convert, total).await
        }
        None => drive_known::<O, _>(options, running, tasks, convert, 0).await,
    }
}

async fn drive_known<O: Outcome, Fut: Future>(
    options: &Parallel,
    mut running: impl Running<Fut>,
    mut tasks: impl Iterator<Item = Fut>,
    convert: impl Fn(Fut::Output) -> TaskResult<O>,
    total: usize,
) -> O::Output {
    let limit = options.max_concurrent.get();
    let progress = options.progress.as_deref();
    let mut outcome = O::with_capacity(tasks.size_hint().0);
    let mut admitted = 0;
    let mut done = 0;
    loop {
        // Admit until the window is full: a finished task frees its place at once, whatever
        // its position in the input.
        while running.len() < limit {
            let Some(task) = tasks.next() else { break };
            outcome.admit();
            running.start(task, admitted);
            admitted += 1;
        }
        let Some(finished) = poll_fn(|cx| running.poll_finished(cx)).await else {
            return outcome.into_output();
        };
        done += 1;
        if let Some(progress) = progress {
            progress(done, total);
        }
        let (index, result) = match finished {
            Finished::Output(index, output) => (index, convert(output)),
            Finished::Panicked(index, message) => (index, Err(Failure::Panicked(message))),
            Finished::Vanished => continue,
        };
        if let ControlFlow::Break(output) = outcome.finish(index, result) {
            return output;
        }
    }
}
