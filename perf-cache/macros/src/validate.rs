//! Checking the options against the function, into a [`Plan`] the expansion follows.

use std::time::Duration;

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Expr, FnArg, Ident, ItemFn, Pat, ReturnType, Type};

use crate::args::{Dur, Options};

const YEAR: Duration = Duration::from_secs(365 * 86_400);
const DAY: Duration = Duration::from_secs(86_400);
const DEFAULT_L1_TTL: Duration = Duration::from_secs(60);

/// How the return type is cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Plain,
    Option,
    Result,
}

/// One named argument.
#[derive(Debug)]
pub(crate) struct Arg {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    /// Part of the key (not skipped, or named by the template).
    pub(crate) in_key: bool,
}

/// What a placeholder of a `key` template names.
#[derive(Debug)]
pub(crate) enum Root {
    SelfValue,
    Arg(usize),
}

#[derive(Debug)]
pub(crate) enum Part {
    Text(String),
    Value {
        root: Root,
        fields: Vec<syn::Member>,
    },
}

/// The key: one segment per key argument, or the template's segments.
#[derive(Debug)]
pub(crate) enum KeySpec {
    Args,
    Template(Vec<Vec<Part>>),
}

/// Where a function's values live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Every tier of the backend (`Cache<V, C>`): values need serde.
    Shared,
    /// `local`: the backend's L1 only (`LocalCache<V>`): values need only `Clone`.
    Local,
    /// A plain (non-`async`) `fn`: L1 only, with a blocking single-flight.
    Sync,
}

#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) mode: Mode,
    /// `plain`: values stored in Redis as the codec's bytes alone (interop).
    pub(crate) plain: bool,
    pub(crate) in_impl: bool,
    pub(crate) kind: Kind,
    pub(crate) ret: Type,
    pub(crate) args: Vec<Arg>,
    pub(crate) receiver: Option<syn::Receiver>,
    pub(crate) self_in_key: bool,
    pub(crate) key: KeySpec,
    pub(crate) owned: bool,
    pub(crate) single_flight: bool,
    /// `single_flight = "cluster"`: the lease across instances.
    pub(crate) cluster: bool,
    pub(crate) l1_ttl: Option<Duration>,
    pub(crate) l2_ttl: Option<Duration>,
    pub(crate) l3_ttl: Option<Duration>,
    pub(crate) negative_ttl: Option<Duration>,
    pub(crate) refresh_ahead: Option<Duration>,
    pub(crate) stale_if_error: Option<Duration>,
    pub(crate) soft_timeout: Option<Duration>,
    pub(crate) hard_timeout: Option<Duration>,
    pub(crate) prefix: Option<String>,
    pub(crate) backend: Option<Expr>,
    pub(crate) cache: Option<Expr>,
    pub(crate) codec: Option<Expr>,
    /// Tag templates, resolved against the arguments (see `tags.rs`).
    pub(crate) tags: Vec<Vec<crate::tags::TagPart>>,
}

/// Collects every error, so that one expansion reports them all at once.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        self.add(syn::Error::new(span, message));
    }

    /// An error over all of `tokens` (a whole type, not its first token).
    fn push_spanned(&mut self, tokens: &dyn quote::ToTokens, message: impl std::fmt::Display) {
        self.add(syn::Error::new_spanned(tokens, message));
    }

    fn add(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
}

pub(crate) fn validate(o: Options, f: &ItemFn) -> syn::Result<Plan> {
    let mut errors = Errors::default();
    let sig = &f.sig;
    let name = &sig.ident;

    let mode = crate::modes::mode(&o, f, &mut |span, message| errors.push(span, message));
    if let Some(c) = &sig.constness {
        errors.push(c.span(), "`#[cached]` cannot cache a `const fn`");
    }
    if let Some(v) = &sig.variadic {
        errors.push(v.span(), "`#[cached]` cannot cache a variadic function");
    }

    // A retired option: say what replaced it.
    if let Some(t) = &o.load_timeout {
        errors.push(
            t.span,
            "`load_timeout` is two options: `hard_timeout = \"2s\"` (the caller gets an error after it) \
             and `soft_timeout = \"200ms\"` (a caller holding a stale value gets it after it)",
        );
    }

    // Arguments.
    let receiver = sig.receiver().cloned();
    let mut args = Vec::new();
    for input in &sig.inputs {
        if let FnArg::Typed(pt) = input {
            match &*pt.pat {
                Pat::Ident(pi) if pi.subpat.is_none() => args.push(Arg {
                    ident: pi.ident.clone(),
                    ty: (*pt.ty).clone(),
                    in_key: true,
                }),
                other => errors.push_spanned(
                    other,
                    "`#[cached]` needs a name for each argument (it becomes part of the key): \
                     write `arg: Type` and destructure inside the body",
                ),
            }
        }
    }

    let ret: Type = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    let kind = kind_of(&ret);

    // Conflicts.
    if let (Some(b), Some(_)) = (&o.backend, &o.cache) {
        errors.push(
            b.span(),
            "conflicting options: `backend` and `cache` (a `cache` already has its backend)",
        );
    }
    if let Some(c) = &o.cache {
        let view_options = [
            ("ttl", o.ttl.is_some()),
            ("l1_ttl", o.l1_ttl.is_some()),
            ("l2_ttl", o.l2_ttl.is_some()),
            ("l3_ttl", o.l3_ttl.is_some()),
            ("prefix", o.prefix.is_some()),
            ("codec", o.codec.is_some()),
            ("cache_none", o.cache_none.is_present()),
            ("refresh_ahead", o.refresh_ahead.is_some()),
            ("stale_if_error", o.stale_if_error.is_some()),
            ("plain", o.plain.is_present()),
        ];
        for (option, set) in view_options {
            if set {
                errors.push(
                    c.span(),
                    format!(
                        "conflicting options: `cache` and `{option}` (set `{option}` on the cache's builder)"
                    ),
                );
            }
        }
    }
    if let (Some(k), Some(_)) = (&o.key, &o.skip) {
        errors.push(
            k.span(),
            "conflicting options: `key` and `skip` (a `key` template already names what goes into the key)",
        );
    }
    if o.cache_none.is_present() && kind != Kind::Option {
        errors.push(
            o.cache_none.span(),
            "`cache_none` needs a function returning `Option<T>`",
        );
    }
    if let Some(d) = &o.hard_timeout
        && kind != Kind::Result
    {
        errors.push(
            d.span,
            "`hard_timeout` needs a function returning `Result<T, E>` with `E: From<perf_cache::LoadTimeout>` \
             (a timed-out call returns that error)",
        );
    }
    if let Some(d) = &o.soft_timeout
        && o.stale_if_error.is_none()
        && o.cache.is_none()
        && mode == Mode::Shared
    {
        errors.push(
            d.span,
            "`soft_timeout` serves the stale value that `stale_if_error` keeps: add `stale_if_error = \"5m\"` \
             (a `Result` function), or pass a `cache` built with `stale_if_error`",
        );
    }
    if let Some(d) = &o.stale_if_error
        && kind != Kind::Result
    {
        errors.push(
            d.span,
            "`stale_if_error` needs a function returning `Result<T, E>` (only an error can be replaced by a stale value)",
        );
    }

    let (single_flight, cluster) = match o.single_flight.as_ref().map(|s| (s.as_str(), s.span())) {
        None | Some(("process", _)) => (true, false),
        Some(("off", span)) => {
            if o.refresh_ahead.is_some() {
                errors.push(
                    span,
                    "conflicting options: `single_flight = \"off\"` and `refresh_ahead` (a refresh is one flight)",
                );
            }
            if o.cache_none.is_present() {
                errors.push(
                    span,
                    "conflicting options: `single_flight = \"off\"` and `cache_none`",
                );
            }
            for (option, set) in [
                ("soft_timeout", o.soft_timeout.is_some()),
                ("hard_timeout", o.hard_timeout.is_some()),
            ] {
                if set {
                    errors.push(
                        span,
                        format!(
                            "conflicting options: `single_flight = \"off\"` and `{option}` (a load that outlives its caller is a flight)"
                        ),
                    );
                }
            }
            (false, false)
        }
        Some(("cluster", _)) => (true, true),
        Some((other, span)) => {
            errors.push(
                span,
                format!(
                    "invalid `single_flight`: got {other:?}, allowed: \"process\" (default), \"cluster\" or \"off\""
                ),
            );
            (true, false)
        }
    };

    // Durations.
    let mut check = |d: &Option<Dur>, field: &str, max: Duration, allowed: &str| {
        if let Some(d) = d
            && (d.value < Duration::from_millis(1) || d.value > max)
        {
            errors.push(
                d.span,
                format!("invalid `{field}`: got {:?}, allowed: {allowed}", d.value),
            );
        }
    };
    check(&o.ttl, "ttl", YEAR, "1 ms ..= 1 year");
    check(&o.l1_ttl, "l1_ttl", YEAR, "1 ms ..= 1 year");
    check(&o.l2_ttl, "l2_ttl", YEAR, "1 ms ..= 1 year");
    check(&o.l3_ttl, "l3_ttl", YEAR, "1 ms ..= 1 year");
    check(
        &o.stale_if_error,
        "stale_if_error",
        Duration::from_secs(86_400),
        "1 ms ..= 1 day",
    );
    check(&o.soft_timeout, "soft_timeout", DAY, "1 ms ..= 1 day");
    check(&o.hard_timeout, "hard_timeout", DAY, "1 ms ..= 1 day");
    if let (Some(soft), Some(hard)) = (&o.soft_timeout, &o.hard_timeout)
        && soft.value >= hard.value
    {
        errors.push(
            soft.span,
            format!(
                "invalid `soft_timeout`: got {:?}, allowed: below `hard_timeout` ({:?})",
                soft.value, hard.value
            ),
        );
    }
    let ttl = o.ttl.map(|d| d.value);
    let l1_ttl = o.l1_ttl.map(|d| d.value).or(ttl);
    let l2_ttl = o.l2_ttl.map(|d| d.value).or(ttl);
    let l3_ttl = o.l3_ttl.map(|d| d.value).or(ttl);
    if let Some(w) = &o.refresh_ahead {
        let l1 = l1_ttl.unwrap_or(DEFAULT_L1_TTL);
        if w.value.is_zero() || w.value >= l1 {
            errors.push(
                w.span,
                format!(
                    "invalid `refresh_ahead`: got {:?}, allowed: above 0 and below the L1 time to live ({l1:?})",
                    w.value
                ),
            );
        }
    }

    // Prefix.
    if let Some(p) = &o.prefix {
        let ok = !p.is_empty()
            && p.len() <= 64
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !ok {
            errors.push(
                p.span(),
                format!(
                    "invalid `prefix`: got {:?}, allowed: 1 to 64 characters from [A-Za-z0-9_.-]",
                    p.as_str()
                ),
            );
        }
    }

    // What goes into the key.
    let mut self_in_key = receiver.is_some();
    if let Some(skip) = &o.skip {
        for path in skip.iter() {
            if path.is_ident("self") {
                if receiver.is_none() {
                    errors.push(path.span(), "`skip(self)` on a function without `self`");
                }
                self_in_key = false;
            } else if let Some(a) = path
                .get_ident()
                .and_then(|i| args.iter_mut().find(|a| a.ident == *i))
            {
                a.in_key = false;
            } else {
                errors.push(
                    path.span(),
                    format!(
                        "`skip` names `{}`, which is not an argument of `{name}`",
                        quote::ToTokens::to_token_stream(path)
                    ),
                );
            }
        }
    }
    let key = match &o.key {
        None => KeySpec::Args,
        Some(t) => {
            for a in &mut args {
                a.in_key = false;
            }
            self_in_key = false;
            match parse_template(t.as_str()) {
                Ok(segments) => {
                    let mut resolved = Vec::new();
                    for seg in segments {
                        let mut parts = Vec::new();
                        for part in seg {
                            match part {
                                Raw::Text(s) => parts.push(Part::Text(s)),
                                Raw::Value(path) => {
                                    let mut names = path.split('.').map(str::trim);
                                    let root_name = names.next().unwrap_or_default();
                                    let fields: Vec<syn::Member> = names
                                        .filter_map(|n| syn::parse_str::<syn::Member>(n).ok())
                                        .collect();
                                    let root = if root_name == "self" && receiver.is_some() {
                                        self_in_key = true;
                                        Some(Root::SelfValue)
                                    } else {
                                        args.iter_mut().position(|a| a.ident == root_name).map(
                                            |i| {
                                                args[i].in_key = true;
                                                Root::Arg(i)
                                            },
                                        )
                                    };
                                    match root {
                                        Some(root) => parts.push(Part::Value { root, fields }),
                                        None => errors.push(
                                            t.span(),
                                            format!(
                                                "`key` names `{root_name}`, which is not an argument of `{name}`"
                                            ),
                                        ),
                                    }
                                }
                            }
                        }
                        resolved.push(parts);
                    }
                    KeySpec::Template(resolved)
                }
                Err(message) => {
                    errors.push(t.span(), message);
                    KeySpec::Args
                }
            }
        }
    };

    let tags = match &o.tags {
        None => Vec::new(),
        Some(t) => crate::tags::resolve(t, &args, receiver.is_some(), &name.to_string())
            .unwrap_or_else(|problems| {
                for (span, message) in problems {
                    errors.push(span, message);
                }
                Vec::new()
            }),
    };

    // refresh_ahead reruns the body later, and a timed-out load finishes after its caller
    // returned: the body must own its arguments.
    let needs_owned = if o.refresh_ahead.is_some() {
        Some(("refresh_ahead", "reruns the body in the background"))
    } else if o.hard_timeout.is_some() {
        Some((
            "hard_timeout",
            "lets the body finish in the background after the caller stopped waiting",
        ))
    } else if o.soft_timeout.is_some() {
        Some((
            "soft_timeout",
            "lets the body finish in the background after the caller got the stale value",
        ))
    } else {
        None
    };
    let owned = needs_owned.is_some();
    if let Some((option, why)) = needs_owned {
        if let Some(r) = &receiver
            && (matches!(r.kind, syn::ReceiverKind::Reference(..))
                || matches!(&r.kind, syn::ReceiverKind::Typed(_, ty) if borrows(ty)))
        {
            errors.push_spanned(
                r,
                format!(
                    "`{option}` {why}, so it needs owned arguments: \
                     take `self` by value (e.g. `self: Arc<Self>`) or leave `{option}` out"
                ),
            );
        }
        for a in &args {
            if borrows(&a.ty) {
                errors.push_spanned(
                    &a.ty,
                    format!(
                        "`{option}` {why}, so it needs owned arguments: \
                         `{}` borrows; take an owned type (e.g. `String`, `Arc<T>`)",
                        a.ident
                    ),
                );
            }
        }
    }

    let in_impl = receiver.is_some() || o.associated.is_present() || mentions_self(f);

    if let Some(e) = errors.0 {
        return Err(e);
    }
    Ok(Plan {
        mode,
        plain: o.plain.is_present(),
        in_impl,
        kind,
        ret,
        args,
        receiver,
        self_in_key,
        key,
        owned,
        single_flight,
        cluster,
        l1_ttl,
        l2_ttl,
        l3_ttl,
        negative_ttl: o.cache_none.is_present().then(|| match mode {
            Mode::Shared => l2_ttl.unwrap_or(DEFAULT_L1_TTL),
            Mode::Local | Mode::Sync => l1_ttl.unwrap_or(DEFAULT_L1_TTL),
        }),
        refresh_ahead: o.refresh_ahead.map(|d| d.value),
        stale_if_error: o.stale_if_error.map(|d| d.value),
        soft_timeout: o.soft_timeout.map(|d| d.value),
        hard_timeout: o.hard_timeout.map(|d| d.value),
        prefix: o.prefix.map(|p| p.as_str().to_owned()),
        backend: o.backend,
        cache: o.cache,
        codec: o.codec,
        tags,
    })
}

fn kind_of(ty: &Type) -> Kind {
    match ty {
        Type::Path(p) if p.qself.is_none() => match p.path.segments.last() {
            Some(s) if s.ident == "Result" => Kind::Result,
            Some(s) if s.ident == "Option" => Kind::Option,
            _ => Kind::Plain,
        },
        Type::Group(g) => kind_of(&g.elem),
        Type::Paren(p) => kind_of(&p.elem),
        _ => Kind::Plain,
    }
}

/// Whether a type holds a reference or a lifetime (so a value of it cannot outlive the call).
fn borrows(ty: &Type) -> bool {
    has_lifetime(quote::ToTokens::to_token_stream(ty), true, &|l| {
        l != "static"
    })
}

/// Whether `tokens` (groups included) hold a lifetime `'l` for which `named(l)` holds, or,
/// with `ampersand`, a `&`.
pub(crate) fn has_lifetime(
    tokens: proc_macro2::TokenStream,
    ampersand: bool,
    named: &dyn Fn(&Ident) -> bool,
) -> bool {
    let mut after_quote = false;
    for tt in tokens {
        match tt {
            proc_macro2::TokenTree::Punct(p) if ampersand && p.as_char() == '&' => return true,
            proc_macro2::TokenTree::Punct(p) if p.as_char() == '\'' => after_quote = true,
            proc_macro2::TokenTree::Ident(i) if after_quote => {
                if named(&i) {
                    return true;
                }
                after_quote = false;
            }
            proc_macro2::TokenTree::Group(g) => {
                if has_lifetime(g.stream(), ampersand, named) {
                    return true;
                }
            }
            _ => after_quote = false,
        }
    }
    false
}

fn mentions_self(f: &ItemFn) -> bool {
    fn walk(ts: proc_macro2::TokenStream) -> bool {
        ts.into_iter().any(|tt| match tt {
            proc_macro2::TokenTree::Ident(i) => i == "Self",
            proc_macro2::TokenTree::Group(g) => walk(g.stream()),
            _ => false,
        })
    }
    walk(quote::ToTokens::to_token_stream(&f.sig))
        || walk(quote::ToTokens::to_token_stream(&f.block))
}

enum Raw {
    Text(String),
    Value(String),
}

/// `"user:{id}:{kind.name}"` → segments split on `:`, each text and `{placeholders}`;
/// `{{` and `}}` are literal braces.
fn parse_template(t: &str) -> Result<Vec<Vec<Raw>>, String> {
    let mut segments = vec![Vec::new()];
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
                                "invalid `key` template {t:?}: `{{` is not closed (write `{{{{` for a literal brace)"
                            ));
                        }
                    }
                }
                let name = name.trim().to_owned();
                let valid = !name.is_empty()
                    && name.split('.').all(|p| {
                        let p = p.trim();
                        p == "self"
                            || syn::parse_str::<Ident>(p).is_ok()
                            || p.parse::<usize>().is_ok()
                    });
                if !valid {
                    return Err(format!(
                        "invalid `key` template {t:?}: `{{{name}}}` must name an argument (`{{arg}}` or `{{arg.field}}`)"
                    ));
                }
                let seg = segments.last_mut().ok_or("empty template")?;
                if !text.is_empty() {
                    seg.push(Raw::Text(std::mem::take(&mut text)));
                }
                seg.push(Raw::Value(name));
            }
            '}' => {
                return Err(format!(
                    "invalid `key` template {t:?}: unmatched `}}` (write `}}}}` for a literal brace)"
                ));
            }
            ':' => {
                let seg = segments.last_mut().ok_or("empty template")?;
                if !text.is_empty() || seg.is_empty() {
                    seg.push(Raw::Text(std::mem::take(&mut text)));
                }
                segments.push(Vec::new());
            }
            c => text.push(c),
        }
    }
    let seg = segments.last_mut().ok_or("empty template")?;
    if !text.is_empty() || seg.is_empty() {
        seg.push(Raw::Text(text));
    }
    Ok(segments)
}
