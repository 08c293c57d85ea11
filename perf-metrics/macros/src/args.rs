//! Stage 1: parse the attribute options and the function.

use darling::FromMeta;
use darling::ast::NestedMeta;
use proc_macro2::TokenStream;
use syn::{Expr, ExprLit, ItemFn, Lit, LitStr, Meta};

/// `#[timed(name = "...", labels(k = "v", ...))]`
#[derive(Debug, Default, FromMeta)]
pub(crate) struct TimedArgs {
    #[darling(default)]
    pub(crate) name: Option<LitStr>,
    #[darling(default)]
    pub(crate) labels: Labels,
}

/// `labels(k = "v", ...)` in source order.
#[derive(Debug, Default)]
pub(crate) struct Labels(pub(crate) Vec<(syn::Ident, LitStr)>);

impl FromMeta for Labels {
    fn from_list(items: &[NestedMeta]) -> darling::Result<Self> {
        let mut labels = Vec::new();
        let mut errors = darling::Error::accumulator();
        for item in items {
            let pair = match item {
                NestedMeta::Meta(Meta::NameValue(nv)) => match (&nv.path.get_ident(), &nv.value) {
                    (
                        Some(key),
                        Expr::Lit(ExprLit {
                            lit: Lit::Str(value),
                            ..
                        }),
                    ) => Some(((*key).clone(), value.clone())),
                    (Some(_), value) => {
                        errors.push(
                            darling::Error::custom(
                                "label values must be string literals: labels are static (a per-call value would create a series per value)",
                            )
                                .with_span(value),
                        );
                        None
                    }
                    (None, _) => {
                        errors.push(
                            darling::Error::custom("label names must be plain identifiers")
                                .with_span(&nv.path),
                        );
                        None
                    }
                },
                other => {
                    errors.push(
                        darling::Error::custom("expected `name = \"value\"`").with_span(other),
                    );
                    None
                }
            };
            labels.extend(pair);
        }
        errors.finish_with(Labels(labels))
    }
}

/// A parsed `#[timed]` invocation.
#[derive(Debug)]
pub(crate) struct Timed {
    pub(crate) args: TimedArgs,
    pub(crate) item: ItemFn,
}

pub(crate) fn parse(attr: TokenStream, item: TokenStream) -> darling::Result<Timed> {
    let item: ItemFn = syn::parse2(item).map_err(|e| {
        darling::Error::custom("`#[timed]` applies to functions with a body").with_span(&e.span())
    })?;
    let metas = NestedMeta::parse_meta_list(attr)?;
    let args = TimedArgs::from_list(&metas)?;
    Ok(Timed { args, item })
}
