//! `#[timed]` compile-time behaviour, locked with trybuild: accepted shapes compile; each misuse
//! gives one spanned error (the `.stderr` files next to the cases).
#![cfg(feature = "macros")]

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
