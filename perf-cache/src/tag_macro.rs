//! What `#[cached(tags = [..])]` expansions call (through `__private`; not an API).

use std::future::Future;

use crate::CacheKey;

/// Appends `value`'s key segment (its [`CacheKey`] text, escaped as in a key) to a tag being
/// built from a template.
pub fn push_tag_value<T: CacheKey + ?Sized>(tag: &mut String, value: &T) {
    let mut key = crate::macro_support::empty_key();
    crate::macro_support::segment(&mut key, true, |w| value.write_key(w));
    tag.push_str(key.as_str());
}

/// Runs a `#[cached]` body with its `tags` set as the result's own
/// ([`set_result_tags`](crate::set_result_tags)).
pub async fn tagged<F: Future>(tags: Vec<String>, body: F) -> F::Output {
    crate::set_result_tags(tags);
    body.await
}
