//! `maintenance:` in the configuration (docs/silences.md): recurring windows, opened by a
//! cron expression in the configured time zone, during which jobs are silenced.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::error::{ConfigError, Source};
use crate::config::units::HumanDuration;
use crate::schedule::{Schedule, Zone};

/// The most fire times looked at to find the window open at a time: a window opening every
/// minute for a week is still found.
const MAX_OPENINGS: usize = 20_000;

/// One `maintenance:` entry as written.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub name: String,
    pub schedule: Schedule,
    pub duration: HumanDuration,
    pub jobs: Option<Vec<String>>,
}

/// A maintenance window: when it opens, for how long, over which jobs.
#[derive(Debug, Clone)]
pub struct Window {
    pub name: String,
    pub schedule: Schedule,
    pub duration: Duration,
    /// `None`: every job.
    pub jobs: Option<Vec<String>>,
    /// Where each of `jobs` is written, for `check` to name one that is no job.
    pub places: Vec<ConfigError>,
}

impl Window {
    /// The windows of `raw` (`maintenance:`), checked.
    pub fn all_of(raw: Vec<RawWindow>, source: &Source) -> Result<Vec<Window>, ConfigError> {
        let mut windows: Vec<Window> = Vec::with_capacity(raw.len());
        for (i, window) in raw.into_iter().enumerate() {
            let key = format!("maintenance[{i}]");
            if window.name.trim().is_empty() {
                return Err(source.error(format!("{key}.name"), "a window needs a name"));
            }
            if windows.iter().any(|w| w.name == window.name) {
                return Err(source.error(
                    format!("{key}.name"),
                    format!("a second window named `{}`", window.name),
                ));
            }
            if window.duration.0.is_zero() {
                return Err(source.error(
                    format!("{key}.duration"),
                    "duration 0s: a window must last (e.g. 3h)",
                ));
            }
            let places = window
                .jobs
                .iter()
                .flatten()
                .enumerate()
                .map(|(j, _)| source.error(format!("{key}.jobs[{j}]"), ""))
                .collect();
            windows.push(Window {
                name: window.name,
                schedule: window.schedule,
                duration: window.duration.0,
                jobs: window.jobs,
                places,
            });
        }
        Ok(windows)
    }

    /// Whether it covers job `job` when open.
    pub fn covers(&self, job: &str) -> bool {
        self.jobs
            .as_ref()
            .is_none_or(|jobs| jobs.iter().any(|j| j == job))
    }

    /// When the window that covers `now` opened and when it closes, if one does: the
    /// openings within `duration` before `now` (the latest close, when they overlap).
    pub fn open_at(
        &self,
        now: DateTime<Utc>,
        zone: Zone,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let duration = chrono::Duration::from_std(self.duration).ok()?;
        let mut opened = self.schedule.next_after(now - duration, zone)?;
        if opened > now {
            return None;
        }
        let first = opened;
        for _ in 0..MAX_OPENINGS {
            match self.schedule.next_after(opened, zone) {
                Some(next) if next <= now => opened = next,
                _ => break,
            }
        }
        Some((first, opened + duration))
    }

    /// The window open at `now`, else the next one to open.
    pub fn current_or_next(
        &self,
        now: DateTime<Utc>,
        zone: Zone,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.open_at(now, zone).or_else(|| {
            let opens = self.schedule.next_after(now, zone)?;
            Some((
                opens,
                opens + chrono::Duration::from_std(self.duration).ok()?,
            ))
        })
    }

    /// Each of its `jobs` that `known` says is no job: errors where they are written.
    pub fn unknown_jobs(&self, known: impl Fn(&str) -> bool) -> Vec<ConfigError> {
        self.jobs
            .iter()
            .flatten()
            .zip(&self.places)
            .filter(|(job, _)| !known(job))
            .map(|(job, place)| ConfigError {
                message: format!("no job `{job}` (maintenance window `{}`)", self.name),
                ..place.clone()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn window(schedule: &str, duration: &str) -> Window {
        Window {
            name: "w".into(),
            schedule: schedule.parse().unwrap(),
            duration: duration.parse::<HumanDuration>().unwrap().0,
            jobs: None,
            places: Vec::new(),
        }
    }

    #[test]
    fn a_window_is_open_for_its_duration_after_it_opens() {
        let utc: Zone = "UTC".parse().unwrap();
        let at = |h, m| Utc.with_ymd_and_hms(2026, 12, 6, h, m, 0).unwrap();
        // Sunday 2026-12-06.
        let sunday = window("0 2 * * 0", "3h");
        assert_eq!(sunday.open_at(at(1, 59), utc), None);
        assert_eq!(sunday.open_at(at(2, 0), utc), Some((at(2, 0), at(5, 0))));
        assert_eq!(sunday.open_at(at(4, 59), utc), Some((at(2, 0), at(5, 0))));
        assert_eq!(sunday.open_at(at(5, 0), utc), None);
        assert_eq!(
            sunday.current_or_next(at(1, 0), utc),
            Some((at(2, 0), at(5, 0)))
        );
        let overlapping = window("*/10 * * * *", "25m");
        assert_eq!(
            overlapping.open_at(at(3, 5), utc),
            Some((at(2, 50), at(3, 25))),
            "opened at 2:50, 3:00; the last closes at 3:25"
        );
    }
}
