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

/// How many messages a run's reports make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reports {
    /// A message for each job, from its own template to its own recipients.
    Each,
    /// `--digest`: one message for all the jobs, a section each.
    Digest,
}

impl Reports {
    pub fn is_digest(self) -> bool {
        self == Reports::Digest
    }
}

/// What a run gives back besides its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The exit status alone.
    Code,
    /// `run --json`: each job's outcome too, outputs included (docs/monitoring.md).
    Json,
}

/// What a run is told besides its jobs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub mode: Mode,
    pub reports: Reports,
    /// `--to`: send every report here instead of the job's recipients.
    pub to: Vec<AddressSpec>,
    pub trigger: Trigger,
    /// Problems with the configuration found before the run: mailed to the config's
    /// `mail.to` in a report of their own, so a broken job does not go unnoticed.
    pub problems: Vec<ConfigError>,
    /// Where each job's run is recorded once its mail has gone, and what `previous` and
    /// the send rules compare it with; `None` records nothing and compares with nothing.
    pub history: Option<History>,
    /// [`Outcome::Json`]: keep each job's outcome for [`crate::run::Ran`].
    pub outcome: Outcome,
}
