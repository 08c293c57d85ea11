//! Procedural macros for `perf-cache`: `#[cached]` and `#[derive(CacheKey)]`. Use them through
//! `perf_cache` (default feature `macros`), which documents them; the generated code names
//! only `::perf_cache::__private` paths.
//!
//! Each macro runs in stages: parse the options (`args.rs`), check them against the function
//! (`validate.rs`), then generate (`expand.rs`). On a mistake it emits one spanned error plus the
//! function unchanged, so that no cascade of secondary errors follows.

use proc_macro::TokenStream;
use quote::quote;

mod args;
mod derive;
mod expand;
mod expand_local;
mod modes;
mod tags;
mod validate;

/// Caches an `async fn` (free function or method) in perf-cache's shared tiers, or a plain
/// `fn` in L1 only: the key comes from the function's path and arguments, concurrent first
/// calls of a key run the body once, and `<fn>_cache_key`, `invalidate_<fn>`,
/// `invalidate_<fn>_all` and `refresh_<fn>` are generated beside it.
///
/// Options (all optional): `ttl`, `l1_ttl`, `l2_ttl`, `l3_ttl` (humantime strings or
/// seconds), `prefix`, `key` (a template over argument names), `skip(..)`, `backend`, `cache`,
/// `codec`, `cache_none`, `refresh_ahead`, `stale_if_error`, `single_flight`, `associated`,
/// `local` (L1 only, no serde), `plain` (values in Redis as plain JSON).
/// The `perf_cache` crate documentation (section "`#[cached]`") describes each with an
/// example.
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    let item2: proc_macro2::TokenStream = item.clone().into();
    let f = match syn::parse::<syn::ItemFn>(item) {
        Ok(f) => f,
        Err(e) => {
            let e = syn::Error::new(
                e.span(),
                "`#[cached]` applies to a function: an `async fn` or a plain `fn` (free, or a method in an `impl` block)",
            )
            .to_compile_error();
            return quote!(#e #item2).into();
        }
    };
    let options = match args::parse(args.into()) {
        Ok(o) => o,
        Err(e) => {
            let e = e.write_errors();
            return quote!(#e #item2).into();
        }
    };
    match validate::validate(options, &f) {
        Ok(plan) => expand::expand(&plan, &f).into(),
        Err(e) => {
            let e = e.to_compile_error();
            quote!(#e #item2).into()
        }
    }
}

/// Derives `perf_cache::CacheKey` for a struct (its fields as a group, `(a,b,)`) or an enum
/// (the variant's name, then its fields as a group), so that the type can be a `#[cached]`
/// argument. Type parameters get a `CacheKey` bound.
#[proc_macro_derive(CacheKey)]
pub fn derive_cache_key(item: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(item as syn::DeriveInput);
    match derive::derive(&input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}
