//! Procedural macros for `perf-metrics`. Use them through `perf_metrics`, not directly: the
//! generated code names `::perf_metrics::__private`.
//!
//! Each macro runs in three stages: `args` parses the options, `validate` checks them and the
//! function (spanned errors), `expand` generates the code. On an error the function is emitted
//! unchanged next to the `compile_error!`, so no secondary errors follow.

mod args;
mod expand;
mod validate;

use proc_macro::TokenStream;

/// Records a function's duration as a histogram labelled by outcome. See `perf_metrics::timed`.
#[proc_macro_attribute]
pub fn timed(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match args::parse(attr.into(), item.clone()).and_then(validate::validate) {
        Ok(timed) => expand::expand(timed).into(),
        Err(error) => {
            let mut out = error.write_errors();
            out.extend(item);
            out.into()
        }
    }
}
