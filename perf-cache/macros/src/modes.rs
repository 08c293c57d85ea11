//! Where a function's values live, and the options each place refuses: `local` (L1 only, no
//! serde), plain (non-`async`) `fn`s (L1 only, blocking single-flight), and `plain` (values
//! in Redis as the codec's bytes alone, for services in other languages).

use proc_macro2::Span;
use syn::ItemFn;
use syn::spanned::Spanned;

use crate::args::Options;
use crate::validate::Mode;

/// The span of every option that is set, by name (the ones the modes care about).
fn set_options(o: &Options) -> Vec<(&'static str, Span)> {
    let mut set = Vec::new();
    let mut add = |name: &'static str, span: Option<Span>| {
        if let Some(span) = span {
            set.push((name, span));
        }
    };
    add("codec", o.codec.as_ref().map(Spanned::span));
    add("l2_ttl", o.l2_ttl.map(|d| d.span));
    add("l3_ttl", o.l3_ttl.map(|d| d.span));
    add("plain", o.plain.is_present().then(|| o.plain.span()));
    add("cache", o.cache.as_ref().map(Spanned::span));
    add("refresh_ahead", o.refresh_ahead.map(|d| d.span));
    add("stale_if_error", o.stale_if_error.map(|d| d.span));
    add(
        "tags",
        o.tags
            .as_ref()
            .and_then(|t| t.templates.first().map(|(_, span)| *span)),
    );
    add("soft_timeout", o.soft_timeout.map(|d| d.span));
    add("hard_timeout", o.hard_timeout.map(|d| d.span));
    if let Some(sf) = &o.single_flight
        && sf.as_str() == "cluster"
    {
        add("single_flight = \"cluster\"", Some(sf.span()));
    }
    set
}

/// Why an L1-only function cannot have `option`.
fn why(option: &str) -> &'static str {
    match option {
        "codec" | "l2_ttl" | "l3_ttl" => {
            "its values never leave this process's L1 (no Redis, no disk)"
        }
        "plain" => "`plain` is how values are written to Redis, and L1-only values never are",
        "cache" => "a `cache` is a view over every tier, whose values need serde",
        "refresh_ahead" => "refresh-ahead reloads in a background task",
        "stale_if_error" => "stale values are kept by the shared tiers' views only",
        "tags" => "tag generations are shared through Redis, and L1-only values carry none",
        "soft_timeout" | "hard_timeout" => {
            "a timed-out load goes on in a background task, which needs the shared tiers' async path"
        }
        _ => "the cross-instance lease is a Redis round trip",
    }
}

/// The mode of `f` under `o`, reporting each option the mode refuses (one error each).
pub(crate) fn mode(o: &Options, f: &ItemFn, err: &mut dyn FnMut(Span, String)) -> Mode {
    let mode = if f.sig.asyncness.is_none() {
        Mode::Sync
    } else if o.local.is_present() {
        Mode::Local
    } else {
        Mode::Shared
    };
    match mode {
        Mode::Sync => {
            for (option, span) in set_options(o) {
                err(
                    span,
                    format!(
                        "`{option}` needs an `async fn`: a plain `fn` is cached in this process's L1 only, and {}",
                        why(option)
                    ),
                );
            }
        }
        Mode::Local => {
            for (option, span) in set_options(o) {
                err(
                    span,
                    format!(
                        "conflicting options: `local` and `{option}`: {}",
                        why(option)
                    ),
                );
            }
        }
        Mode::Shared => {
            if o.plain.is_present() {
                if let Some(codec) = &o.codec
                    && is_postcard(codec)
                {
                    err(
                        codec.span(),
                        "conflicting options: `plain` and `codec = Postcard`: plain values are read by \
                         other languages, so they need a self-describing codec; leave `codec` out (plain \
                         defaults to `Json`)"
                            .to_owned(),
                    );
                }
                if o.cache_none.is_present() {
                    err(
                        o.cache_none.span(),
                        "conflicting options: `plain` and `cache_none`: a plain value has no header to \
                         mark \"not found\""
                            .to_owned(),
                    );
                }
            }
        }
    }
    mode
}

fn is_postcard(codec: &syn::Expr) -> bool {
    match codec {
        syn::Expr::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "Postcard"),
        _ => false,
    }
}
