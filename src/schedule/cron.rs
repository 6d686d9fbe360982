//! The crontab(5) evaluator: a parsed expression as one bit per allowed value of each
//! field, the next wall-clock time it names, and the instant that time fires at across
//! daylight-saving changes.
//!
//! Expressions are evaluated here rather than handed to a cron library: crontab's dialect
//! (minute first, Sunday as 0 or 7, day-of-month OR day-of-week) and cronie's DST rule are
//! the contract, and both are easier to see in one small evaluator. The DST rule: a
//! schedule whose minute or hour field starts with `*` runs at least hourly and follows the
//! clock (times a change skips do not happen, times it repeats run again); any other has
//! a fixed time (a skipped time runs at the first valid instant after it, a repeated time
//! runs once).

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc,
};

use crate::schedule::dst::GapRun;

/// How many fire times [`Cron::shortest_interval`] looks at, at most: more than one day of
/// a schedule that fires every minute.
const INTERVAL_SAMPLE: usize = 2000;

/// What is wrong with a cron expression; each names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error(
        "{0} fields (expected 5: minute hour day-of-month month day-of-week, or 6 with leading seconds, or hourly/daily/weekly/monthly)"
    )]
    FieldCount(usize),
    #[error("bad {field} field: {text:?} is not a value")]
    NotAValue { field: &'static str, text: String },
    #[error("bad {field} field: {value} is out of range {min}-{max}")]
    OutOfRange {
        field: &'static str,
        value: u32,
        min: u32,
        max: u32,
    },
    #[error("bad {field} field: step {step:?}")]
    Step { field: &'static str, step: String },
    #[error("bad {field} field: range {range:?} runs backwards")]
    Backwards { field: &'static str, range: String },
    #[error("no month has that day, so it never runs")]
    Never,
}

/// A parsed cron expression: one bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
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
    /// The minute or hour field starts with `*`: the schedule follows the clock through
    /// daylight-saving changes instead of having a fixed time (see the module's doc).
    pub follows_clock: bool,
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
    fn value(&self, text: &str) -> Result<u32, CronError> {
        let value = match text.parse::<u32>() {
            Ok(n) => n,
            Err(_) => self
                .names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(text))
                .map(|i| i as u32 + self.min)
                .ok_or_else(|| CronError::NotAValue {
                    field: self.name,
                    text: text.to_owned(),
                })?,
        };
        if !(self.min..=self.max).contains(&value) {
            return Err(CronError::OutOfRange {
                field: self.name,
                value,
                min: self.min,
                max: self.max,
            });
        }
        Ok(value)
    }

    /// The set of values `text` (a list of `*`, `N`, `A-B`, each with an optional `/STEP`) allows.
    fn parse(&self, text: &str) -> Result<u64, CronError> {
        let mut bits = 0u64;
        for item in text.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => {
                    let step = step.parse::<u32>().ok().filter(|s| *s > 0).ok_or_else(|| {
                        CronError::Step {
                            field: self.name,
                            step: step.to_owned(),
                        }
                    })?;
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
                return Err(CronError::Backwards {
                    field: self.name,
                    range: range.to_owned(),
                });
            }
            for value in (low..=high).step_by(step.unwrap_or(1) as usize) {
                bits |= 1 << value;
            }
        }
        Ok(bits)
    }
}

fn local<Z: TimeZone>(zone: &Z, t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(zone).naive_local()
}

/// The UTC offset of `zone` at `t`, as local minus UTC.
fn offset<Z: TimeZone>(zone: &Z, t: DateTime<Utc>) -> Duration {
    local(zone, t).signed_duration_since(t.naive_utc())
}

/// The first instant in `(from, until]` at which `zone`'s offset differs from the one at
/// `from`, to the second. Offsets change at most a few times a year and never twice a
/// day: compared a day apart, then halved down to the second.
fn next_change<Z: TimeZone>(
    zone: &Z,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let before = offset(zone, from);
    let mut low = from;
    let high = loop {
        if low >= until {
            return None;
        }
        let next = (low + Duration::days(1)).min(until);
        if offset(zone, next) != before {
            break next;
        }
        low = next;
    };
    let mut high = high;
    while high - low > Duration::seconds(1) {
        let middle = low + (high - low) / 2;
        if offset(zone, middle) == before {
            low = middle;
        } else {
            high = middle;
        }
    }
    Some(high)
}

fn has(bits: u64, value: u32) -> bool {
    bits & (1 << value) != 0
}

/// The most days each month can have (February: 29).
const MONTH_DAYS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

impl Cron {
    pub fn parse(text: &str) -> Result<Cron, CronError> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        // Five fields are always minute-first: never read them as seconds-first.
        let (second, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            n => return Err(CronError::FieldCount(n)),
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
            follows_clock: rest[0].starts_with('*') || rest[1].starts_with('*'),
        };
        let possible = cron.weekdays_restricted && cron.days_restricted
            || (1..=12).any(|m| {
                has(cron.months, m) && (1..=MONTH_DAYS[m as usize - 1]).any(|d| has(cron.days, d))
            });
        if !possible {
            return Err(CronError::Never);
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

    /// Whether the expression names the wall-clock time `t` (to the second).
    #[cfg(test)]
    pub fn matches(&self, t: NaiveDateTime) -> bool {
        has(self.months, t.month())
            && self.day_matches(t.date())
            && has(self.hours, t.hour())
            && has(self.minutes, t.minute())
            && has(self.seconds, t.second())
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

    /// The shortest time between two consecutive fire times on the wall clock, over nine
    /// years from 2024 (a leap day comes every four) or the first [`INTERVAL_SAMPLE`] fire
    /// times, whichever ends first: the times of one day repeat on every day the schedule
    /// runs, so a sample longer than a day's fire times meets the shortest gap. `None` for
    /// a schedule that fires once at most in that span.
    pub fn shortest_interval(&self) -> Option<Duration> {
        let start = NaiveDate::from_ymd_opt(2024, 1, 1)?.and_time(NaiveTime::MIN);
        let end = start + Duration::days(9 * 366);
        let mut previous = self.next_match(start - Duration::seconds(1))?;
        let mut shortest: Option<Duration> = None;
        for _ in 0..INTERVAL_SAMPLE {
            let Some(next) = self.next_match(previous).filter(|t| *t <= end) else {
                break;
            };
            let gap = next - previous;
            shortest = Some(shortest.map_or(gap, |s| s.min(gap)));
            if gap <= Duration::seconds(1) {
                break;
            }
            previous = next;
        }
        shortest
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

    /// The first fire instant strictly after `after`.
    pub fn next_after<Z: TimeZone>(&self, zone: &Z, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.follows_clock {
            return self.next_on_clock(zone, after);
        }
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

    /// The first instant after `after` whose wall-clock time matches. Time is taken in
    /// spans of one UTC offset: within a span, wall-clock time is the instant plus the
    /// offset, so the first match after the span's start is the answer unless it lies
    /// beyond the span's end; then the next span starts where its own wall clock does
    /// (after a skipped hour, or back at a repeated one).
    fn next_on_clock<Z: TimeZone>(&self, zone: &Z, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut start = after;
        let mut naive = local(zone, after);
        // Each pass moves on by one offset change: a few a year at most.
        for _ in 0..64 {
            let offset = offset(zone, start);
            let candidate = self.next_match(naive)?;
            let fire = DateTime::from_naive_utc_and_offset(candidate - offset, Utc);
            match next_change(zone, start, fire) {
                None => return Some(fire),
                Some(change) => {
                    start = change;
                    naive = local(zone, change) - Duration::seconds(1);
                }
            }
        }
        None
    }
    /// The first time this schedule names inside one of `spans` (wall-clock times that
    /// do not exist in `zone`), with when it runs instead.
    pub fn first_in<Z: TimeZone>(
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
