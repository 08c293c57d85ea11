//! Stage 3: wrap the body in a timing guard.

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::{ReturnType, Type};

use crate::args::Timed;

pub(crate) fn expand(timed: Timed) -> TokenStream {
    let Timed { args, mut item } = timed;

    let name = match &args.name {
        Some(name) => quote!(::core::option::Option::Some(#name)),
        None => quote!(::core::option::Option::None),
    };
    let function = item.sig.ident.to_string();
    let function = function.trim_start_matches("r#");
    let labels = args.labels.0.iter().map(|(key, value)| {
        let key = key.to_string();
        let key = key.trim_start_matches("r#").to_owned();
        quote!((#key, #value))
    });

    // The declared return type fixes the body's type, so `?` keeps inferring; `impl Trait`
    // cannot be named in expression position, so it is left to inference.
    let output: Option<Type> = match &item.sig.output {
        ReturnType::Default => Some(syn::parse_quote!(())),
        ReturnType::Type(_, ty) if mentions_impl(ty.to_token_stream()) => None,
        ReturnType::Type(_, ty) => Some((**ty).clone()),
    };
    let typed = output.map(|ty| quote!(::<#ty, _>));

    let block = &item.block;
    let run = if item.sig.asyncness.is_some() {
        quote!(::perf_metrics::__private::typed_future #typed (async move #block).await)
    } else {
        quote!(::perf_metrics::__private::call_typed #typed (move || #block))
    };

    let body = quote! {{
        static __PERF_TIMED_SITE: ::perf_metrics::__private::TimedSite =
            ::perf_metrics::__private::TimedSite::new(
                #name,
                #function,
                ::core::module_path!(),
                &[#(#labels),*],
            );
        #[allow(unused_imports)]
        use ::perf_metrics::__private::{ResultOutcome as _, ValueOutcome as _};
        let __perf_timed_guard = ::perf_metrics::__private::TimedGuard::start(&__PERF_TIMED_SITE);
        let __perf_timed_result = #run;
        __perf_timed_guard.finish(
            (&::perf_metrics::__private::OutcomeProbe(&__perf_timed_result)).__perf_outcome(),
        );
        __perf_timed_result
    }};
    item.block = Box::new(syn::parse_quote!(#body));
    item.into_token_stream()
}

fn mentions_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => mentions_impl(group.stream()),
        _ => false,
    })
}
