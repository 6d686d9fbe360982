//! The one Tokio runtime every subcommand runs on: a single thread, which serves the
//! pool's children, the relay and the daemon's timers without a thread per command.

use std::io;

use tokio::runtime::{Builder, Runtime};

/// The runtime; reporter becomes the child subreaper of what its commands leave behind
/// ([`crate::exec::tree`]) and readies its descriptors ([`crate::exec::descriptors`]) as
/// it starts.
pub fn runtime() -> io::Result<Runtime> {
    crate::exec::tree::become_subreaper()?;
    crate::exec::descriptors::prepare();
    Builder::new_current_thread().enable_all().build()
}
