//! What the history keeps of a run: the run with its summary, each result with a
//! fingerprint of its output (and the output itself for the job's last run), and the
//! disks' usage, as written and as read back.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::report::expect::ValueHistory;
use crate::report::{ResultCore, Status, Summary, TaskResult, Trigger};

/// How a recorded run ended: the worst result status, or skipped because the job was
/// still running from its previous fire time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunStatus {
    Finished(Status),
    Skipped,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Finished(status) => status.as_str(),
            RunStatus::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> RunStatus {
        match text {
            "skipped" => RunStatus::Skipped,
            _ => RunStatus::Finished(Status::parse(text)),
        }
    }
}

/// One result of a recorded run: what `results` held, with a fingerprint of the output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedResult {
    pub core: ResultCore,
    /// [`fingerprint`] of stdout and stderr: equal fingerprints mean equal output.
    pub fingerprint: String,
    /// The output (within `max_output`). The history keeps it for each job's last run
    /// only, so older runs (and runs recorded before reporter kept outputs) read `None`.
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    /// The values its command's `values:` read that held a number (docs/values.md).
    #[serde(default)]
    pub values: Vec<(String, f64)>,
    /// Which of them were read as sizes (bytes). Written to the history, never read back
    /// into a result.
    #[serde(default)]
    pub sizes: Vec<String>,
}

impl RecordedResult {
    /// `result` with the fingerprint of its outputs but not the outputs themselves, which
    /// may be as long as `max_output`: [`RunRecord::keep_outputs`] moves them in once the
    /// report is done with them.
    pub fn of(result: &TaskResult) -> RecordedResult {
        RecordedResult {
            core: result.core.clone(),
            fingerprint: output_fingerprint(result),
            stdout: None,
            stderr: None,
            values: result.values.recorded(),
            sizes: result.values.sizes(),
        }
    }
}

/// One disk's usage in a recorded run. Runs recorded before reporter kept bytes have
/// only the percentage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskUsage {
    pub mount: String,
    pub percent: f64,
    pub used: Option<u64>,
    pub total: Option<u64>,
}

/// One run of one job. Serialized only for the runs kept for later (`pending`), with its
/// times in milliseconds as the database has them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub job: String,
    pub trigger: Trigger,
    #[serde(with = "millis")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "millis")]
    pub finished_at: DateTime<Utc>,
    pub status: RunStatus,
    pub summary: Summary,
    pub interrupted: bool,
    /// Every message of the run reached the relay (or the mail folder).
    pub sent: bool,
    /// Why a run was skipped.
    pub note: Option<String>,
    /// Why the run's report was not mailed: its send rule (`None` when it was mailed, or
    /// meant to be).
    pub reason: Option<String>,
    /// The silence (`ID: reason`) or maintenance window (`maintenance: NAME`) the run
    /// was in: its report was not mailed for it.
    #[serde(default)]
    pub silenced: Option<String>,
    /// Empty for skipped runs, and in listings (`History::runs`).
    pub results: Vec<RecordedResult>,
    /// Each disk's usage when the run's report read the facts (mount order).
    pub disks: Vec<DiskUsage>,
}

/// One earlier run's disk usage, for the usage history of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskRun {
    pub started_at: DateTime<Utc>,
    pub disks: Vec<DiskUsage>,
}

/// What a new run of a job is compared with: its last finished run, and the disk usage of
/// its recent runs, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Recent {
    pub last: Option<RunRecord>,
    pub disks: Vec<DiskRun>,
    /// The failing runs the job's newest finished runs end with; `None` without a history
    /// to count them in (off, or unreadable).
    pub streak: Option<Streak>,
    /// The values of the results of its recent runs, for trends and expectations.
    pub values: ValueHistory,
}

/// The failing runs in a row that a job's history ends with (skipped fire times left out):
/// what `failures_before_mail` counts, and whether a recovery is worth a mail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Streak {
    /// How many of the newest finished runs failed, in a row.
    pub failing: u32,
    /// One of them was mailed (or meant to be: no send rule held it back).
    pub mailed: bool,
    /// When the first of them started: since when the job has been failing.
    pub since: Option<DateTime<Utc>>,
    /// When the newest of them that was mailed started.
    pub last_mailed: Option<DateTime<Utc>>,
}

impl RunRecord {
    /// A run whose commands finished, its results without their outputs (see
    /// [`RunRecord::keep_outputs`]); `sent` is settled once its mail has gone.
    pub fn finished(
        run_id: &str,
        job: &str,
        trigger: Trigger,
        started_at: SystemTime,
        summary: &Summary,
        results: &[TaskResult],
        interrupted: bool,
    ) -> RunRecord {
        RunRecord {
            run_id: run_id.to_owned(),
            job: job.to_owned(),
            trigger,
            started_at: started_at.into(),
            finished_at: Utc::now(),
            status: RunStatus::Finished(summary.status),
            summary: summary.clone(),
            interrupted,
            sent: false,
            note: None,
            reason: None,
            silenced: None,
            results: results.iter().map(RecordedResult::of).collect(),
            disks: Vec::new(),
        }
    }

    /// Moves the outputs of `results`, the run's own in the order it was recorded with,
    /// into the record: the history keeps them for each job's last run.
    pub fn keep_outputs(&mut self, results: Vec<TaskResult>) {
        for (recorded, result) in self.results.iter_mut().zip(results) {
            recorded.stdout = Some(result.stdout);
            recorded.stderr = Some(result.stderr);
        }
    }

    /// A fire time at which the job did not start, and why.
    pub fn skipped(run_id: &str, job: &str, trigger: Trigger, note: String) -> RunRecord {
        let now = Utc::now();
        RunRecord {
            run_id: run_id.to_owned(),
            job: job.to_owned(),
            trigger,
            started_at: now,
            finished_at: now,
            status: RunStatus::Skipped,
            summary: Summary::of(&[], 0),
            interrupted: false,
            sent: false,
            note: Some(note),
            reason: None,
            silenced: None,
            results: Vec::new(),
            disks: Vec::new(),
        }
    }
}

/// The fingerprint of `result`'s output: of the text kept, or, for an output cut at its
/// share of the job's output budget, of every byte the command printed (so a change in
/// the part left out is still a change).
pub fn output_fingerprint(result: &TaskResult) -> String {
    match &result.budget_cut {
        Some(cut) => cut.fingerprint.clone(),
        None => fingerprint(&result.stdout, &result.stderr),
    }
}

/// A stable fingerprint of a command's output (SipHash-1-3, 128 bits, fixed keys), so
/// that runs can be compared without storing what they printed.
pub fn fingerprint(stdout: &str, stderr: &str) -> String {
    use std::hash::Hasher;
    let mut hasher = siphasher::sip128::SipHasher13::new();
    hasher.write_u64(stdout.len() as u64);
    hasher.write(stdout.as_bytes());
    hasher.write(stderr.as_bytes());
    format!(
        "{:032x}",
        siphasher::sip128::Hasher128::finish128(&hasher).as_u128()
    )
}

/// A result's values as the history keeps them (a JSON object of numbers, written by the
/// store); none for NULL or anything else.
pub fn numbers_of(text: Option<String>) -> Vec<(String, f64)> {
    let Some(text) = text else {
        return Vec::new();
    };
    let Ok(map) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text) else {
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(name, value)| Some((name, value.as_f64()?)))
        .collect()
}

/// A time as milliseconds since the epoch.
mod millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        time: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(time.timestamp_millis())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let millis = i64::deserialize(deserializer)?;
        DateTime::from_timestamp_millis(millis)
            .ok_or_else(|| serde::de::Error::custom("time out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_outputs_apart() {
        assert_eq!(fingerprint("a", "b"), fingerprint("a", "b"));
        assert_ne!(fingerprint("ab", ""), fingerprint("a", "b"));
        assert_eq!(fingerprint("", "").len(), 32);
    }
}
