//! `schedule:` values: the cron.* periods and cron expressions with crontab(5)
//! semantics, and when they fire in a time zone.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::schedule::cron::{Cron, CronError};
use crate::schedule::dst::{GapRun, Gaps};
use crate::schedule::zone::Zone;

/// What is wrong with a `schedule:` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "unknown schedule {text:?} (expected hourly, daily, weekly, monthly, @yearly or a cron expression)"
    )]
    UnknownPeriod { text: String },
    #[error("invalid schedule {text:?}: {reason}")]
    Invalid { text: String, reason: CronError },
}

/// The periods a `cron.hourly|daily|weekly|monthly` folder stands for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Hourly,
    Daily,
    Weekly,
    Monthly,
}

impl Period {
    pub fn name(self) -> &'static str {
        match self {
            Period::Hourly => "hourly",
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
        }
    }

    /// The period a `cron.NAME` folder runs, if `folder` is one.
    pub fn from_cron_folder(folder: &str) -> Option<Period> {
        match folder {
            "cron.hourly" => Some(Period::Hourly),
            "cron.daily" => Some(Period::Daily),
            "cron.weekly" => Some(Period::Weekly),
            "cron.monthly" => Some(Period::Monthly),
            _ => None,
        }
    }
}

/// A job's schedule: the text as written, its cron.* period if it is one, and when it fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    period: Option<Period>,
    cron: Cron,
}

impl Schedule {
    /// The cron.* period this schedule is, for `run --schedule` selection.
    pub fn period(&self) -> Option<Period> {
        self.period
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first fire time strictly after `after`, in `zone`; `None` if there is none
    /// within the next decade (which [`Schedule::from_str`] rules out).
    pub fn next_after(&self, after: DateTime<Utc>, zone: Zone) -> Option<DateTime<Utc>> {
        match zone {
            Zone::Local => self.cron.next_after(&chrono::Local, after),
            Zone::Named(tz) => self.cron.next_after(&tz, after),
        }
    }

    /// The shortest time between two of its fire times on the wall clock: what a
    /// `random_delay` must stay below.
    pub fn shortest_interval(&self) -> Option<std::time::Duration> {
        self.cron.shortest_interval()?.to_std().ok()
    }

    /// The first of `gaps` into which this schedule falls, when it has a fixed time (one
    /// that follows the clock just skips the times that do not exist): what a user would
    /// be surprised by.
    pub fn gap_within(&self, gaps: &Gaps) -> Option<GapRun> {
        if self.cron.follows_clock {
            return None;
        }
        match gaps.zone {
            Zone::Local => self.cron.first_in(&chrono::Local, &gaps.spans),
            Zone::Named(tz) => self.cron.first_in(&tz, &gaps.spans),
        }
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (period, expression) = match text {
            "hourly" | "@hourly" => (Some(Period::Hourly), "0 * * * *"),
            "daily" | "@daily" | "@midnight" => (Some(Period::Daily), "0 0 * * *"),
            "weekly" | "@weekly" => (Some(Period::Weekly), "0 0 * * 0"),
            "monthly" | "@monthly" => (Some(Period::Monthly), "0 0 1 * *"),
            "@yearly" | "@annually" => (None, "0 0 1 1 *"),
            _ if text.starts_with('@') => {
                return Err(ScheduleError::UnknownPeriod {
                    text: text.to_owned(),
                });
            }
            _ => (None, text),
        };
        let cron = Cron::parse(expression).map_err(|reason| ScheduleError::Invalid {
            text: text.to_owned(),
            reason,
        })?;
        Ok(Schedule {
            text: text.to_owned(),
            period,
            cron,
        })
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_intervals_between_fire_times() {
        let interval = |text: &str| {
            text.parse::<Schedule>()
                .unwrap()
                .shortest_interval()
                .unwrap()
                .as_secs()
        };
        assert_eq!(interval("hourly"), 3600);
        assert_eq!(interval("daily"), 86_400);
        assert_eq!(interval("weekly"), 7 * 86_400);
        assert_eq!(interval("monthly"), 28 * 86_400);
        assert_eq!(interval("*/5 * * * *"), 300);
        // Across midnight: 23:00, then 00:00 of the next day.
        assert_eq!(interval("0 0,23 * * *"), 3600);
        assert_eq!(interval("0 0 29 2 *"), 4 * 365 * 86_400 + 86_400);
        assert_eq!(interval("@yearly"), 365 * 86_400);
    }
    use chrono::Duration;

    fn schedule(text: &str) -> Schedule {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    /// The next `count` fire times after `after`, as RFC 3339 in `zone`.
    fn fires(text: &str, zone: &str, after: &str, count: usize) -> Vec<String> {
        let zone: Zone = zone.parse().unwrap();
        let s = schedule(text);
        let mut t = utc(after);
        (0..count)
            .map(|_| {
                t = s.next_after(t, zone).expect("a next fire time");
                zone.at(t).to_rfc3339()
            })
            .collect()
    }

    #[test]
    fn periods_and_aliases() {
        assert_eq!(schedule("daily").period(), Some(Period::Daily));
        assert_eq!(schedule("@daily").period(), Some(Period::Daily));
        assert_eq!(schedule("0 3 * * *").period(), None);
        assert_eq!(
            fires("weekly", "UTC", "2026-01-01T00:00:00Z", 1),
            ["2026-01-04T00:00:00+00:00"],
            "weekly is Sunday midnight"
        );
        assert_eq!(
            fires("@yearly", "UTC", "2026-03-01T00:00:00Z", 1),
            ["2027-01-01T00:00:00+00:00"]
        );
    }

    #[test]
    fn five_fields_are_minute_first() {
        // Read seconds-first, this would fire every second of minute 5.
        assert_eq!(
            fires("5 * * * *", "UTC", "2026-01-01T00:00:00Z", 2),
            ["2026-01-01T00:05:00+00:00", "2026-01-01T01:05:00+00:00"]
        );
        assert_eq!(
            fires("*/20 * * * * *", "UTC", "2026-01-01T00:00:00Z", 3),
            [
                "2026-01-01T00:00:20+00:00",
                "2026-01-01T00:00:40+00:00",
                "2026-01-01T00:01:00+00:00"
            ]
        );
    }

    #[test]
    fn weekday_numbers_are_crontabs() {
        // 2026-01-04 is a Sunday, 2026-01-05 a Monday.
        let sunday = ["2026-01-04T00:00:00+00:00"];
        assert_eq!(fires("0 0 * * 0", "UTC", "2026-01-01T00:00:00Z", 1), sunday);
        assert_eq!(fires("0 0 * * 7", "UTC", "2026-01-01T00:00:00Z", 1), sunday);
        assert_eq!(
            fires("0 0 * * sun", "UTC", "2026-01-01T00:00:00Z", 1),
            sunday
        );
        assert_eq!(
            fires("0 0 * * 1", "UTC", "2026-01-01T00:00:00Z", 1),
            ["2026-01-05T00:00:00+00:00"]
        );
        assert_eq!(
            fires("0 0 * * 5-7", "UTC", "2026-01-01T00:00:00Z", 3),
            [
                "2026-01-02T00:00:00+00:00",
                "2026-01-03T00:00:00+00:00",
                "2026-01-04T00:00:00+00:00"
            ],
            "Friday to Sunday"
        );
        assert_eq!(
            fires("0 9 * * MON-FRI", "UTC", "2026-01-02T10:00:00Z", 2),
            ["2026-01-05T09:00:00+00:00", "2026-01-06T09:00:00+00:00"]
        );
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        // The 1st of each month and every Monday: 2026-06-01 is a Monday, 07-01 a Wednesday.
        assert_eq!(
            fires("0 0 1 * MON", "UTC", "2026-06-20T00:00:00Z", 3),
            [
                "2026-06-22T00:00:00+00:00",
                "2026-06-29T00:00:00+00:00",
                "2026-07-01T00:00:00+00:00"
            ]
        );
        // With one of them `*`, the other alone decides.
        assert_eq!(
            fires("0 0 13 * *", "UTC", "2026-01-01T00:00:00Z", 1),
            ["2026-01-13T00:00:00+00:00"]
        );
        assert_eq!(
            fires("0 0 */10 * fri", "UTC", "2026-01-01T00:00:00Z", 2),
            ["2026-05-01T00:00:00+00:00", "2026-07-31T00:00:00+00:00"],
            "a stepped `*` counts as unrestricted, as in Vixie cron: both must match"
        );
    }

    #[test]
    fn names_ranges_lists_and_steps() {
        assert_eq!(
            fires("0,30 8-9/1 * jan,Jul *", "UTC", "2026-02-01T00:00:00Z", 3),
            [
                "2026-07-01T08:00:00+00:00",
                "2026-07-01T08:30:00+00:00",
                "2026-07-01T09:00:00+00:00"
            ]
        );
        assert_eq!(
            fires("10/25 * * * *", "UTC", "2026-01-01T00:00:00Z", 3),
            [
                "2026-01-01T00:10:00+00:00",
                "2026-01-01T00:35:00+00:00",
                "2026-01-01T01:10:00+00:00"
            ]
        );
        assert_eq!(
            fires("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", 1),
            ["2028-02-29T00:00:00+00:00"]
        );
    }

    #[test]
    fn errors_name_the_field() {
        let err = |text: &str| text.parse::<Schedule>().unwrap_err().to_string();
        assert!(err("0 3 * *").contains("4 fields"), "{}", err("0 3 * *"));
        assert!(err("0 3 * * M@N").contains("bad day-of-week field: \"M@N\""));
        assert!(err("60 3 * * *").contains("bad minute field: 60 is out of range 0-59"));
        assert!(err("0 24 * * *").contains("bad hour field"));
        assert!(err("0 0 0 * *").contains("bad day-of-month field"));
        assert!(err("0 0 * 13 *").contains("bad month field"));
        assert!(err("0 0 * * 8").contains("bad day-of-week field: 8 is out of range 0-7"));
        assert!(err("*/0 * * * *").contains("bad minute field: step \"0\""));
        assert!(err("0 5-3 * * *").contains("range \"5-3\" runs backwards"));
        assert!(err("0 0 31 2 *").contains("never runs"));
        assert!(err("@fortnightly").contains("unknown schedule"));
    }

    #[test]
    fn fixed_times_skipped_by_spring_forward_run_once_at_the_first_valid_instant() {
        // Europe/Berlin 2026-03-29: 02:00 CET becomes 03:00 CEST.
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 3),
            [
                "2026-03-29T03:00:00+02:00",
                "2026-03-30T02:30:00+02:00",
                "2026-03-31T02:30:00+02:00"
            ]
        );
        // America/New_York 2026-03-08: 02:00 EST becomes 03:00 EDT.
        assert_eq!(
            fires("15 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2),
            ["2026-03-08T03:00:00-04:00", "2026-03-09T02:15:00-04:00"]
        );
        // Australia/Lord_Howe 2026-10-04: 02:00 +10:30 becomes 02:30 +11:00.
        assert_eq!(
            fires(
                "10 2 * * *",
                "Australia/Lord_Howe",
                "2026-10-03T00:00:00Z",
                2
            ),
            ["2026-10-04T02:30:00+11:00", "2026-10-05T02:10:00+11:00"]
        );
    }

    #[test]
    fn fixed_times_repeated_by_fall_back_run_only_the_first_time() {
        // Europe/Berlin 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 2),
            ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]
        );
        // Asked during the second pass, the repeated time is not due again.
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", "2026-10-25T01:10:00Z", 1),
            ["2026-10-26T02:30:00+01:00"]
        );
        // America/New_York 2026-11-01: 01:00-01:59 happens twice.
        assert_eq!(
            fires("30 1 * * *", "America/New_York", "2026-11-01T04:00:00Z", 2),
            ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]
        );
        // Australia/Lord_Howe 2026-04-05: 02:00 +11:00 becomes 01:30 +10:30.
        assert_eq!(
            fires(
                "45 1 * * *",
                "Australia/Lord_Howe",
                "2026-04-04T12:00:00Z",
                2
            ),
            ["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"]
        );
    }

    #[test]
    fn schedules_that_run_at_least_hourly_follow_the_clock_through_spring_forward() {
        // The skipped hour does not happen; 03:00 is a time of its own, not a replacement.
        assert_eq!(
            fires("*/15 * * * *", "Europe/Berlin", "2026-03-29T00:40:00Z", 4),
            [
                "2026-03-29T01:45:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-29T03:15:00+02:00",
                "2026-03-29T03:30:00+02:00"
            ]
        );
        // Not 03:00 and 03:30: 02:30 is skipped, and 03:00 is not a time of this schedule.
        assert_eq!(
            fires("30 * * * *", "Europe/Berlin", "2026-03-29T00:00:00Z", 3),
            [
                "2026-03-29T01:30:00+01:00",
                "2026-03-29T03:30:00+02:00",
                "2026-03-29T04:30:00+02:00"
            ]
        );
        assert_eq!(
            fires("0 * * * *", "America/New_York", "2026-03-08T05:30:00Z", 2),
            ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00"]
        );
        // Lord Howe skips half an hour: 02:00-02:29 do not exist, 02:30 does.
        assert_eq!(
            fires(
                "*/20 * * * *",
                "Australia/Lord_Howe",
                "2026-10-03T15:00:00Z",
                3
            ),
            [
                "2026-10-04T01:40:00+10:30",
                "2026-10-04T02:40:00+11:00",
                "2026-10-04T03:00:00+11:00"
            ]
        );
        // Every minute of hour 2: none that day.
        assert_eq!(
            fires("* 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 1),
            ["2026-03-30T02:00:00+02:00"]
        );
    }

    #[test]
    fn schedules_that_run_at_least_hourly_follow_the_clock_through_fall_back() {
        // The repeated hour runs again: every 20 minutes of real time.
        assert_eq!(
            fires("*/20 * * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", 5),
            [
                "2026-10-25T02:40:00+02:00",
                "2026-10-25T02:00:00+01:00",
                "2026-10-25T02:20:00+01:00",
                "2026-10-25T02:40:00+01:00",
                "2026-10-25T03:00:00+01:00"
            ]
        );
        assert_eq!(
            fires("0 * * * *", "America/New_York", "2026-11-01T04:30:00Z", 3),
            [
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T01:00:00-05:00",
                "2026-11-01T02:00:00-05:00"
            ]
        );
        // Seconds: a job every second keeps running through the repeated hour.
        assert_eq!(
            fires("* * * * * *", "Europe/Berlin", "2026-10-25T00:59:58Z", 3),
            [
                "2026-10-25T02:59:59+02:00",
                "2026-10-25T02:00:00+01:00",
                "2026-10-25T02:00:01+01:00"
            ]
        );
        // Asked during the second pass, the first is over.
        assert_eq!(
            fires("30 * * * *", "Europe/Berlin", "2026-10-25T01:10:00Z", 2),
            ["2026-10-25T02:30:00+01:00", "2026-10-25T03:30:00+01:00"]
        );
        // Lord Howe repeats half an hour: 01:30-01:59.
        assert_eq!(
            fires(
                "45 * * * *",
                "Australia/Lord_Howe",
                "2026-04-04T14:00:00Z",
                3
            ),
            [
                "2026-04-05T01:45:00+11:00",
                "2026-04-05T01:45:00+10:30",
                "2026-04-05T02:45:00+10:30"
            ]
        );
    }

    #[test]
    fn clock_following_agrees_with_walking_every_second() {
        // Over both changes of a year in three zones, the answer equals a brute-force walk
        // over instants, minute by minute (these five-field schedules fire on whole minutes),
        // for schedules of every kind that follow the clock.
        for zone in ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"] {
            let Ok(Zone::Named(tz)) = zone.parse::<Zone>() else {
                panic!("{zone} is in the system's tz database");
            };
            for text in [
                "*/20 * * * *",
                "30 * * * *",
                "* 2 * * *",
                "*/7 1-3 * * *",
                "15 * 5 * *",
            ] {
                let cron = schedule(text).cron;
                // Whole minutes, so that the walk sees every time these schedules name.
                let instants = [
                    "2026-03-07T12:00:00Z",
                    "2026-03-29T00:50:00Z",
                    "2026-04-04T14:50:00Z",
                    "2026-10-03T15:20:00Z",
                    "2026-10-25T00:45:00Z",
                    "2026-11-01T05:40:00Z",
                ];
                for start in instants {
                    let after = utc(start);
                    let mut t = after + Duration::minutes(1);
                    let walked = loop {
                        if cron.matches(t.with_timezone(&tz).naive_local()) {
                            break t;
                        }
                        t += Duration::minutes(1);
                    };
                    assert_eq!(
                        cron.next_after(&tz, after),
                        Some(walked),
                        "{text} in {zone} after {start}"
                    );
                }
            }
        }
    }

    #[test]
    fn gaps_are_found_with_their_replacement_run() {
        let (from, until) = (utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"));
        let berlin = Gaps::between("Europe/Berlin".parse().unwrap(), from, until);
        let utc_gaps = Gaps::between("UTC".parse().unwrap(), from, until);
        let gap = schedule("30 2 * * *")
            .gap_within(&berlin)
            .expect("02:30 is skipped on 2026-03-29");
        assert_eq!(gap.skipped.to_string(), "2026-03-29 02:30:00");
        assert_eq!(gap.runs_at, utc("2026-03-29T01:00:00Z"));
        assert_eq!(schedule("30 3 * * *").gap_within(&berlin), None);
        assert_eq!(schedule("*/5 * * * *").gap_within(&berlin), None);
        assert_eq!(schedule("30 2 * * *").gap_within(&utc_gaps), None);
    }
}
