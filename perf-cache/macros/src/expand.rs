//! Generating the cached function and its companions from a [`Plan`].

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{GenericParam, ItemFn};

use crate::validate::{KeySpec, Kind, Mode, Part, Plan, Root, has_lifetime};

pub(crate) fn expand(plan: &Plan, f: &ItemFn) -> TokenStream {
    let sig = &f.sig;
    let name = &sig.ident;
    let name_str = name.to_string();
    let vis = &f.vis;
    let attrs = &f.attrs;
    let block = &f.block;
    let ret = &plan.ret;
    let generics = &sig.generics;
    let where_clause = &generics.where_clause;
    let inputs = &sig.inputs;

    // Items emitted next to the function carry its `cfg`s; the body keeps its lint levels.
    let cfgs: Vec<_> = attrs.iter().filter(|a| a.path().is_ident("cfg")).collect();
    let lints: Vec<_> = attrs
        .iter()
        .filter(|a| {
            ["allow", "warn", "deny", "expect", "forbid"]
                .iter()
                .any(|l| a.path().is_ident(l))
        })
        .collect();

    let body_fn = format_ident!("__perf_cache_body_{}", name);
    let view_fn = format_ident!("__perf_cache_view_{}", name);
    let key_fn = format_ident!("{}_cache_key", name);
    let invalidate_fn = format_ident!("invalidate_{}", name);
    let invalidate_all_fn = format_ident!("invalidate_{}_all", name);
    let refresh_fn = format_ident!("refresh_{}", name);
    let path = if plan.in_impl {
        quote!(Self::)
    } else {
        quote!()
    };
    let p = quote!(::perf_cache::__private);

    let kind = match plan.kind {
        Kind::Plain => quote!(#p::PlainKind),
        Kind::Option => quote!(#p::OptionKind),
        Kind::Result => quote!(#p::ResultKind),
    };
    let value_ty = quote!(<#kind as #p::Kind<#ret>>::Value);
    let error_ty = quote!(<#kind as #p::Kind<#ret>>::Error);

    // The view function has the type and const parameters (the value type may use them); its
    // `where` clause only when no lifetime parameter could appear in it.
    let view_params: Vec<&GenericParam> = generics
        .params
        .iter()
        .filter(|g| !matches!(g, GenericParam::Lifetime(_)))
        .collect();
    let view_args: Vec<TokenStream> = view_params
        .iter()
        .map(|g| match g {
            GenericParam::Type(t) => {
                let i = &t.ident;
                quote!(#i)
            }
            GenericParam::Const(c) => {
                let i = &c.ident;
                quote!(#i)
            }
            GenericParam::Lifetime(_) => quote!(),
        })
        .collect();
    let lifetimes: Vec<String> = generics
        .lifetimes()
        .map(|l| l.lifetime.ident.to_string())
        .collect();
    let view_predicates = where_clause.iter().flat_map(|w| {
        w.predicates
            .iter()
            .filter(|p| !has_lifetime(quote!(#p), false, &|l| lifetimes.iter().any(|n| l == n)))
    });
    let view_where = quote!(where #(#view_predicates,)*);
    let view_call = quote!(#path #view_fn::<#(#view_args),*>());

    // Call arguments of the body: `self` and each argument, moved.
    let receiver_arg = plan.receiver.as_ref().map(|_| quote!(self,));
    let arg_idents: Vec<_> = plan.args.iter().map(|a| &a.ident).collect();
    let body_call = quote!(#path #body_fn(#receiver_arg #(#arg_idents),*));

    let key_expr = key_expression(plan);
    // Tags: computed from the arguments when the body runs (the tag vector is evaluated before
    // the body's call takes the arguments), set as the body's own (`set_result_tags`).
    let body_call = if plan.tags.is_empty() {
        body_call
    } else {
        // Built when the body runs (a miss), never on a hit: the templates allocate.
        let tags = crate::tags::expression(&plan.tags, &plan.args);
        quote!(#p::tagged(#tags, #body_call))
    };

    let prefix = match (&plan.prefix, plan.in_impl) {
        (Some(prefix), _) => quote!(#prefix),
        (None, false) => {
            quote!(&#p::default_prefix(::core::concat!(::core::module_path!(), "::", #name_str)))
        }
        (None, true) => quote!(&#p::default_prefix(&::std::format!(
            "{}::{}",
            ::core::any::type_name::<Self>(),
            #name_str
        ))),
    };
    let make = if let Some(cache) = &plan.cache {
        quote!(::core::result::Result::Ok(#cache))
    } else if plan.mode != Mode::Shared {
        crate::expand_local::make(plan, &prefix)
    } else {
        let backend = match &plan.backend {
            Some(b) => quote!(#b),
            None => quote!(#p::Backend::default_backend()),
        };
        let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let mut setters = TokenStream::new();
        let mut setter = |method: &str, d: Option<std::time::Duration>| {
            if let Some(d) = d {
                let method = format_ident!("{}", method);
                let n = nanos(d);
                setters.extend(quote!(.#method(#p::Duration::from_nanos(#n))));
            }
        };
        setter("l1_ttl", plan.l1_ttl);
        setter("l2_ttl", plan.l2_ttl);
        setter("l3_ttl", plan.l3_ttl);
        setter("negative_ttl", plan.negative_ttl);
        setter("refresh_ahead", plan.refresh_ahead);
        setter("stale_if_error", plan.stale_if_error);
        if let Some(codec) = &plan.codec {
            setters.extend(quote!(.codec(#codec)));
        } else if plan.plain {
            setters.extend(quote!(.codec(#p::Json)));
        }
        if plan.plain {
            setters.extend(quote!(.storage_format(#p::StorageFormat::Plain)));
        }
        quote!({
            let backend = #backend;
            #p::Cache::<#value_ty>::builder()
                .prefix(#prefix)
                #setters
                .build_on(::core::borrow::Borrow::<#p::Backend>::borrow(&backend))
        })
    };

    let sharing = quote!({
        #[allow(unused_imports)]
        use #p::{ShareCloned as _, ShareNot as _};
        (&&#p::ErrorProbe::<#error_ty>::new()).sharing()
    });
    let single_flight = plan.single_flight;
    let cluster = plan.cluster;
    let nanos_opt = |d: Option<std::time::Duration>| match d {
        Some(d) => {
            let n = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
            quote!(::core::option::Option::Some(#p::Duration::from_nanos(#n)))
        }
        None => quote!(::core::option::Option::None),
    };
    let soft_timeout = nanos_opt(plan.soft_timeout);
    let hard_timeout = nanos_opt(plan.hard_timeout);
    // The error type must take a timeout: checked here, reported on the return type.
    let timed_out = if plan.hard_timeout.is_some() {
        let span = Span::call_site().located_at(ret.span());
        quote_spanned!(span=> #p::timeout_error::<<#kind as #p::Kind<#ret>>::Error>(),)
    } else if plan.owned && plan.mode == Mode::Shared {
        quote!(::core::option::Option::None,)
    } else {
        quote!()
    };
    let call = match plan.mode {
        Mode::Local => quote!(#p::call_local),
        Mode::Sync => quote!(#p::call_sync),
        Mode::Shared if plan.owned => quote!(#p::call_owned),
        Mode::Shared => quote!(#p::call),
    };
    let c = crate::expand_local::Companions::of(plan.mode);
    let (await_, async_) = (&c.await_, &c.async_);
    let (invalidate_call, invalidate_all_call, refresh_call) =
        (&c.invalidate, &c.invalidate_all, &c.refresh);
    let view_ty = match plan.mode {
        Mode::Shared => quote!(#p::Cache<#value_ty, impl #p::Codec>),
        Mode::Local | Mode::Sync => quote!(#p::LocalCache<#value_ty>),
    };
    let refresh_body = match plan.mode {
        Mode::Sync => quote!(move || #body_call),
        Mode::Shared | Mode::Local => quote!(#body_call),
    };

    // Companion signatures: `&self` when `self` is in the key, `&T` for owned key arguments.
    let key_receiver = plan.self_in_key.then(|| quote!(&self,));
    let key_params: Vec<TokenStream> = plan
        .args
        .iter()
        .filter(|a| a.in_key)
        .map(|a| {
            let (i, ty) = (&a.ident, &a.ty);
            if matches!(ty, syn::Type::Reference(_)) {
                quote!(#i: #ty)
            } else {
                quote!(#i: &#ty)
            }
        })
        .collect();
    let params = &generics.params;
    let shown = if plan.in_impl {
        format!("`Self::{name_str}`")
    } else {
        format!("`{name_str}`")
    };
    let key_doc =
        format!("The cache key under which {shown} stores its result for these arguments.");
    let (invalidate_doc, invalidate_all_doc) =
        crate::expand_local::invalidate_docs(plan.mode, &shown);
    let refresh_doc = format!(
        "Runs the body of {shown} now and stores its result (a `None` is invalidated, an error leaves the cache as it is); returns the result."
    );
    let asyncness = &sig.asyncness;
    // The wrapper and `refresh_` only pass their arguments on: no `mut` bindings there.
    let mut outer_sig = sig.clone();
    strip_mut(&mut outer_sig.inputs);
    let outer_inputs = &outer_sig.inputs;

    quote! {
        #(#attrs)*
        #vis #outer_sig {
            let __perf_cache_key = #key_expr;
            #call(
                #kind,
                #view_call,
                &__perf_cache_key,
                #p::CallOptions {
                    single_flight: #single_flight,
                    cluster: #cluster,
                    soft_timeout: #soft_timeout,
                    hard_timeout: #hard_timeout,
                },
                #sharing,
                #timed_out
                move || #body_call,
            )
            #await_
        }

        #[doc(hidden)]
        #(#cfgs)*
        #(#lints)*
        #asyncness fn #body_fn<#params>(#inputs) -> #ret #where_clause #block

        #[doc(hidden)]
        #(#cfgs)*
        fn #view_fn<#(#view_params),*>() -> ::core::option::Option<
            &'static #view_ty,
        > #view_where {
            static SITE: #p::Site = #p::Site::new();
            SITE.view(::core::concat!(::core::module_path!(), "::", #name_str), || #make)
        }

        #[doc = #key_doc]
        #(#cfgs)*
        #[allow(dead_code)]
        #vis fn #key_fn<#params>(#key_receiver #(#key_params),*) -> #p::Key #where_clause {
            #key_expr
        }

        #[doc = #invalidate_doc]
        #(#cfgs)*
        #[allow(dead_code)]
        #vis #async_ fn #invalidate_fn<#params>(#key_receiver #(#key_params),*) -> #p::Invalidation #where_clause {
            let __perf_cache_key = #key_expr;
            #invalidate_call(#view_call, &__perf_cache_key) #await_
        }

        #[doc = #invalidate_all_doc]
        #(#cfgs)*
        #[allow(dead_code)]
        #vis #async_ fn #invalidate_all_fn<#(#view_params),*>() -> #p::Invalidation #view_where {
            #invalidate_all_call(#view_call) #await_
        }

        #[doc = #refresh_doc]
        #(#cfgs)*
        #[allow(dead_code)]
        #vis #async_ fn #refresh_fn<#params>(#outer_inputs) -> #ret #where_clause {
            let __perf_cache_key = #key_expr;
            #refresh_call(#kind, #view_call, &__perf_cache_key, #refresh_body) #await_
        }
    }
}

fn strip_mut(inputs: &mut syn::punctuated::Punctuated<syn::FnArg, syn::Token![,]>) {
    for input in inputs {
        match input {
            syn::FnArg::Receiver(r) => {
                if matches!(r.kind, syn::ReceiverKind::Value) {
                    r.mutability = None;
                }
            }
            syn::FnArg::Typed(pt) => {
                if let syn::Pat::Ident(pi) = &mut *pt.pat {
                    pi.mutability = None;
                }
            }
        }
    }
}

/// The expression that builds the key from the arguments in scope (by reference).
fn key_expression(plan: &Plan) -> TokenStream {
    let p = quote!(::perf_cache::__private);
    let mut segments: Vec<TokenStream> = Vec::new();
    let write = |expr: TokenStream, span: Span| {
        let span = Span::call_site().located_at(span);
        quote_spanned!(span=> #p::write_arg(&#expr, __w);)
    };
    match &plan.key {
        KeySpec::Args => {
            if plan.self_in_key
                && let Some(r) = &plan.receiver
            {
                segments.push(write(quote!(self), r.span()));
            }
            for a in plan.args.iter().filter(|a| a.in_key) {
                let i = &a.ident;
                segments.push(write(quote!(#i), a.ty.span()));
            }
        }
        KeySpec::Template(segs) => {
            for seg in segs {
                let mut parts = TokenStream::new();
                for part in seg {
                    match part {
                        Part::Text(t) => parts.extend(quote!(__w.text(#t);)),
                        Part::Value { root, fields } => {
                            let (base, span) = match root {
                                Root::SelfValue => (quote!(self), Span::call_site()),
                                Root::Arg(i) => {
                                    let a = &plan.args[*i];
                                    let id = &a.ident;
                                    (quote!(#id), a.ty.span())
                                }
                            };
                            parts.extend(write(quote!(#base #(.#fields)*), span));
                        }
                    }
                }
                segments.push(parts);
            }
        }
    }
    if segments.is_empty() {
        return quote!(#p::unit_key());
    }
    let first = (0..segments.len()).map(|i| i == 0);
    quote!({
        let mut __k = #p::empty_key();
        #(#p::segment(&mut __k, #first, |__w: &mut #p::KeyWriter<'_>| { #segments });)*
        __k
    })
}
