//! `maintenance:` in the configuration (docs/silences.md): recurring windows, opened by a
//! cron expression in the configured time zone, during which jobs are silenced.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::error::{ConfigError, Source};
use crate::config::units::HumanDuration;
use crate::schedule::{Schedule, Zone};

/// The most openings stepped through to find the last one before a time (a bound that
/// only a schedule of bursts could reach).
const MAX_OPENINGS: usize = 10_000;

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

    /// When the window that covers `now` opened and when it closes, if one does: from the
    /// first opening within `duration` before `now` to the last one's close (windows that
    /// overlap make one).
    pub fn open_at(
        &self,
        now: DateTime<Utc>,
        zone: Zone,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let duration = chrono::Duration::from_std(self.duration).ok()?;
        let first = self
            .schedule
            .next_after(now - duration, zone)
            .filter(|t| *t <= now)?;
        Some((first, self.last_opening(first, now, zone) + duration))
    }

    /// The last opening at or before `now`, `first` being one: looked for in a span before
    /// `now` that doubles until it holds one, then stepped through, so that a window
    /// opening every second for a week costs a few steps, not 600,000.
    fn last_opening(&self, first: DateTime<Utc>, now: DateTime<Utc>, zone: Zone) -> DateTime<Utc> {
        let opening_by_now = |after| self.schedule.next_after(after, zone).filter(|t| *t <= now);
        let mut back = chrono::Duration::seconds(1);
        let mut last = loop {
            match opening_by_now(now - back) {
                Some(opened) => break opened.max(first),
                None if now - back <= first => break first,
                None => back = back * 2,
            }
        };
        for _ in 0..MAX_OPENINGS {
            match opening_by_now(last) {
                Some(next) => last = next,
                None => break,
            }
        }
        last
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
        let every_second = window("* * * * * *", "7d");
        let now = at(3, 5) + chrono::Duration::milliseconds(500);
        assert_eq!(
            every_second.open_at(now, utc),
            Some((
                now - chrono::Duration::days(7) + chrono::Duration::milliseconds(500),
                at(3, 5) + chrono::Duration::days(7)
            )),
        );
        let bursts = window("* 2 * * *", "3h");
        assert_eq!(
            bursts.open_at(at(4, 30), utc),
            Some((at(2, 0), at(5, 59))),
            "opened every minute from 2:00 to 2:59"
        );
    }
}
