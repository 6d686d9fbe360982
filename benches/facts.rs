//! What gathering the `host` facts costs (run with `cargo bench --bench facts`): the names
//! every report has, the full set gathered only when a template reads it, and sysinfo's
//! refresh of everything (processes included), which reporter does not do.

use std::time::{Duration, Instant};

use reporter::report::{Facts, Scope};
use reporter::schedule::Zone;

fn measure(label: &str, rounds: u32, gather: impl Fn()) {
    let mut best = Duration::MAX;
    let started = Instant::now();
    for _ in 0..rounds {
        let round = Instant::now();
        gather();
        best = best.min(round.elapsed());
    }
    let mean = started.elapsed() / rounds;
    println!("{label:32} mean {mean:>10.2?}  best {best:>10.2?}");
}

fn main() {
    measure("host names", 200, || {
        std::hint::black_box(Facts::gather(Scope::Names, Zone::Local));
    });
    measure("host names + system facts", 200, || {
        std::hint::black_box(Facts::gather(Scope::Full, Zone::Local));
    });
    measure("sysinfo System::new_all()", 20, || {
        let _ = std::hint::black_box(sysinfo::System::new_all());
    });
}
