//! Instruction counts of building keys, for callgrind (exact where wall clock on a shared
//! machine drifts): `Key::new("user").arg(n)` and `Key::new("user").arg("a:b*c")`, a fixed
//! number of times. Only `measured_builds` is meant to be collected:
//!
//! ```text
//! cargo bench -p perf-benches --bench cache_key_build_instr --no-run
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_builds*' \
//!     target/release/deps/cache_key_build_instr-<hash> u64|str
//! ```
//!
//! Divide the total by the number of builds printed (100,000).

use std::hint::black_box;

use perf_cache::Key;

const BUILDS: u64 = 100_000;

#[inline(never)]
fn measured_builds(which: &str) {
    match which {
        "str" => {
            for _ in 0..BUILDS {
                black_box(Key::new(black_box("user")).arg(black_box("a:b*c")));
            }
        }
        _ => {
            for n in 0..BUILDS {
                black_box(Key::new(black_box("user")).arg(black_box(n)));
            }
        }
    }
}

fn main() {
    let which = std::env::args()
        .skip(1)
        .find(|a| a == "u64" || a == "str")
        .unwrap_or_else(|| "u64".to_owned());
    measured_builds(&which);
    println!("{BUILDS} builds ({which})");
}
