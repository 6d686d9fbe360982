//! The `reporter` binary: the library's command line, and its exit code.

fn main() {
    // Big buffers (command output, message bodies) are mapped and unmapped on their own,
    // so memory freed after one report is returned rather than kept fragmented in the heap.
    // SAFETY: called before any other thread exists or any allocation depends on it.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
    std::process::exit(reporter::invoke(std::env::args_os()));
}
