//! `schedule:` values: the cron.* periods and cron expressions with crontab(5) semantics,
//! and when they fire in a time zone, DST changes included.
//!
//! Expressions are evaluated here rather than handed to a cron library: crontab's
//! dialect (minute first, Sunday as 0 or 7, day-of-month OR day-of-week) and the DST
//! rule (a skipped time runs at the first valid instant after it, a repeated time runs
//! once) are the contract, and both are easier to see in one small evaluator.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc,
};

use crate::timezone::Zone;

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

    /// The first of `gaps` into which this schedule falls, when the schedule names its
    /// hours: what a user would be surprised by.
    pub fn gap_within(&self, gaps: &Gaps) -> Option<GapRun> {
        if self.cron.every_hour {
            return None;
        }
        match gaps.zone {
            Zone::Local => self.cron.first_in(&chrono::Local, &gaps.spans),
            Zone::Named(tz) => self.cron.first_in(&tz, &gaps.spans),
        }
    }
}

/// The wall-clock spans a time zone skips (clocks going forward) between two instants,
/// found once and checked against every schedule.
#[derive(Debug, Clone)]
pub struct Gaps {
    zone: Zone,
    spans: Vec<(NaiveDateTime, NaiveDateTime)>,
}

impl Gaps {
    pub fn between(zone: Zone, from: DateTime<Utc>, until: DateTime<Utc>) -> Gaps {
        let spans = match zone {
            Zone::Local => skipped_spans(&chrono::Local, from, until),
            Zone::Named(tz) => skipped_spans(&tz, from, until),
        };
        Gaps { zone, spans }
    }
}

/// Offsets change at most a few times a year: compare them hour by hour; each forward jump
/// skips the wall-clock span `[t + before, next + after)`.
fn skipped_spans<Z: TimeZone>(
    zone: &Z,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<(NaiveDateTime, NaiveDateTime)> {
    let offset = |t: DateTime<Utc>| {
        t.with_timezone(zone)
            .naive_local()
            .signed_duration_since(t.naive_utc())
    };
    let mut spans = Vec::new();
    let mut t = from;
    let mut before = offset(t);
    while t < until {
        let next = t + Duration::hours(1);
        let after = offset(next);
        if after > before {
            spans.push((t.naive_utc() + before, next.naive_utc() + after));
        }
        (t, before) = (next, after);
    }
    spans
}

/// A wall-clock time a schedule names that does not exist on that day, and when it runs instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapRun {
    pub skipped: NaiveDateTime,
    pub runs_at: DateTime<Utc>,
}

impl FromStr for Schedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (period, expression) = match text {
            "hourly" | "@hourly" => (Some(Period::Hourly), "0 * * * *"),
            "daily" | "@daily" | "@midnight" => (Some(Period::Daily), "0 0 * * *"),
            "weekly" | "@weekly" => (Some(Period::Weekly), "0 0 * * 0"),
            "monthly" | "@monthly" => (Some(Period::Monthly), "0 0 1 * *"),
            "@yearly" | "@annually" => (None, "0 0 1 1 *"),
            _ if text.starts_with('@') => {
                return Err(format!(
                    "unknown schedule {text:?} (expected hourly, daily, weekly, monthly, @yearly or a cron expression)"
                ));
            }
            _ => (None, text),
        };
        let cron =
            Cron::parse(expression).map_err(|e| format!("invalid schedule {text:?}: {e}"))?;
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

crate::units::deserialize_via_from_str!(Schedule);

/// A parsed cron expression: one bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cron {
    seconds: u64,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    /// Bit 0 is Sunday.
    weekdays: u64,
    /// crontab(5): a day-of-month or day-of-week field starting with `*` is unrestricted;
    /// when both are restricted, a day matching either runs.
    days_restricted: bool,
    weekdays_restricted: bool,
    /// The hour field is `*`: such schedules pass DST gaps without surprise.
    every_hour: bool,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const SECOND: Field = Field {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};
const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY: Field = Field {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
/// 0-7 as in crontab(5): 0 and 7 are both Sunday.
const WEEKDAY: Field = Field {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

impl Field {
    fn value(&self, text: &str) -> Result<u32, String> {
        let value = match text.parse::<u32>() {
            Ok(n) => n,
            Err(_) => self
                .names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(text))
                .map(|i| i as u32 + self.min)
                .ok_or_else(|| format!("bad {} field: {text:?} is not a value", self.name))?,
        };
        if !(self.min..=self.max).contains(&value) {
            return Err(format!(
                "bad {} field: {value} is out of range {}-{}",
                self.name, self.min, self.max
            ));
        }
        Ok(value)
    }

    /// The set of values `text` (a list of `*`, `N`, `A-B`, each with an optional `/STEP`) allows.
    fn parse(&self, text: &str) -> Result<u64, String> {
        let mut bits = 0u64;
        for item in text.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => {
                    let step = step
                        .parse::<u32>()
                        .ok()
                        .filter(|s| *s > 0)
                        .ok_or_else(|| format!("bad {} field: step {step:?}", self.name))?;
                    (range, Some(step))
                }
                None => (item, None),
            };
            let (low, high) = match range {
                "*" | "?" => (self.min, self.max),
                _ => match range.split_once('-') {
                    Some((a, b)) => (self.value(a)?, self.value(b)?),
                    // `N/STEP` means from N to the end, as in Vixie cron and cronie.
                    None if step.is_some() => (self.value(range)?, self.max),
                    None => {
                        let v = self.value(range)?;
                        (v, v)
                    }
                },
            };
            if low > high {
                return Err(format!(
                    "bad {} field: range {range:?} runs backwards",
                    self.name
                ));
            }
            for value in (low..=high).step_by(step.unwrap_or(1) as usize) {
                bits |= 1 << value;
            }
        }
        Ok(bits)
    }
}

fn has(bits: u64, value: u32) -> bool {
    bits & (1 << value) != 0
}

/// The most days each month can have (February: 29).
const MONTH_DAYS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

impl Cron {
    fn parse(text: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        // Five fields are always minute-first: never read them as seconds-first.
        let (second, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            n => {
                return Err(format!(
                    "{n} fields (expected 5: minute hour day-of-month month day-of-week, or 6 with leading seconds, or hourly/daily/weekly/monthly)"
                ));
            }
        };
        let mut weekdays = WEEKDAY.parse(rest[4])?;
        if has(weekdays, 7) {
            weekdays = (weekdays | 1) & 0x7f;
        }
        let cron = Cron {
            seconds: SECOND.parse(second)?,
            minutes: MINUTE.parse(rest[0])?,
            hours: HOUR.parse(rest[1])?,
            days: DAY.parse(rest[2])?,
            months: MONTH.parse(rest[3])?,
            weekdays,
            days_restricted: !rest[2].starts_with(['*', '?']),
            weekdays_restricted: !rest[4].starts_with(['*', '?']),
            every_hour: rest[1] == "*",
        };
        let possible = cron.weekdays_restricted && cron.days_restricted
            || (1..=12).any(|m| {
                has(cron.months, m) && (1..=MONTH_DAYS[m as usize - 1]).any(|d| has(cron.days, d))
            });
        if !possible {
            return Err("no month has that day, so it never runs".to_owned());
        }
        Ok(cron)
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        let day = has(self.days, date.day());
        let weekday = has(self.weekdays, date.weekday().num_days_from_sunday());
        if self.days_restricted && self.weekdays_restricted {
            day || weekday
        } else {
            day && weekday
        }
    }

    /// The first wall-clock time strictly after `from` that the expression names.
    fn next_match(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut t = from.with_nanosecond(0)? + Duration::seconds(1);
        let give_up = from.year() + 10;
        while t.year() <= give_up {
            let date = t.date();
            if !has(self.months, t.month()) {
                let (y, m) = if t.month() == 12 {
                    (t.year() + 1, 1)
                } else {
                    (t.year(), t.month() + 1)
                };
                t = NaiveDate::from_ymd_opt(y, m, 1)?.and_time(NaiveTime::MIN);
            } else if !self.day_matches(date) {
                t = date.succ_opt()?.and_time(NaiveTime::MIN);
            } else if !has(self.hours, t.hour()) {
                t = date.and_hms_opt(t.hour(), 0, 0)? + Duration::hours(1);
            } else if !has(self.minutes, t.minute()) {
                t = date.and_hms_opt(t.hour(), t.minute(), 0)? + Duration::minutes(1);
            } else if !has(self.seconds, t.second()) {
                t += Duration::seconds(1);
            } else {
                return Some(t);
            }
        }
        None
    }

    /// When the wall-clock time `naive` fires: its only instant, the first of two when the
    /// clock is turned back, or the first valid instant after it when it is skipped.
    fn fire<Z: TimeZone>(zone: &Z, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
        match zone.from_local_datetime(&naive) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
            LocalResult::None => {
                // Gaps end on a whole minute in every zone since 1970: find that minute,
                // then step back over any valid seconds just before it.
                let mut valid = naive.with_second(0)?;
                loop {
                    valid += Duration::minutes(1);
                    if zone.from_local_datetime(&valid).earliest().is_some() {
                        break;
                    }
                    if valid - naive > Duration::days(1) {
                        return None;
                    }
                }
                while valid - Duration::seconds(1) > naive
                    && zone
                        .from_local_datetime(&(valid - Duration::seconds(1)))
                        .earliest()
                        .is_some()
                {
                    valid -= Duration::seconds(1);
                }
                zone.from_local_datetime(&valid)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
            }
        }
    }

    fn next_after<Z: TimeZone>(&self, zone: &Z, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Fire instants never decrease as wall-clock time increases, so the answer is
        // the first matching wall-clock time after `after`'s whose instant is later.
        let mut naive = after.with_timezone(zone).naive_local();
        loop {
            naive = self.next_match(naive)?;
            let fire = Cron::fire(zone, naive)?;
            if fire > after {
                return Some(fire);
            }
        }
    }

    /// The first time this schedule names inside one of `spans` (wall-clock times that
    /// do not exist in `zone`), with when it runs instead.
    fn first_in<Z: TimeZone>(
        &self,
        zone: &Z,
        spans: &[(NaiveDateTime, NaiveDateTime)],
    ) -> Option<GapRun> {
        for &(start, end) in spans {
            let mut naive = start - Duration::seconds(1);
            while let Some(candidate) = self.next_match(naive) {
                if candidate >= end {
                    break;
                }
                if zone.from_local_datetime(&candidate).earliest().is_none() {
                    return Some(GapRun {
                        skipped: candidate,
                        runs_at: Cron::fire(zone, candidate)?,
                    });
                }
                naive = candidate;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Tz;

    fn schedule(text: &str) -> Schedule {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    /// The next `count` fire times after `after`, as RFC 3339 in `zone`.
    fn fires(text: &str, zone: &str, after: &str, count: usize) -> Vec<String> {
        let tz: Tz = zone.parse().unwrap();
        let s = schedule(text);
        let mut t = utc(after);
        (0..count)
            .map(|_| {
                t = s.next_after(t, Zone::Named(tz)).expect("a next fire time");
                t.with_timezone(&tz).to_rfc3339()
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
        let err = |text: &str| text.parse::<Schedule>().unwrap_err();
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
    fn spring_forward_runs_skipped_times_once_at_the_first_valid_instant() {
        // Europe/Berlin 2026-03-29: 02:00 CET becomes 03:00 CEST.
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 3),
            [
                "2026-03-29T03:00:00+02:00",
                "2026-03-30T02:30:00+02:00",
                "2026-03-31T02:30:00+02:00"
            ]
        );
        // Every quarter hour: the four skipped times collapse into one run at 03:00.
        assert_eq!(
            fires("*/15 * * * *", "Europe/Berlin", "2026-03-29T00:40:00Z", 4),
            [
                "2026-03-29T01:45:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-29T03:15:00+02:00",
                "2026-03-29T03:30:00+02:00"
            ]
        );
        // America/New_York 2026-03-08: 02:00 EST becomes 03:00 EDT.
        assert_eq!(
            fires("15 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2),
            ["2026-03-08T03:00:00-04:00", "2026-03-09T02:15:00-04:00"]
        );
    }

    #[test]
    fn fall_back_runs_repeated_times_only_the_first_time() {
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
            fires("0 * * * *", "America/New_York", "2026-11-01T04:30:00Z", 3),
            [
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T02:00:00-05:00",
                "2026-11-01T03:00:00-05:00"
            ]
        );
    }

    #[test]
    fn gaps_are_found_with_their_replacement_run() {
        let (from, until) = (utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"));
        let berlin = Gaps::between(Zone::Named(Tz::Europe__Berlin), from, until);
        let utc_gaps = Gaps::between(Zone::Named(Tz::UTC), from, until);
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
