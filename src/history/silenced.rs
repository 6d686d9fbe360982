//! Which jobs are silenced at a time (docs/silences.md): the silences in the state and the
//! config's maintenance windows. Each run, `list` and `status` read them afresh, so a
//! daemon sees a silence made while it runs without a reload.

use chrono::{DateTime, Utc};
use tracing::warn;

use crate::config::Config;
use crate::history::{History, Silence};
use crate::schedule::Zone;

/// One silence or open maintenance window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quiet {
    /// `ID: reason` for a silence, `maintenance: NAME` for a window.
    pub label: String,
    /// `None`: every job.
    pub jobs: Option<Vec<String>>,
    pub until: DateTime<Utc>,
}

/// What is silenced at one time.
#[derive(Debug, Clone, Default)]
pub struct Silenced {
    quiets: Vec<Quiet>,
}

impl Silenced {
    /// The silences in force at `now` in `config`'s state (read through `history`, the
    /// run's, when it has one), and its windows open then. A state that cannot be read is
    /// reported and silences nothing: a report is never held back on a silence that cannot
    /// be read.
    pub fn at(config: &Config, history: Option<&History>, now: DateTime<Utc>) -> Silenced {
        let history = history
            .cloned()
            .unwrap_or_else(|| History::new(&config.state_dir, config.history_days));
        let silences = history.silences(now).unwrap_or_else(|e| {
            warn!("{e}; no job is silenced");
            Vec::new()
        });
        Silenced::of(&silences, config, now)
    }

    /// `silences` and `config`'s windows, those in force at `now`.
    pub fn of(silences: &[Silence], config: &Config, now: DateTime<Utc>) -> Silenced {
        let mut quiets: Vec<Quiet> = silences
            .iter()
            .filter(|s| s.active_at(now))
            .map(|s| Quiet {
                label: s.label(),
                jobs: s.jobs.clone(),
                until: s.until,
            })
            .collect();
        quiets.extend(config.maintenance.iter().filter_map(|window| {
            let (_, until) = window.open_at(now, config.timezone)?;
            Some(Quiet {
                label: format!("maintenance: {}", window.name),
                jobs: window.jobs.clone(),
                until,
            })
        }));
        Silenced { quiets }
    }

    /// The silence or window `job` is in (the one that lasts longest), if any.
    pub fn of_job(&self, job: &str) -> Option<&Quiet> {
        self.quiets
            .iter()
            .filter(|q| {
                q.jobs
                    .as_ref()
                    .is_none_or(|jobs| jobs.iter().any(|j| j == job))
            })
            .max_by_key(|q| q.until)
    }

    /// Each one as a line: `disk-usage, web until 2026-12-08T03:00:00+01:00 (3: patching)`.
    pub fn lines(&self, zone: Zone) -> Vec<String> {
        self.quiets
            .iter()
            .map(|q| {
                let jobs = q
                    .jobs
                    .as_ref()
                    .map_or_else(|| "every job".to_owned(), |jobs| jobs.join(", "));
                format!("{jobs} until {} ({})", zone.rfc3339(q.until), q.label)
            })
            .collect()
    }
}
