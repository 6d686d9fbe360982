//! What gathering the `host` facts costs, names only and in full (run with `cargo bench --bench facts`).
//! The full set is gathered only when a template reads it, and always off the path that
//! starts commands; this shows what that saves.

use std::time::{Duration, Instant};

use reporter::facts::{Facts, Scope};
use reporter::timezone::Zone;

fn measure(label: &str, scope: Scope) {
    const ROUNDS: u32 = 200;
    let mut best = Duration::MAX;
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let round = Instant::now();
        std::hint::black_box(Facts::gather(scope, Zone::Local));
        best = best.min(round.elapsed());
    }
    let mean = started.elapsed() / ROUNDS;
    println!("{label:12} mean {mean:>10.2?}  best {best:>10.2?}");
}

fn main() {
    measure("names", Scope::Names);
    measure("full", Scope::Full);
}
