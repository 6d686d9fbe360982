//! The last stage of each job: what happened to it, written to the history as soon as its
//! report has been delivered or spooled (or left out), so that a run killed later keeps
//! the records of the jobs already done.

use tracing::{error, warn};

use crate::history::{History, HistoryError, RunRecord};

#[derive(Clone)]
pub struct Recorder {
    history: Option<History>,
}

impl Recorder {
    /// Records into `history`; `None` records nothing (a preview, or the history off).
    pub fn new(history: Option<History>) -> Recorder {
        Recorder { history }
    }

    pub fn is_on(&self) -> bool {
        self.history.is_some()
    }

    /// Writes `records` now. The history records what happened; failing to write it must
    /// not fail the run, so a failure is only reported.
    pub fn write(&self, records: Vec<RunRecord>) {
        if let Some(history) = &self.history
            && !records.is_empty()
        {
            match history.record(&records) {
                Ok(()) => {}
                // Nothing lost: the next run records it.
                Err(e @ HistoryError::Kept { .. }) => warn!("{e}"),
                Err(e) => error!("{e}"),
            }
        }
    }

    /// [`Recorder::write`] off the runtime's thread, for a delivery that has settled while
    /// other jobs still run.
    pub async fn write_soon(&self, records: Vec<RunRecord>) {
        if self.history.is_none() || records.is_empty() {
            return;
        }
        let recorder = self.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || recorder.write(records)).await {
            error!("cannot write the history: {e}");
        }
    }
}
