//! `#[cached]` compile errors, locked with trybuild `.stderr` files: one clear, spanned error
//! per mistake and no cascade (the function is emitted unchanged beside the error).

#[test]
fn cached_mistakes_give_one_clear_error_each() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
