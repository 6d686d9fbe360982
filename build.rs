//! Tells the end-to-end tests whether they are built by root. The tests that need root
//! are built as ignored otherwise (`cfg(reporter_tests_as_root)`), so `cargo test` as
//! another user lists them as `ignored, needs root` instead of passing them unchecked.

use std::os::unix::fs::MetadataExt;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    // sudo and su set USER: a build by another user looks again.
    println!("cargo::rerun-if-env-changed=USER");
    println!("cargo::rustc-check-cfg=cfg(reporter_tests_as_root)");
    // /proc/self belongs to the effective user of the process looking at it.
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if root {
        println!("cargo::rustc-cfg=reporter_tests_as_root");
    }
}
