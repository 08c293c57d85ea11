//! What it shows: the smallest program that uses the perf crates.
//!
//! Run with: `cargo run -p quickstart`
//!
//! The full example service that composes every perf crate arrives with a later issue.

fn main() {
    println!("perf quickstart: the example service arrives with a later issue");
}
