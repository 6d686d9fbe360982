//! The last stage of a run: what happened to each job, written to the history in one
//! transaction once the run's mail has gone (or waits in the spool).

use tracing::error;

use crate::history::{History, RunRecord};

pub struct Recorder {
    history: Option<History>,
    records: Vec<RunRecord>,
}

impl Recorder {
    /// Records into `history`; `None` records nothing (a preview, or the history off).
    pub fn new(history: Option<History>) -> Recorder {
        Recorder {
            history,
            records: Vec::new(),
        }
    }

    pub fn is_on(&self) -> bool {
        self.history.is_some()
    }

    /// Keeps the record of a finished job (`None` when the run is not recorded).
    pub fn add(&mut self, record: Option<RunRecord>) {
        self.records.extend(record);
    }

    /// Notes that the mail of `jobs` did not go out after all.
    pub fn unsent(&mut self, jobs: &[String]) {
        self.records
            .iter_mut()
            .filter(|r| jobs.contains(&r.job))
            .for_each(|r| r.sent = false);
    }

    /// Writes the records. The history records what happened; failing to write it must
    /// not fail the run, so a failure is only reported.
    pub fn write(self) {
        if let Some(history) = &self.history
            && !self.records.is_empty()
            && let Err(e) = history.record(&self.records)
        {
            error!("{e}");
        }
    }
}
