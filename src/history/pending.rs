//! Runs the history could not record when they ended (the database locked by another
//! process past the busy timeout, or full): each kept as a private file in
//! `state_dir/history-pending/` and recorded, in order, by the next write to the history
//! (the next run, the daemon's next job or `flush`), before a run reads its `previous`.
//!
//! One JSON file per run, named after its run id and job, written atomically (0600, no
//! symbolic link followed) like a spooled message, so a crash leaves either the whole
//! file or none, and two processes never write the same file.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::history::record::RunRecord;
use crate::state::atomic::write_atomic;
use crate::state::private::{self, Access};

/// The folder of `state_dir` the runs wait in.
pub const FOLDER: &str = "history-pending";

/// The most runs kept waiting: a history that stays unwritable must not fill the disk.
const MAX_PENDING: usize = 1000;

/// A file larger than this is not a run reporter wrote: its outputs are within the job's
/// output budget (docs/jobs.md), and its other fields are small.
const MAX_FILE: u64 = 256 << 20;

/// The runs waiting in one state folder.
#[derive(Debug, Clone)]
pub struct Pending {
    dir: PathBuf,
}

/// Why a pending run could not be kept or read back.
#[derive(Debug, thiserror::Error)]
pub enum PendingError {
    #[error("cannot keep it in `{}`: {source}", dir.display())]
    Write {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{}` already holds {MAX_PENDING} runs waiting to be recorded", dir.display())]
    Full { dir: PathBuf },
    #[error("cannot read `{}`: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
}

impl Pending {
    pub fn new(state_dir: &Path) -> Pending {
        Pending {
            dir: state_dir.join(FOLDER),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keeps `runs` for the next write; returns how many runs are waiting now.
    pub fn keep(&self, runs: &[RunRecord]) -> Result<usize, PendingError> {
        let waiting = self.list().len();
        if waiting + runs.len() > MAX_PENDING {
            return Err(PendingError::Full {
                dir: self.dir.clone(),
            });
        }
        for run in runs {
            let text = serde_json::to_vec(run).map_err(|e| self.write_error(e.into()))?;
            let path = self.dir.join(file_name(run));
            write_atomic(&path, &[&text], Access::Private).map_err(|e| self.write_error(e))?;
        }
        Ok(self.list().len())
    }

    /// The files of the runs waiting, oldest name first (temporary files of a write under
    /// way left out).
    pub fn list(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path())
            .filter(|path| {
                path.extension().is_some_and(|e| e == "json")
                    && !path
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort();
        files
    }

    /// The run kept in `path`.
    pub fn read(path: &Path) -> Result<RunRecord, PendingError> {
        let error = |reason: String| PendingError::Read {
            path: path.to_owned(),
            reason,
        };
        let file = private::open_read(path).map_err(|e| error(e.to_string()))?;
        let mut text = Vec::new();
        file.take(MAX_FILE)
            .read_to_end(&mut text)
            .map_err(|e| error(e.to_string()))?;
        serde_json::from_slice(&text).map_err(|e| error(e.to_string()))
    }

    /// Removes the files of runs now recorded (or unreadable, and set aside by the caller).
    pub fn remove(files: &[PathBuf]) {
        for file in files {
            if let Err(e) = std::fs::remove_file(file)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!("cannot remove `{}`: {e}", file.display());
            }
        }
    }

    fn write_error(&self, source: io::Error) -> PendingError {
        PendingError::Write {
            dir: self.dir.clone(),
            source,
        }
    }
}

/// `STARTED.RUN_ID.JOB.json`: names sort in the order the runs started; the run id and the
/// job (both letters, digits, `.`, `-` and `_`) make it unique.
fn file_name(run: &RunRecord) -> String {
    format!(
        "{:015}.{}.{}.json",
        run.started_at.timestamp_millis().max(0),
        run.run_id,
        run.job
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Trigger;

    #[test]
    fn runs_kept_are_read_back_in_the_order_they_started() {
        let dir = tempfile::tempdir().unwrap();
        let pending = Pending::new(dir.path());
        assert!(pending.list().is_empty());
        let mut later = RunRecord::skipped("r2", "disk", Trigger::Cron, "busy".into());
        let earlier = RunRecord::skipped("r1", "disk", Trigger::Manual, "busy".into());
        later.started_at = earlier.started_at + chrono::Duration::seconds(5);
        assert_eq!(pending.keep(&[later]).unwrap(), 1);
        assert_eq!(pending.keep(&[earlier]).unwrap(), 2);
        let files = pending.list();
        let runs: Vec<RunRecord> = files.iter().map(|f| Pending::read(f).unwrap()).collect();
        assert_eq!(runs[0].run_id, "r1");
        assert_eq!(runs[1].run_id, "r2");
        assert_eq!(runs[1].trigger, Trigger::Cron);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        Pending::remove(&files);
        assert!(pending.list().is_empty());
    }
}
