//! The one Tokio runtime every subcommand runs on: a single thread, which serves the
//! pool's children, the relay and the daemon's timers without a thread per command.

use std::io;

use tokio::runtime::{Builder, Runtime};

/// The runtime; reporter becomes the child subreaper of what its commands leave behind
/// ([`crate::exec::tree`]) as it starts.
pub fn runtime() -> io::Result<Runtime> {
    crate::exec::tree::become_subreaper()?;
    Builder::new_current_thread().enable_all().build()
}
