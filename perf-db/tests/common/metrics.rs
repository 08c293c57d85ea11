//! Reading a `metrics_util` debugging recorder's snapshot.

use metrics::{SharedString, Unit};
use metrics_util::CompositeKey;
use metrics_util::debugging::DebugValue;

/// One entry of `Snapshotter::snapshot().into_vec()`.
pub type Entry = (CompositeKey, Option<Unit>, Option<SharedString>, DebugValue);

/// The value of the series named `name` that carries every label of `labels`, if emitted.
pub fn find<'s>(
    snapshot: &'s [Entry],
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'s DebugValue> {
    snapshot
        .iter()
        .find(|(key, ..)| {
            let key = key.key();
            key.name() == name
                && labels
                    .iter()
                    .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
        })
        .map(|(_, _, _, value)| value)
}
