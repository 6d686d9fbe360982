//! How a run hands out its reports, and what else it is told.

use crate::config::ConfigError;
use crate::config::address::AddressSpec;
use crate::history::History;
use crate::report::Trigger;

/// Whether a run sends its messages or prints them, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deliver (spool first); take the job locks; record the run.
    Send,
    /// `preview`: print the messages as mbox on stdout; send and record nothing.
    Mbox,
    /// `preview --html`: print only the rendered HTML bodies.
    Html,
}

impl Mode {
    pub fn is_preview(self) -> bool {
        self != Mode::Send
    }
}

/// What a run is told besides its jobs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub mode: Mode,
    /// `--digest`: one message for all the jobs, a section each.
    pub digest: bool,
    /// `--to`: send every report here instead of the job's recipients.
    pub to: Vec<AddressSpec>,
    pub trigger: Trigger,
    /// Problems with the configuration found before the run: mailed to the config's
    /// `mail.to` in a report of their own, so a broken job does not go unnoticed.
    pub problems: Vec<ConfigError>,
    /// Where each job's run is recorded once its mail has gone, and what `previous` and
    /// the send rules compare it with; `None` records nothing and compares with nothing.
    pub history: Option<History>,
    /// `run --json`: keep each job's outcome, outputs included, for [`crate::run::Ran`].
    pub outcomes: bool,
}
