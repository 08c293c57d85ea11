//! Results stored by input position while tasks finish in any order.

use crate::error::Error;

/// One slot per admitted task, filled when it finishes.
pub(crate) type Slots<T, E> = Vec<Option<Result<T, Error<E>>>>;

/// The exact number of items left, when the iterator knows it.
pub(crate) fn exact_len<I: Iterator>(iter: &I) -> Option<usize> {
    match iter.size_hint() {
        (low, Some(high)) if low == high => Some(low),
        _ => None,
    }
}

/// Every value in input order, or the first error by input position. A slot never filled
/// means the task was cancelled from outside (its runtime shut down).
pub(crate) fn into_values<T, E>(slots: Slots<T, E>) -> Result<Vec<T>, Error<E>> {
    slots
        .into_iter()
        .enumerate()
        .map(|(index, slot)| slot.unwrap_or(Err(Error::Cancelled { index })))
        .collect()
}

/// Every result in input order, from a collect-all run (which never stops early, so its
/// outcome is always `Ok`).
pub(crate) fn into_results<T, E>(
    outcome: Result<Slots<T, E>, Error<E>>,
) -> Vec<Result<T, Error<E>>> {
    let slots = match outcome {
        Ok(slots) => slots,
        Err(stopped) => return vec![Err(stopped)],
    };
    slots
        .into_iter()
        .enumerate()
        .map(|(index, slot)| slot.unwrap_or(Err(Error::Cancelled { index })))
        .collect()
}
