//! `commands[].values` and `commands[].expect` (docs/values.md): the numbers to keep from a
//! command's output, by name, and the rules they are expected to keep, checked when the job
//! file loads so that a bad pattern or pointer fails then, not at the first run.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer};

use crate::config::units::{HumanDuration, Scalar, number_with_size};

/// How many values one command may keep (the built-in `duration_ms` aside).
pub const MAX_VALUES: usize = 32;

/// The value every result has: how long the command ran, in milliseconds.
pub const DURATION: &str = "duration_ms";

/// Where a value is read from.
#[derive(Debug, Clone)]
pub enum ValueSource {
    /// The first capture group of the first match in stdout.
    Capture(regex::Regex),
    /// A JSON pointer (RFC 6901) into the result's `data`.
    Pointer(String),
}

/// One entry of `values:`.
#[derive(Debug, Clone)]
pub struct ValueDef {
    pub name: String,
    pub source: ValueSource,
}

/// What a value counts, for showing it: bytes (written with a size unit), milliseconds
/// (`duration_ms`), or a plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unit {
    #[default]
    Number,
    Bytes,
    Millis,
}

/// The rules of one entry of `expect:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub value: String,
    /// Inclusive bounds, in bytes for sizes and milliseconds for durations.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// The largest change from the previous recorded value, in percent of it.
    pub change: Option<f64>,
    /// How many robust deviations from the median of the recent values are allowed.
    pub anomaly: Option<f64>,
    /// Bytes when a bound was written as a size, so that the value shows as one.
    pub unit: Unit,
}

/// A map as written, its keys in order (serde's maps sort them or lose the order).
#[derive(Debug, Clone)]
pub struct Ordered<V>(pub Vec<(String, V)>);

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> de::Visitor<'de> for Visitor<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of value names")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Ordered<V>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, V>()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// One `values:` entry as written: a regular expression, or `{json: POINTER}`.
#[derive(Debug, Clone)]
pub enum RawValue {
    Capture(String),
    Pointer(String),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPointer {
    json: String,
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = RawValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a regular expression with a capture group, or {json: POINTER}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawValue, E> {
                Ok(RawValue::Capture(v.to_owned()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RawValue, A::Error> {
                let raw = RawPointer::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawValue::Pointer(raw.json))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// One `expect:` entry as written.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    min: Option<Scalar>,
    max: Option<Scalar>,
    change: Option<Scalar>,
    anomaly: Option<f64>,
}

impl fmt::Debug for RawExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |s: &Option<Scalar>| s.as_ref().map(|s| s.0.clone());
        f.debug_struct("RawExpect")
            .field("min", &text(&self.min))
            .field("max", &text(&self.max))
            .field("change", &text(&self.change))
            .field("anomaly", &self.anomaly)
            .finish()
    }
}

/// The checks of one command's `values:` and `expect:` (`at` is the command's key,
/// `commands[2]`; `parsed`: whether it has `parse:`, so a `data` to point into); each
/// problem goes to `problem` with its key, so that all are told.
pub struct Checker<'a> {
    pub at: String,
    pub parsed: bool,
    /// Compiles a pattern (multi-line, shared between the jobs loaded together, as
    /// `fail_if`'s are), or says why it is not one.
    pub compile: fn(&str) -> Result<regex::Regex, String>,
    pub problem: &'a mut dyn FnMut(String, String),
}

impl Checker<'_> {
    fn error(&mut self, key: String, message: String) {
        (self.problem)(key, message);
    }

    /// The valid entries of `values:`, in the order written.
    pub fn values(&mut self, raw: Ordered<RawValue>) -> Vec<ValueDef> {
        if raw.0.len() > MAX_VALUES {
            let count = raw.0.len();
            self.error(
                format!("{}.values", self.at),
                format!("{count} values (at most {MAX_VALUES} per command)"),
            );
        }
        let mut values: Vec<ValueDef> = Vec::new();
        for (name, value) in raw.0 {
            let key = format!("{}.values.{name}", self.at);
            if let Some(problem) = name_problem(&name) {
                self.error(key, problem);
                continue;
            }
            if values.iter().any(|v| v.name == name) {
                self.error(key, format!("value `{name}` is named twice"));
                continue;
            }
            let source = match value {
                RawValue::Capture(pattern) => self.capture(&key, &pattern),
                RawValue::Pointer(pointer) => self.pointer(&key, pointer),
            };
            if let Some(source) = source {
                values.push(ValueDef { name, source });
            }
        }
        values
    }

    fn capture(&mut self, key: &str, pattern: &str) -> Option<ValueSource> {
        let regex = match (self.compile)(pattern) {
            Ok(regex) => regex,
            Err(problem) => {
                self.error(key.to_owned(), problem);
                return None;
            }
        };
        if regex.captures_len() < 2 {
            self.error(
                key.to_owned(),
                format!(
                    "the regular expression {pattern:?} has no capture group: put the number in ( ), as 'files: (\\d+)'"
                ),
            );
            return None;
        }
        Some(ValueSource::Capture(regex))
    }

    fn pointer(&mut self, key: &str, pointer: String) -> Option<ValueSource> {
        let key = format!("{key}.json");
        if let Some(problem) = pointer_problem(&pointer) {
            self.error(key, format!("invalid JSON pointer {pointer:?} ({problem})"));
            return None;
        }
        if !self.parsed {
            self.error(
                key,
                "a JSON pointer reads the command's data, which needs `parse: json` or `parse: json-lines`"
                    .to_owned(),
            );
            return None;
        }
        Some(ValueSource::Pointer(pointer))
    }

    /// The valid entries of `expect:`, each naming a value of `values` or `duration_ms`.
    pub fn expect(&mut self, raw: Ordered<RawExpect>, values: &[ValueDef]) -> Vec<Expect> {
        let mut rules = Vec::new();
        for (name, rule) in raw.0 {
            let key = format!("{}.expect.{name}", self.at);
            if name != DURATION && !values.iter().any(|v| v.name == name) {
                let known: Vec<&str> = values.iter().map(|v| v.name.as_str()).collect();
                let known = if known.is_empty() {
                    "this command has no values".to_owned()
                } else {
                    format!("its values: {}", known.join(", "))
                };
                self.error(
                    key,
                    format!("no value `{name}` ({known}; `{DURATION}` is built in)"),
                );
                continue;
            }
            if let Some(rule) = self.rule(&key, &name, rule) {
                rules.push(rule);
            }
        }
        rules
    }

    fn rule(&mut self, key: &str, name: &str, raw: RawExpect) -> Option<Expect> {
        if raw.min.is_none() && raw.max.is_none() && raw.change.is_none() && raw.anomaly.is_none() {
            self.error(
                key.to_owned(),
                "no rule (min, max, change or anomaly)".to_owned(),
            );
            return None;
        }
        let duration = name == DURATION;
        let mut unit = if duration { Unit::Millis } else { Unit::Number };
        let mut bound = |this: &mut Self, which: &str, scalar: Option<Scalar>| {
            let text = scalar?.0;
            match read_bound(&text, duration) {
                Some((number, size)) => {
                    if size {
                        unit = Unit::Bytes;
                    }
                    Some(number)
                }
                None => {
                    let expected = if duration {
                        "milliseconds, or a duration such as 30s or 1h30m"
                    } else {
                        "a number, or a size such as 1.5GiB"
                    };
                    this.error(
                        format!("{key}.{which}"),
                        format!("invalid {which} {text:?} (expected {expected})"),
                    );
                    None
                }
            }
        };
        let min = bound(self, "min", raw.min);
        let max = bound(self, "max", raw.max);
        let change = raw.change.and_then(|c| self.change(key, &c.0));
        let anomaly = raw.anomaly.and_then(|k| self.anomaly(key, k));
        if let (Some(low), Some(high)) = (min, max)
            && low > high
        {
            self.error(
                key.to_owned(),
                "min is above max: no value could keep both".to_owned(),
            );
        }
        Some(Expect {
            value: name.to_owned(),
            min,
            max,
            change,
            anomaly,
            unit,
        })
    }

    fn change(&mut self, key: &str, text: &str) -> Option<f64> {
        let number = text.trim().strip_suffix('%').unwrap_or(text).trim();
        match number.parse::<f64>() {
            Ok(percent) if percent.is_finite() && percent >= 0.0 => Some(percent),
            _ => {
                self.error(
                    format!("{key}.change"),
                    format!("invalid change {text:?} (expected a percentage such as 50%)"),
                );
                None
            }
        }
    }

    fn anomaly(&mut self, key: &str, k: f64) -> Option<f64> {
        if k.is_finite() && k > 0.0 {
            return Some(k);
        }
        self.error(
            format!("{key}.anomaly"),
            format!(
                "anomaly {k} out of range (more than 0: how many robust deviations from the median are normal)"
            ),
        );
        None
    }
}

/// Why `name` cannot name a value, if it cannot.
fn name_problem(name: &str) -> Option<String> {
    if name == DURATION {
        return Some(format!(
            "`{DURATION}` is built in (every result has it): name this value otherwise"
        ));
    }
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    (!valid).then(|| {
        format!(
            "invalid value name {name:?} (a lowercase letter, then lowercase letters, digits and `_`)"
        )
    })
}

/// Why `pointer` is not an RFC 6901 JSON pointer, if it is not.
fn pointer_problem(pointer: &str) -> Option<&'static str> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Some("it starts with `/`, as /0/avail; the empty pointer is the whole value");
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Some("`~` is written ~0 and `/` ~1 inside a name");
        }
    }
    None
}

/// A bound as written: a number, or a size (`1GiB`); for `duration_ms`, milliseconds or a
/// duration (`30m`). Returns the number and whether it was written as a size.
fn read_bound(text: &str, duration: bool) -> Option<(f64, bool)> {
    if duration {
        if let Ok(number) = text.trim().parse::<f64>() {
            return number.is_finite().then_some((number, false));
        }
        let duration: HumanDuration = text.parse().ok()?;
        return Some((duration.0.as_millis() as f64, false));
    }
    number_with_size(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_pointers() {
        assert_eq!(name_problem("files"), None);
        assert_eq!(name_problem("free_2"), None);
        for bad in ["Files", "2files", "", "files-sent", "é"] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
        assert!(name_problem(DURATION).unwrap().contains("built in"));
        for good in ["", "/0/avail", "/a~1b/~0", "/"] {
            assert_eq!(pointer_problem(good), None, "{good}");
        }
        assert!(pointer_problem("0/avail").is_some());
        assert!(pointer_problem("/a~2").is_some());
        assert!(pointer_problem("/a~").is_some());
    }

    #[test]
    fn bounds_take_units() {
        assert_eq!(read_bound("1GiB", false), Some((1073741824.0, true)));
        assert_eq!(read_bound("100000", false), Some((100000.0, false)));
        assert_eq!(read_bound("30m", true), Some((1_800_000.0, false)));
        assert_eq!(read_bound("1500", true), Some((1500.0, false)));
        assert_eq!(read_bound("1GiB", true), None);
    }
}
