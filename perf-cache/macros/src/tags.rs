//! The `tags` option: `tags = ["scan:{scan_id}", "target:{target}"]` (or one string), each a
//! template over argument names (and their fields, `{user.id}`; `{{`/`}}` are literal braces).
//! A placeholder is written as the argument's key segment (its `CacheKey` text, escaped), so
//! `{scan_id}` with `"s-1"` gives `scan:s-1`.

use darling::FromMeta;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, Lit};

use crate::validate::Arg;

/// The templates as written.
#[derive(Debug, Clone)]
pub(crate) struct TagTemplates {
    pub(crate) templates: Vec<(String, Span)>,
}

impl FromMeta for TagTemplates {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        let literal = |e: &Expr| match e {
            Expr::Lit(l) => match &l.lit {
                Lit::Str(s) => Ok((s.value(), s.span())),
                other => {
                    Err(darling::Error::custom("expected a string tag template").with_span(other))
                }
            },
            other => Err(darling::Error::custom("expected a string tag template").with_span(other)),
        };
        let templates = match expr {
            Expr::Array(a) => a
                .elems
                .iter()
                .map(literal)
                .collect::<darling::Result<_>>()?,
            single => vec![literal(single)?],
        };
        Ok(Self { templates })
    }

    fn from_value(value: &Lit) -> darling::Result<Self> {
        match value {
            Lit::Str(s) => Ok(Self {
                templates: vec![(s.value(), s.span())],
            }),
            other => Err(darling::Error::custom(
                "expected tag templates: [\"scan:{scan_id}\", ..]",
            )
            .with_span(other)),
        }
    }
}

/// One part of a tag template.
#[derive(Debug)]
pub(crate) enum TagPart {
    Text(String),
    /// `self` (`None`) or the argument at this index, then fields.
    Value(Option<usize>, Vec<syn::Member>),
}

/// Parses and checks the templates against the arguments: `Err((span, message))` per problem.
pub(crate) fn resolve(
    t: &TagTemplates,
    args: &[Arg],
    has_self: bool,
    fn_name: &str,
) -> Result<Vec<Vec<TagPart>>, Vec<(Span, String)>> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    if t.templates.len() > 32 {
        errors.push((
            t.templates[32].1,
            "too many `tags`: at most 32 per entry".to_owned(),
        ));
    }
    for (text, span) in &t.templates {
        match parse(text) {
            Ok(parts) => {
                let mut tag = Vec::new();
                for part in parts {
                    match part {
                        Raw::Text(s) => tag.push(TagPart::Text(s)),
                        Raw::Value(path) => {
                            let mut names = path.split('.').map(str::trim);
                            let root = names.next().unwrap_or_default();
                            let fields: Vec<syn::Member> = names
                                .filter_map(|n| syn::parse_str::<syn::Member>(n).ok())
                                .collect();
                            if root == "self" && has_self {
                                tag.push(TagPart::Value(None, fields));
                            } else if let Some(i) = args.iter().position(|a| a.ident == root) {
                                tag.push(TagPart::Value(Some(i), fields));
                            } else {
                                errors.push((
                                    *span,
                                    format!(
                                        "`tags` names `{root}`, which is not an argument of `{fn_name}`"
                                    ),
                                ));
                            }
                        }
                    }
                }
                out.push(tag);
            }
            Err(message) => errors.push((*span, message)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

enum Raw {
    Text(String),
    Value(String),
}

fn parse(t: &str) -> Result<Vec<Raw>, String> {
    if t.is_empty() {
        return Err("invalid tag template \"\": a tag is 1 to 128 bytes".to_owned());
    }
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => {
                            return Err(format!(
                                "invalid tag template {t:?}: `{{` is not closed (write `{{{{` for a literal brace)"
                            ));
                        }
                    }
                }
                if name.trim().is_empty() {
                    return Err(format!(
                        "invalid tag template {t:?}: `{{}}` must name an argument (`{{arg}}` or `{{arg.field}}`)"
                    ));
                }
                if !text.is_empty() {
                    out.push(Raw::Text(std::mem::take(&mut text)));
                }
                out.push(Raw::Value(name));
            }
            '}' => {
                return Err(format!(
                    "invalid tag template {t:?}: unmatched `}}` (write `}}}}` for a literal brace)"
                ));
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        out.push(Raw::Text(text));
    }
    Ok(out)
}

/// The expression that builds the tags (a `Vec<String>`) from the arguments in scope.
pub(crate) fn expression(tags: &[Vec<TagPart>], args: &[Arg]) -> TokenStream {
    let p = quote!(::perf_cache::__private);
    let each = tags.iter().map(|parts| {
        let pushes = parts.iter().map(|part| match part {
            TagPart::Text(t) => quote!(__t.push_str(#t);),
            TagPart::Value(root, fields) => {
                let (base, span) = match root {
                    None => (quote!(self), Span::call_site()),
                    Some(i) => {
                        let id = &args[*i].ident;
                        (quote!(#id), args[*i].ty.span())
                    }
                };
                let span = Span::call_site().located_at(span);
                quote_spanned!(span=> #p::push_tag_value(&mut __t, &#base #(.#fields)*);)
            }
        });
        quote!({
            let mut __t = ::std::string::String::new();
            #(#pushes)*
            __t
        })
    });
    quote!(::std::vec![#(#each),*])
}
