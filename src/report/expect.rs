//! A result's values judged by its command's `expect:` rules (docs/values.md): bounds, the
//! change from the previous recorded value, and anomalies against the median of the recent
//! values of ok results, each judgement a line a person reads at a glance.

use std::collections::HashMap;

use serde::Serialize;

use crate::config::values::{DURATION, Expect, Unit};
use crate::report::values::{Values, plain, show};

/// How many earlier values of ok results an anomaly is judged against.
pub const ANOMALY_WINDOW: usize = 20;
/// How many of a job's newest runs those are looked for in.
pub const ANOMALY_RUNS: usize = 100;
/// Fewer earlier values than this: no anomaly is judged.
pub const ANOMALY_MIN_POINTS: usize = 5;
/// 1.4826 × the median absolute deviation estimates the standard deviation of normally
/// distributed values.
const MAD_SCALE: f64 = 1.4826;
/// The robust deviation is never below this share of the median's magnitude...
const MIN_SPREAD: f64 = 0.05;
/// ...nor, for `duration_ms`, below this many milliseconds of clock noise.
const MIN_DURATION_SPREAD: f64 = 50.0;

/// One earlier recorded result of the same command, host and target: whether it was ok,
/// and its values that held a number (`duration_ms` among them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Earlier {
    pub ok: bool,
    pub values: Vec<(String, f64)>,
}

impl Earlier {
    fn value(&self, name: &str) -> Option<f64> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

/// Which result of a job a value belongs to: its command's name, host and target.
pub type ResultKey = (String, Option<String>, Option<String>);

/// A job's earlier recorded results, by [`ResultKey`], each list oldest first.
#[derive(Debug, Clone, Default)]
pub struct ValueHistory(pub HashMap<ResultKey, Vec<Earlier>>);

impl ValueHistory {
    /// The earlier results of the command, host and target of `key`.
    pub fn of(&self, key: &ResultKey) -> &[Earlier] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }
}

/// One entry of a result's `expectations`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expectation {
    pub value: String,
    /// `min`, `max`, `change`, `anomaly`, or `value` for a value the output did not hold.
    pub rule: &'static str,
    pub ok: bool,
    pub text: String,
}

/// The judgements of `rules` on `values`, after `earlier` results (oldest first): the
/// failed ones first, then in the order of the rules. A rule that cannot be judged yet
/// (no previous value, too few earlier values) adds nothing.
pub fn judge(rules: &[Expect], values: &Values, earlier: &[Earlier]) -> Vec<Expectation> {
    let mut found = Vec::new();
    for rule in rules {
        let Some(reading) = values.get(&rule.value) else {
            continue;
        };
        let name = rule.value.as_str();
        let Some(now) = reading.number else {
            found.push(Expectation {
                value: name.to_owned(),
                rule: "value",
                ok: false,
                text: format!("{name}: no value"),
            });
            continue;
        };
        let unit = if rule.unit == Unit::Bytes {
            Unit::Bytes
        } else {
            reading.unit
        };
        let judge = Judge { name, now, unit };
        found.extend(rule.min.map(|min| judge.bound("min", min, now >= min)));
        found.extend(rule.max.map(|max| judge.bound("max", max, now <= max)));
        if let Some(limit) = rule.change {
            let previous = earlier.iter().rev().find_map(|e| e.value(name));
            found.extend(previous.map(|p| judge.change(p, limit)));
        }
        if let Some(k) = rule.anomaly {
            let recent: Vec<f64> = earlier
                .iter()
                .rev()
                .filter(|e| e.ok)
                .filter_map(|e| e.value(name))
                .take(ANOMALY_WINDOW)
                .collect();
            found.extend(judge.anomaly(&recent, k));
        }
    }
    found.sort_by_key(|e| e.ok);
    found
}

/// One value being judged.
struct Judge<'a> {
    name: &'a str,
    now: f64,
    unit: Unit,
}

impl Judge<'_> {
    fn show(&self, number: f64) -> String {
        show(number, self.unit)
    }

    fn line(&self, rule: &'static str, ok: bool, text: String) -> Expectation {
        Expectation {
            value: self.name.to_owned(),
            rule,
            ok,
            text,
        }
    }

    /// `sent 512 MiB (< min 1.0 GiB)`.
    fn bound(&self, rule: &'static str, limit: f64, ok: bool) -> Expectation {
        let sign = match (rule, ok) {
            ("min", true) => "≥",
            ("min", false) => "<",
            (_, true) => "≤",
            (_, false) => ">",
        };
        let text = format!(
            "{} {} ({sign} {rule} {})",
            self.name,
            self.show(self.now),
            self.show(limit)
        );
        self.line(rule, ok, text)
    }

    /// `files 42 → 99 (+136%, change > 50%)`.
    fn change(&self, previous: f64, limit: f64) -> Expectation {
        let percent = change_percent(previous, self.now);
        let ok = percent.abs() <= limit;
        let shown = if percent.is_finite() {
            format!("{:+}%", percent.round())
        } else {
            "from 0".to_owned()
        };
        let sign = if ok { "≤" } else { ">" };
        let text = format!(
            "{} {} → {} ({shown}, change {sign} {}%)",
            self.name,
            self.show(previous),
            self.show(self.now),
            plain(limit)
        );
        self.line("change", ok, text)
    }

    /// `duration_ms 3s (median 41m 00s; anomaly > 4)`; `None` with too few values.
    fn anomaly(&self, recent: &[f64], k: f64) -> Option<Expectation> {
        let usual = Usual::of(recent, self.name == DURATION)?;
        let ok = usual.deviations(self.now) <= k;
        let verdict = if ok { "within" } else { "anomaly >" };
        let text = format!(
            "{} {} (median {}; {verdict} {})",
            self.name,
            self.show(self.now),
            self.show(usual.median),
            plain(k)
        );
        Some(self.line("anomaly", ok, text))
    }
}

/// The change from `previous` to `now` in percent of `previous`'s magnitude: infinite
/// from 0 to anything else.
pub fn change_percent(previous: f64, now: f64) -> f64 {
    if previous == 0.0 {
        return if now == 0.0 { 0.0 } else { f64::INFINITY };
    }
    (now - previous) / previous.abs() * 100.0
}

/// What a value usually is: the median of its recent values and their robust deviation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usual {
    pub median: f64,
    pub deviation: f64,
}

impl Usual {
    /// From `recent` values (at least [`ANOMALY_MIN_POINTS`]; `None` with fewer). The
    /// robust deviation is 1.4826 × their median absolute deviation, but never below 5% of
    /// the median's magnitude (1 when the median is 0), and, for a `duration`, never below
    /// 50 ms: a steady series and clock noise do not alarm.
    pub fn of(recent: &[f64], duration: bool) -> Option<Usual> {
        if recent.len() < ANOMALY_MIN_POINTS {
            return None;
        }
        let middle = median(recent.to_vec());
        let mad = median(recent.iter().map(|v| (v - middle).abs()).collect());
        let floor = if middle == 0.0 {
            1.0
        } else {
            MIN_SPREAD * middle.abs()
        };
        let mut deviation = (MAD_SCALE * mad).max(floor);
        if duration {
            deviation = deviation.max(MIN_DURATION_SPREAD);
        }
        Some(Usual {
            median: middle,
            deviation,
        })
    }

    /// How many robust deviations `value` lies from the median.
    pub fn deviations(&self, value: f64) -> f64 {
        (value - self.median).abs() / self.deviation
    }
}

/// The median of `values` (not empty): the middle one, or the mean of the two middle ones.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let half = values.len() / 2;
    if values.len() % 2 == 1 {
        values[half]
    } else {
        (values[half - 1] + values[half]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::values::Unit;
    use crate::report::values::Reading;

    fn values(name: &str, number: Option<f64>, unit: Unit) -> Values {
        Values(vec![Reading {
            name: name.into(),
            number,
            unit,
        }])
    }

    fn rule(name: &str) -> Expect {
        Expect {
            value: name.into(),
            min: None,
            max: None,
            change: None,
            anomaly: None,
            unit: Unit::Number,
        }
    }

    fn earlier(name: &str, series: &[f64]) -> Vec<Earlier> {
        series
            .iter()
            .map(|v| Earlier {
                ok: true,
                values: vec![(name.into(), *v)],
            })
            .collect()
    }

    #[test]
    fn medians_and_deviations_by_hand() {
        // 10 12 11 13 50: median 12; |x - 12| = 2 0 1 1 38, whose median is 1; 1.4826 × 1
        // = 1.4826 is above 5% of 12 (0.6).
        let usual = Usual::of(&[10.0, 12.0, 11.0, 13.0, 50.0], false).unwrap();
        assert_eq!(usual.median, 12.0);
        assert!((usual.deviation - 1.4826).abs() < 1e-12, "{usual:?}");
        assert!((usual.deviations(18.0) - 6.0 / 1.4826).abs() < 1e-12);
        // An even count: median of 1 2 3 4 5 6 is 3.5; deviations 2.5 1.5 0.5 0.5 1.5 2.5,
        // median 1.5; 1.4826 × 1.5 = 2.2239.
        let usual = Usual::of(&[6.0, 1.0, 5.0, 2.0, 4.0, 3.0], false).unwrap();
        assert_eq!(usual.median, 3.5);
        assert!((usual.deviation - 2.2239).abs() < 1e-12, "{usual:?}");
        // A steady series (MAD 0): 5% of the median, 1 when the median is 0.
        let steady = Usual::of(&[200.0; 5], false).unwrap();
        assert_eq!(steady.deviation, 10.0);
        assert_eq!(Usual::of(&[0.0; 7], false).unwrap().deviation, 1.0);
        assert_eq!(Usual::of(&[-40.0; 5], false).unwrap().deviation, 2.0);
        // A duration: never below 50 ms, whatever the series.
        assert_eq!(Usual::of(&[400.0; 5], true).unwrap().deviation, 50.0);
        assert_eq!(Usual::of(&[4000.0; 5], true).unwrap().deviation, 200.0);
        // Fewer than 5 values: nothing to judge by.
        assert_eq!(Usual::of(&[1.0, 2.0, 3.0, 4.0], false), None);
    }

    #[test]
    fn an_anomaly_is_told_against_the_median() {
        let mut anomaly = rule("duration_ms");
        anomaly.anomaly = Some(4.0);
        let history = earlier(
            "duration_ms",
            &[
                2_460_000.0,
                2_400_000.0,
                2_520_000.0,
                2_460_000.0,
                2_490_000.0,
            ],
        );
        let now = values("duration_ms", Some(3000.0), Unit::Millis);
        let found = judge(&[anomaly.clone()], &now, &history);
        assert_eq!(
            found,
            [Expectation {
                value: "duration_ms".into(),
                rule: "anomaly",
                ok: false,
                text: "duration_ms 3s (median 41m 00s; anomaly > 4)".into(),
            }]
        );
        let usual = values("duration_ms", Some(2_500_000.0), Unit::Millis);
        let found = judge(&[anomaly.clone()], &usual, &history);
        assert_eq!(
            found[0].text,
            "duration_ms 41m 40s (median 41m 00s; within 4)"
        );
        assert!(found[0].ok);
        // Four earlier values never judge; failed results do not count.
        assert!(judge(&[anomaly.clone()], &now, &history[1..]).is_empty());
        let mut with_failures = history.clone();
        with_failures[0].ok = false;
        assert!(judge(&[anomaly], &now, &with_failures).is_empty());
    }

    #[test]
    fn bounds_changes_and_missing_values() {
        let mut files = rule("files");
        files.max = Some(100_000.0);
        files.change = Some(50.0);
        let now = values("files", Some(99.0), Unit::Number);
        let found = judge(&[files.clone()], &now, &earlier("files", &[10.0, 42.0]));
        let texts: Vec<(&str, bool, &str)> = found
            .iter()
            .map(|e| (e.rule, e.ok, e.text.as_str()))
            .collect();
        assert_eq!(
            texts,
            [
                ("change", false, "files 42 → 99 (+136%, change > 50%)"),
                ("max", true, "files 99 (≤ max 100000)"),
            ]
        );
        // No previous value: no change is judged.
        assert_eq!(judge(&[files.clone()], &now, &[]).len(), 1);
        let from_zero = judge(&[files.clone()], &now, &earlier("files", &[0.0]));
        assert_eq!(from_zero[0].text, "files 0 → 99 (from 0, change > 50%)");
        let gone = judge(&[files], &values("files", None, Unit::Number), &[]);
        assert_eq!(
            (gone[0].rule, gone[0].ok, gone[0].text.as_str()),
            ("value", false, "files: no value")
        );
        let mut sent = rule("sent");
        sent.min = Some(1073741824.0);
        sent.unit = Unit::Bytes;
        let found = judge(
            &[sent],
            &values("sent", Some(536870912.0), Unit::Number),
            &[],
        );
        assert_eq!(found[0].text, "sent 512 MiB (< min 1.0 GiB)");
    }
}
