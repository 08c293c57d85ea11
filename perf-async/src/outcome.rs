//! Where finished tasks land: results stored by input position while tasks finish in any order.

use std::marker::PhantomData;
use std::ops::ControlFlow;

use crate::error::{Error, Failure};

/// How a run stores finished tasks and when it stops: fail-fast or collect-all.
pub(crate) trait Outcome: Sized {
    /// A task's value.
    type Value;
    /// A task's own error.
    type Error;
    /// What the run returns.
    type Output;

    fn with_capacity(capacity: usize) -> Self;

    /// Reserves the slot of the next admitted task; slots are filled in completion order.
    fn admit(&mut self);

    /// Stores a finished task; `Break` ends the run with that output at once.
    fn finish(
        &mut self,
        index: usize,
        result: Result<Self::Value, Failure<Self::Error>>,
    ) -> ControlFlow<Self::Output>;

    /// The output once every admitted task finished.
    fn into_output(self) -> Self::Output;

    /// The output when none of `tasks` could run, each failing with `error()`.
    fn unrun(tasks: usize, error: impl Fn() -> Error<Self::Error>) -> Self::Output;
}

/// The first failure (by completion) stops the run; otherwise every value in input order.
pub(crate) struct FailFast<T, E> {
    slots: Vec<Option<T>>,
    error: PhantomData<fn() -> E>,
}

impl<T, E> Outcome for FailFast<T, E> {
    type Value = T;
    type Error = E;
    type Output = Result<Vec<T>, Error<E>>;

    fn with_capacity(capacity: usize) -> Self {
        Self {
            slots: Vec::with_capacity(capacity),
            error: PhantomData,
        }
    }

    fn admit(&mut self) {
        self.slots.push(None);
    }

    fn finish(&mut self, index: usize, result: Result<T, Failure<E>>) -> ControlFlow<Self::Output> {
        match result {
            Ok(value) => {
                self.slots[index] = Some(value);
                ControlFlow::Continue(())
            }
            Err(failure) => ControlFlow::Break(Err(failure.at(index))),
        }
    }

    fn into_output(self) -> Self::Output {
        // A slot never filled means the task was cancelled from outside (runtime shutdown).
        self.slots
            .into_iter()
            .enumerate()
            .map(|(index, slot)| slot.ok_or(Error::Cancelled { index }))
            .collect()
    }

    fn unrun(_tasks: usize, error: impl Fn() -> Error<E>) -> Self::Output {
        Err(error())
    }
}

/// Every task runs to the end; one result per task, in input order.
pub(crate) struct CollectAll<T, E> {
    slots: Vec<Option<Result<T, Error<E>>>>,
}

impl<T, E> Outcome for CollectAll<T, E> {
    type Value = T;
    type Error = E;
    type Output = Vec<Result<T, Error<E>>>;

    fn with_capacity(capacity: usize) -> Self {
        Self {
            slots: Vec::with_capacity(capacity),
        }
    }

    fn admit(&mut self) {
        self.slots.push(None);
    }

    fn finish(&mut self, index: usize, result: Result<T, Failure<E>>) -> ControlFlow<Self::Output> {
        self.slots[index] = Some(result.map_err(|failure| failure.at(index)));
        ControlFlow::Continue(())
    }

    fn into_output(self) -> Self::Output {
        self.slots
            .into_iter()
            .enumerate()
            .map(|(index, slot)| slot.unwrap_or(Err(Error::Cancelled { index })))
            .collect()
    }

    fn unrun(tasks: usize, error: impl Fn() -> Error<E>) -> Self::Output {
        (0..tasks).map(|_| Err(error())).collect()
    }
}

/// The exact number of items left, when the iterator knows it.
pub(crate) fn exact_len<I: Iterator>(iter: &I) -> Option<usize> {
    match iter.size_hint() {
        (low, Some(high)) if low == high => Some(low),
        _ => None,
    }
}
