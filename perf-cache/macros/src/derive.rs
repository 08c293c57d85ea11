//! `#[derive(CacheKey)]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields};

pub(crate) fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let p = quote!(::perf_cache::__private);
    let name = &input.ident;
    let mut generics = input.generics.clone();
    let type_params: Vec<_> = generics.type_params().map(|t| t.ident.clone()).collect();
    {
        let wc = generics.make_where_clause();
        for t in type_params {
            wc.predicates.push(syn::parse_quote!(#t: #p::CacheKey));
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    let body = match &input.data {
        Data::Struct(s) => {
            let items = s.fields.members().map(|m| quote!(__g.item(&self.#m);));
            quote!(__out.group(|__g| { #(#items)* });)
        }
        Data::Enum(e) => {
            let arms = e.variants.iter().map(|v| {
                let vname = &v.ident;
                let vstr = vname.to_string();
                match &v.fields {
                    Fields::Unit => quote!(Self::#vname => __out.text(#vstr),),
                    Fields::Named(named) => {
                        let ids: Vec<_> =
                            named.named.iter().filter_map(|f| f.ident.clone()).collect();
                        quote!(Self::#vname { #(#ids),* } => {
                            __out.text(#vstr);
                            __out.group(|__g| { #(__g.item(#ids);)* });
                        })
                    }
                    Fields::Unnamed(unnamed) => {
                        let ids: Vec<_> = (0..unnamed.unnamed.len())
                            .map(|i| format_ident!("__f{}", i))
                            .collect();
                        quote!(Self::#vname(#(#ids),*) => {
                            __out.text(#vstr);
                            __out.group(|__g| { #(__g.item(#ids);)* });
                        })
                    }
                }
            });
            quote!(match self { #(#arms)* })
        }
        Data::Union(u) => {
            return Err(syn::Error::new(
                u.union_token.span,
                "`#[derive(CacheKey)]` supports structs and enums, not unions",
            ));
        }
    };
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics #p::CacheKey for #name #ty_generics #where_clause {
            fn write_key(&self, __out: &mut #p::KeyWriter<'_>) {
                #body
            }
        }
    })
}
