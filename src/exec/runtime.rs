//! The one Tokio runtime every subcommand runs on: a single thread, which serves the
//! pool's children, the relay and the daemon's timers without a thread per command.

use std::io;

use tokio::runtime::{Builder, Runtime};

pub fn runtime() -> io::Result<Runtime> {
    Builder::new_current_thread().enable_all().build()
}
