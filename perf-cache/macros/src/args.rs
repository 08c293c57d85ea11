//! Parsing `#[cached(..)]` options (darling).

use std::time::Duration;

use darling::util::{Flag, PathList, SpannedValue};
use darling::{FromMeta, ast::NestedMeta};
use proc_macro2::{Span, TokenStream};
use syn::{Expr, Lit};

/// A duration option: a humantime string (`"10m"`, `"1h30m"`, `"250ms"`) or whole seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dur {
    pub(crate) value: Duration,
    pub(crate) span: Span,
}

impl FromMeta for Dur {
    fn from_word() -> darling::Result<Self> {
        Err(darling::Error::custom(
            "expected a duration: a string such as \"10m\" or \"1h30m\", or whole seconds",
        ))
    }

    fn from_value(value: &Lit) -> darling::Result<Self> {
        let span = value.span();
        let value = match value {
            Lit::Str(s) => humantime::parse_duration(&s.value()).map_err(|e| {
                darling::Error::custom(format!(
                    "invalid duration {:?}: {e}; expected e.g. \"10m\", \"1h30m\", \"250ms\" or whole seconds",
                    s.value()
                ))
            })?,
            Lit::Int(i) => Duration::from_secs(i.base10_parse::<u64>()?),
            _ => {
                return Err(darling::Error::custom(
                    "expected a duration: a string such as \"10m\" or whole seconds",
                ));
            }
        };
        Ok(Self { value, span })
    }
}

/// Every option of `#[cached]`; all optional.
#[derive(Debug, Default, FromMeta)]
pub(crate) struct Options {
    pub(crate) ttl: Option<Dur>,
    pub(crate) l1_ttl: Option<Dur>,
    pub(crate) l2_ttl: Option<Dur>,
    pub(crate) l3_ttl: Option<Dur>,
    pub(crate) prefix: Option<SpannedValue<String>>,
    pub(crate) key: Option<SpannedValue<String>>,
    pub(crate) backend: Option<Expr>,
    pub(crate) cache: Option<Expr>,
    pub(crate) skip: Option<PathList>,
    pub(crate) cache_none: Flag,
    pub(crate) refresh_ahead: Option<Dur>,
    pub(crate) stale_if_error: Option<Dur>,
    pub(crate) soft_timeout: Option<Dur>,
    pub(crate) hard_timeout: Option<Dur>,
    pub(crate) single_flight: Option<SpannedValue<String>>,
    pub(crate) codec: Option<Expr>,
    /// For an associated function without `self` that does not mention `Self`.
    pub(crate) associated: Flag,
    /// Tag templates (see `tags.rs`).
    pub(crate) tags: Option<crate::tags::TagTemplates>,
    // Accepted so that they get a precise "not available yet" error rather than "unknown".
    pub(crate) local: Flag,
    pub(crate) plain: Flag,
    /// The old name of the timeouts: an error that names the two options.
    pub(crate) load_timeout: Option<Dur>,
}

pub(crate) fn parse(args: TokenStream) -> darling::Result<Options> {
    let items = NestedMeta::parse_meta_list(args)?;
    Options::from_list(&items)
}
