//! Human-friendly units in job files: durations (`30s`, `1h30m`) and sizes (`64KiB`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer};

/// A duration or size that does not read as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("invalid duration {0:?} (expected e.g. 30s, 5m, 1h30m)")]
    Duration(String),
    #[error("invalid size {0:?} (expected e.g. 4096, 64KiB, 1MiB)")]
    Size(String),
}

/// A duration written as one or more `<number><unit>` parts: `500ms`, `30s`, `5m`, `1h30m`, `7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || UnitError::Duration(text.to_owned());
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(invalid());
        }
        let mut total = Duration::ZERO;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let part = match &rest[..unit_len] {
                "ms" => Duration::from_millis(number),
                "s" => Duration::from_secs(number),
                "m" => Duration::from_secs(number.saturating_mul(60)),
                "h" => Duration::from_secs(number.saturating_mul(3600)),
                "d" => Duration::from_secs(number.saturating_mul(86_400)),
                "w" => Duration::from_secs(number.saturating_mul(7 * 86_400)),
                _ => return Err(invalid()),
            };
            total = total.saturating_add(part);
            rest = &rest[unit_len..];
        }
        Ok(HumanDuration(total))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms % 1000 != 0 {
            return write!(f, "{ms}ms");
        }
        let mut secs = self.0.as_secs();
        if secs == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if secs >= size {
                write!(f, "{}{unit}", secs / size)?;
                secs %= size;
            }
        }
        Ok(())
    }
}

/// A byte count written as `<number><unit>`: `4096`, `512B`, `64KiB`, `1MiB`, `1GiB`
/// (binary units; `K`, `KB`, `M`, `MB`, `G`, `GB` are read as binary too, as `df` and `ls` do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || UnitError::Size(text.to_owned());
        let trimmed = text.trim();
        let digits = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let number: u64 = trimmed[..digits].parse().map_err(|_| invalid())?;
        let factor: u64 = match trimmed[digits..].trim_start() {
            "" | "B" => 1,
            "K" | "KB" | "KiB" | "k" => 1 << 10,
            "M" | "MB" | "MiB" => 1 << 20,
            "G" | "GB" | "GiB" => 1 << 30,
            _ => return Err(invalid()),
        };
        number.checked_mul(factor).map(ByteSize).ok_or_else(invalid)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 >= size && self.0 % size == 0 {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}B", self.0)
    }
}

/// A number as commands print it, with an optional size unit: `42`, `-3.5`, `1,234,567`,
/// `1.5G`, `20 MiB`, `3kB`, `512 bytes`. A size is bytes in binary units whatever its
/// spelling (`K`, `KB`, `kB` and `KiB` are all 1024), as `df -h` means them. Returns the
/// number and whether it had a size unit; `None` when the text is not one number.
pub fn number_with_size(text: &str) -> Option<(f64, bool)> {
    let text = text.trim();
    let (number, rest) = split_number(text)?;
    let unit = rest.trim_start();
    let lower = unit.to_ascii_lowercase();
    let power = match lower.as_str() {
        "" => return Some((number, false)),
        "b" | "byte" | "bytes" => 0,
        _ => {
            let mut chars = lower.chars();
            let prefix = chars.next()?;
            let power = "kmgtpe".find(prefix)? + 1;
            match chars.as_str() {
                "" | "b" | "i" | "ib" => power,
                _ => return None,
            }
        }
    };
    let bytes = number * 1024f64.powi(i32::try_from(power).ok()?);
    bytes.is_finite().then_some((bytes, true))
}

/// The number `text` starts with (a sign, digits with optional `,` between groups of
/// three, a fraction, an exponent) and what follows it.
fn split_number(text: &str) -> Option<(f64, &str)> {
    let bytes = text.as_bytes();
    let mut end = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let whole = digits(end);
    end += whole;
    // Thousands separators: `1,234,567`, never `1,5`.
    while whole > 0 && bytes.get(end) == Some(&b',') && digits(end + 1) == 3 {
        end += 4;
    }
    let mut fraction = 0;
    if bytes.get(end) == Some(&b'.') {
        fraction = digits(end + 1);
        end += 1 + fraction;
    }
    if whole == 0 && fraction == 0 {
        return None;
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(end + 1), Some(b'+' | b'-')));
        let exponent = digits(end + 1 + sign);
        if exponent > 0 {
            end += 1 + sign + exponent;
        }
    }
    let number: f64 = text[..end].replace(',', "").parse().ok()?;
    number.is_finite().then_some((number, &text[end..]))
}

/// Deserializes any `FromStr` type from a YAML scalar, so that a bad value fails with the
/// parser's line and column. Numbers are accepted too (`max_output: 4096`).
pub(crate) fn deserialize_from_str<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    let scalar = Scalar::deserialize(deserializer)?;
    scalar.0.parse().map_err(de::Error::custom)
}

/// Any YAML scalar, as text.
pub(crate) struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

macro_rules! deserialize_via_from_str {
    ($($ty:ty),*) => {$(
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::config::units::deserialize_from_str(deserializer)
            }
        }
    )*};
}
pub(crate) use deserialize_via_from_str;

deserialize_via_from_str!(HumanDuration, ByteSize);

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> u64 {
        s.parse::<HumanDuration>().unwrap().0.as_secs()
    }

    #[test]
    fn durations_parse_compound_forms() {
        assert_eq!(secs("30s"), 30);
        assert_eq!(secs("5m"), 300);
        assert_eq!(secs("1h30m"), 5400);
        assert_eq!(secs("7d"), 7 * 86_400);
        let ms = "500ms".parse::<HumanDuration>().unwrap();
        assert_eq!(ms.0, Duration::from_millis(500));
    }

    #[test]
    fn durations_reject_prose_and_bare_numbers() {
        for bad in ["5 minutes", "", "30", "m", "1.5h", "-1s", "10x"] {
            let err = bad.parse::<HumanDuration>().unwrap_err().to_string();
            assert!(err.contains("expected e.g. 30s, 5m, 1h30m"), "{bad}: {err}");
        }
    }

    #[test]
    fn durations_display_round_trip() {
        for text in ["30s", "1h30m", "500ms", "2d", "0s"] {
            assert_eq!(text.parse::<HumanDuration>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn sizes_parse_binary_units() {
        assert_eq!("4096".parse::<ByteSize>().unwrap().0, 4096);
        assert_eq!("64KiB".parse::<ByteSize>().unwrap().0, 64 << 10);
        assert_eq!("1MiB".parse::<ByteSize>().unwrap().0, 1 << 20);
        assert_eq!("1 GiB".parse::<ByteSize>().unwrap().0, 1 << 30);
        assert_eq!(ByteSize(1 << 20).to_string(), "1MiB");
        assert!("1TiB".parse::<ByteSize>().is_err());
        assert!("99999999999999999999G".parse::<ByteSize>().is_err());
    }

    #[test]
    fn numbers_with_sizes_read_as_df_h_means_them() {
        let read = |t: &str| number_with_size(t);
        assert_eq!(read("42"), Some((42.0, false)));
        assert_eq!(read(" -3.5 "), Some((-3.5, false)));
        assert_eq!(read("1,234,567"), Some((1_234_567.0, false)));
        assert_eq!(read("1.5G"), Some((1.5 * 1073741824.0, true)));
        assert_eq!(read("20 MiB"), Some((20.0 * 1048576.0, true)));
        assert_eq!(read("3kB"), Some((3072.0, true)));
        assert_eq!(read("3K"), Some((3072.0, true)));
        assert_eq!(read("2T"), Some((2.0 * 1099511627776.0, true)));
        assert_eq!(read("512 bytes"), Some((512.0, true)));
        assert_eq!(read("512B"), Some((512.0, true)));
        assert_eq!(read("1e3"), Some((1000.0, false)));
        assert_eq!(read(".5"), Some((0.5, false)));
        for bad in [
            "",
            "abc",
            "1,5",
            "12 apples",
            "1.5Gx",
            "-",
            ".",
            "1e308E",
            "1e999",
        ] {
            assert_eq!(read(bad), None, "{bad}");
        }
    }
}
