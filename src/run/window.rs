//! The window a job's run covers: from the start of its last recorded run (or, for a job
//! that has none, `since_default` back) to now. Known before the commands start, since it
//! is in their environment (`REPORTER_SINCE`, docs/jobs.md), so it is one indexed read of
//! the history per job, not part of the lookups made while the commands run.

use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};
use tracing::error;

use crate::config::Job;
use crate::history::History;

/// Where a job's window starts, to the second (rounded down, so that nothing of the
/// second the last run started in is left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since(DateTime<Utc>);

impl Since {
    /// RFC 3339 in UTC, to the second: `REPORTER_SINCE` and `run.since`.
    pub fn rfc3339(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    /// Seconds since the epoch: `REPORTER_SINCE_EPOCH`.
    pub fn epoch(self) -> i64 {
        self.0.timestamp()
    }

    /// The variables a command of the job finds it in.
    pub fn env(self) -> [(String, String); 2] {
        [
            ("REPORTER_SINCE".to_owned(), self.rfc3339()),
            ("REPORTER_SINCE_EPOCH".to_owned(), self.epoch().to_string()),
        ]
    }

    fn of(instant: DateTime<Utc>) -> Since {
        let seconds = instant.timestamp();
        Since(DateTime::from_timestamp(seconds, 0).unwrap_or(instant))
    }
}

/// The start of each of `jobs`' windows, in their order, for a run starting `now`. A
/// history that cannot be read is reported, and every job then looks `since_default` back.
pub fn windows(jobs: &[Job], history: Option<&History>, now: SystemTime) -> Vec<Since> {
    let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
    let starts = match history.map(|history| history.last_starts(&names)) {
        Some(Ok(starts)) => starts,
        Some(Err(e)) => {
            error!("{e}; the jobs' windows start `since_default` back");
            Default::default()
        }
        None => Default::default(),
    };
    let now = DateTime::<Utc>::from(now);
    jobs.iter()
        .map(|job| {
            let start = starts.get(&job.name).copied().unwrap_or_else(|| {
                let back =
                    chrono::Duration::from_std(job.since_default).unwrap_or(chrono::Duration::MAX);
                now.checked_sub_signed(back).unwrap_or(DateTime::UNIX_EPOCH)
            });
            Since::of(start)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_reads_to_the_second_rounded_down() {
        let start = DateTime::from_timestamp_millis(1_796_538_300_900).unwrap();
        let since = Since::of(start);
        assert_eq!(since.rfc3339(), "2026-12-06T06:25:00Z");
        assert_eq!(since.epoch(), 1_796_538_300);
    }
}
