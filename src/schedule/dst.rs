//! The wall-clock times a time zone skips when its clocks go forward, found once for a
//! span of time and checked against every schedule (`reporter check` warns about them).

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};

use crate::schedule::zone::Zone;

/// The wall-clock spans a time zone skips (clocks going forward) between two instants.
#[derive(Debug, Clone)]
pub struct Gaps {
    pub(crate) zone: Zone,
    /// `[start, end)` in wall-clock time.
    pub(crate) spans: Vec<(NaiveDateTime, NaiveDateTime)>,
}

/// A wall-clock time a schedule names that does not exist on that day, and when it runs instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapRun {
    pub skipped: NaiveDateTime,
    pub runs_at: DateTime<Utc>,
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
