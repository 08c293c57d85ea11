//! The parts of the expansion that differ for L1-only functions (`local`, plain `fn`s).

use proc_macro2::TokenStream;
use quote::quote;

use crate::validate::{Kind, Mode, Plan};

/// The runtime functions a function's companions call, and whether they are awaited.
pub(crate) struct Companions {
    pub(crate) invalidate: TokenStream,
    pub(crate) invalidate_all: TokenStream,
    pub(crate) refresh: TokenStream,
    /// `.await`, or nothing for a plain `fn`.
    pub(crate) await_: TokenStream,
    /// `async`, or nothing for a plain `fn` (whose companions are plain too).
    pub(crate) async_: TokenStream,
}

impl Companions {
    pub(crate) fn of(mode: Mode) -> Self {
        let p = quote!(::perf_cache::__private);
        let (invalidate, invalidate_all, refresh) = match mode {
            Mode::Shared => (
                quote!(#p::invalidate),
                quote!(#p::invalidate_all),
                quote!(#p::refresh),
            ),
            Mode::Local => (
                quote!(#p::invalidate_local),
                quote!(#p::invalidate_local_all),
                quote!(#p::refresh_local),
            ),
            Mode::Sync => (
                quote!(#p::invalidate_sync),
                quote!(#p::invalidate_sync_all),
                quote!(#p::refresh_sync),
            ),
        };
        let (await_, async_) = match mode {
            Mode::Sync => (quote!(), quote!()),
            Mode::Shared | Mode::Local => (quote!(.await), quote!(async)),
        };
        Self {
            invalidate,
            invalidate_all,
            refresh,
            await_,
            async_,
        }
    }
}

/// The expression that builds an L1-only view on the backend (default or `backend = ..`).
pub(crate) fn make(plan: &Plan, prefix: &TokenStream) -> TokenStream {
    let p = quote!(::perf_cache::__private);
    let kind = match plan.kind {
        Kind::Plain => quote!(#p::PlainKind),
        Kind::Option => quote!(#p::OptionKind),
        Kind::Result => quote!(#p::ResultKind),
    };
    let ret = &plan.ret;
    let value_ty = quote!(<#kind as #p::Kind<#ret>>::Value);
    let backend = match &plan.backend {
        Some(b) => quote!(#b),
        None => quote!(#p::Backend::default_backend()),
    };
    let duration = |d: Option<std::time::Duration>| match d {
        Some(d) => {
            let n = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
            quote!(::core::option::Option::Some(#p::Duration::from_nanos(#n)))
        }
        None => quote!(::core::option::Option::None),
    };
    let l1_ttl = duration(plan.l1_ttl);
    let negative_ttl = duration(plan.negative_ttl);
    quote!({
        let backend = #backend;
        #p::local_cache::<#value_ty>(
            ::core::borrow::Borrow::<#p::Backend>::borrow(&backend),
            #prefix,
            #l1_ttl,
            #negative_ttl,
        )
    })
}

/// The doc comments of `invalidate_<fn>` and `invalidate_<fn>_all`: what each mode reaches.
pub(crate) fn invalidate_docs(mode: Mode, shown: &str) -> (String, String) {
    match mode {
        Mode::Shared => (
            format!(
                "Removes the cached result of {shown} for these arguments from every tier (shared tiers first, this process's L1 last); returns what it reached."
            ),
            format!(
                "Removes every cached result of {shown} from every tier; returns what it reached."
            ),
        ),
        Mode::Local => (
            format!(
                "Removes the cached result of {shown} for these arguments from this process's L1 and tells other instances on the invalidation bus."
            ),
            format!(
                "Removes every cached result of {shown} from this process's L1 and tells other instances on the invalidation bus."
            ),
        ),
        Mode::Sync => (
            format!(
                "Removes the cached result of {shown} for these arguments from this process's L1 (this process only)."
            ),
            format!(
                "Removes every cached result of {shown} from this process's L1 (this process only)."
            ),
        ),
    }
}
