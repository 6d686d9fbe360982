//! A result's values (docs/values.md): the numbers its command's `values:` read from stdout
//! or `data`, with the built-in `duration_ms`; how they show to people; and their recent
//! series (`trends`) scaled for `sparkline`.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::config::CommandDef;
use crate::config::units::number_with_size;
use crate::config::values::{DURATION, Unit, ValueSource};
use crate::report::format::{format_bytes, format_duration};

/// How many values a trend holds: the earlier recorded ones and now.
pub const TREND_LEN: usize = 30;

/// One value of a result: its number (`None` when the output did not hold one) and what
/// it counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub name: String,
    pub number: Option<f64>,
    pub unit: Unit,
}

/// A result's values in the order its command names them, `duration_ms` last; templates
/// see `{name: number or null}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Values(pub Vec<Reading>);

impl Values {
    /// The values of a finished command: each of `def.values` read from `stdout` or
    /// `data`, then `duration_ms`.
    pub fn read(
        def: &CommandDef,
        stdout: &str,
        data: &serde_json::Value,
        duration_ms: u64,
    ) -> Values {
        let mut readings: Vec<Reading> = def
            .values
            .iter()
            .map(|value| {
                let found = match &value.source {
                    ValueSource::Capture(pattern) => pattern
                        .captures(stdout)
                        .and_then(|c| c.get(1))
                        .and_then(|m| number_with_size(m.as_str())),
                    ValueSource::Pointer(pointer) => data.pointer(pointer).and_then(json_number),
                };
                Reading {
                    name: value.name.clone(),
                    number: found.map(|(number, _)| number),
                    unit: match found {
                        Some((_, true)) => Unit::Bytes,
                        _ => Unit::Number,
                    },
                }
            })
            .collect();
        readings.push(Reading {
            name: DURATION.to_owned(),
            number: Some(duration_ms as f64),
            unit: Unit::Millis,
        });
        Values(readings)
    }

    pub fn get(&self, name: &str) -> Option<&Reading> {
        self.0.iter().find(|r| r.name == name)
    }

    /// The values the history keeps: those read from the output that hold a number
    /// (`duration_ms` is kept with the result already).
    pub fn recorded(&self) -> Vec<(String, f64)> {
        self.0
            .iter()
            .filter(|r| r.name != DURATION)
            .filter_map(|r| Some((r.name.clone(), r.number?)))
            .collect()
    }

    /// The names of the recorded values that are sizes (read with a size unit): the
    /// history remembers them, so that the status page shows them as sizes.
    pub fn sizes(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|r| r.unit == Unit::Bytes && r.number.is_some() && r.name != DURATION)
            .map(|r| r.name.clone())
            .collect()
    }

    /// Each value as people read it (`values_text`): sizes as `df -h` shows them,
    /// `duration_ms` as a duration, `no value` for none.
    pub fn texts(&self) -> Named<String> {
        Named(
            self.0
                .iter()
                .map(|r| {
                    let text = r
                        .number
                        .map_or_else(|| "no value".to_owned(), |n| show(n, r.unit));
                    (r.name.clone(), text)
                })
                .collect(),
        )
    }
}

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for reading in &self.0 {
            map.serialize_entry(&reading.name, &reading.number.map(Number))?;
        }
        map.end()
    }
}

/// A number as JSON shows it: whole numbers without a fraction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number(pub f64);

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = self.0;
        if value.fract() == 0.0 && value.abs() < 9.0e15 {
            serializer.serialize_i64(value as i64)
        } else {
            serializer.serialize_f64(value)
        }
    }
}

/// Entries by name, in order, that templates see as an object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Named<T>(pub Vec<(String, T)>);

impl<T: Serialize> Serialize for Named<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// A JSON value as a number: a number, or text that reads as one (`"1.5G"`).
fn json_number(value: &serde_json::Value) -> Option<(f64, bool)> {
    match value {
        serde_json::Value::Number(n) => n.as_f64().map(|n| (n, false)),
        serde_json::Value::String(text) => number_with_size(text),
        _ => None,
    }
}

/// `number` as people read it: `1.5 GiB`, `41m 00s`, `42`, `0.52`.
pub fn show(number: f64, unit: Unit) -> String {
    match unit {
        Unit::Bytes => format_bytes(number),
        Unit::Millis => format_duration(number),
        Unit::Number => plain(number),
    }
}

/// A plain number: whole, or with at most three decimals and no trailing zeros.
pub fn plain(number: f64) -> String {
    if number.fract() == 0.0 && number.abs() < 1e15 {
        return format!("{}", number as i64);
    }
    let text = format!("{number:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A series, oldest first, as `sparkline` draws it: each number in percent of the
/// largest (so bars stand on zero, as in a bar chart), or, when the series has negative
/// numbers, placed between its smallest (0) and largest (100). A flat series is all 100
/// (all 0 when it is all zeros).
pub fn scaled(series: &[f64]) -> Vec<f64> {
    let high = series.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let low = series.iter().copied().fold(f64::INFINITY, f64::min);
    let (base, span) = if low >= 0.0 {
        (0.0, high)
    } else {
        (low, high - low)
    };
    series
        .iter()
        .map(|n| {
            if span > 0.0 {
                ((n - base) / span * 1000.0).round() / 10.0
            } else if *n == 0.0 && low >= 0.0 {
                0.0
            } else {
                100.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::values::ValueDef;
    use serde_json::json;

    fn def(values: &[(&str, ValueSource)]) -> CommandDef {
        let mut def = CommandDef::fixture(&[0], None);
        def.values = values
            .iter()
            .map(|(name, source)| ValueDef {
                name: (*name).to_owned(),
                source: source.clone(),
            })
            .collect();
        def
    }

    fn capture(pattern: &str) -> ValueSource {
        ValueSource::Capture(
            regex::RegexBuilder::new(pattern)
                .multi_line(true)
                .build()
                .unwrap(),
        )
    }

    #[test]
    fn values_come_from_stdout_and_data_with_duration_last() {
        let def = def(&[
            ("sent", capture(r"sent ([0-9.]+ ?[KMGT]?i?B?) bytes")),
            ("files", capture(r"^files: (\d+)")),
            ("free", ValueSource::Pointer("/0/avail".into())),
            ("gone", capture(r"missing: (\d+)")),
            ("size", ValueSource::Pointer("/0/size".into())),
            ("name", ValueSource::Pointer("/0/name".into())),
        ]);
        let data = json!([{"avail": 12.5, "size": "20 MiB", "name": "root"}]);
        let values = Values::read(&def, "sent 1.5G bytes\nfiles: 42\n", &data, 2500);
        assert_eq!(
            serde_json::to_value(&values).unwrap(),
            json!({"sent": 1610612736, "files": 42, "free": 12.5, "gone": null,
                   "size": 20971520, "name": null, "duration_ms": 2500})
        );
        let keys: Vec<&str> = values.0.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            keys,
            [
                "sent",
                "files",
                "free",
                "gone",
                "size",
                "name",
                "duration_ms"
            ]
        );
        assert_eq!(values.get("sent").unwrap().unit, Unit::Bytes);
        assert_eq!(values.get("files").unwrap().unit, Unit::Number);
        assert_eq!(
            values.recorded(),
            [
                ("sent".to_owned(), 1610612736.0),
                ("files".to_owned(), 42.0),
                ("free".to_owned(), 12.5),
                ("size".to_owned(), 20971520.0)
            ]
        );
        assert_eq!(
            serde_json::to_value(values.texts()).unwrap(),
            json!({"sent": "1.5 GiB", "files": "42", "free": "12.5", "gone": "no value",
                   "size": "20 MiB", "name": "no value", "duration_ms": "2.5s"})
        );
    }

    #[test]
    fn trends_stand_on_zero() {
        assert_eq!(scaled(&[10.0, 20.0, 40.0]), [25.0, 50.0, 100.0]);
        assert_eq!(scaled(&[-10.0, 0.0, 10.0]), [0.0, 50.0, 100.0]);
        assert_eq!(scaled(&[7.0, 7.0]), [100.0, 100.0]);
        assert_eq!(scaled(&[0.0, 0.0]), [0.0, 0.0]);
        assert!(scaled(&[]).is_empty());
        assert_eq!(plain(0.52), "0.52");
        assert_eq!(plain(3.0), "3");
        assert_eq!(plain(1.0 / 3.0), "0.333");
    }
}
