//! `remind_every:` and `escalate:` (docs/silences.md): how loud a failure that lasts
//! becomes — mailed again after a while, and to more people.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer};

use crate::config::address::{AddressList, AddressSpec};
use crate::config::units::HumanDuration;

/// `escalate[].after:` — failing runs in a row, or how long the failure has lasted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Runs(u32),
    Lasting(Duration),
}

impl fmt::Display for After {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            After::Runs(n) => write!(f, "{n} failing runs"),
            After::Lasting(d) => write!(f, "{}", HumanDuration(*d)),
        }
    }
}

impl<'de> Deserialize<'de> for After {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = After;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of failing runs (3) or a duration (1d)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<After, E> {
                match u32::try_from(v) {
                    Ok(n) if n >= 1 => Ok(After::Runs(n)),
                    _ => Err(E::custom(format!(
                        "after {v} out of range (at least 1: the first failing run)"
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<After, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!(
                        "after {v} out of range (at least 1: the first failing run)"
                    ))),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<After, E> {
                if let Ok(n) = v.trim().parse::<u64>() {
                    return self.visit_u64(n);
                }
                let HumanDuration(duration) = v.parse().map_err(|_| {
                    E::custom(format!(
                        "invalid after {v:?} (expected a number of failing runs, 3, or a duration, 1d)"
                    ))
                })?;
                Ok(After::Lasting(duration))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// One `escalate:` step as written.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEscalation {
    pub after: After,
    pub to: AddressList,
}

/// One `escalate:` step: from when on, and who else is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub after: After,
    pub to: Vec<AddressSpec>,
}

impl Escalation {
    pub fn of(raw: RawEscalation) -> Escalation {
        Escalation {
            after: raw.after,
            to: raw.to.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(yaml: &str) -> Result<After, String> {
        serde_yaml::from_str::<After>(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn after_is_a_count_or_a_duration() {
        assert_eq!(after("3"), Ok(After::Runs(3)));
        assert_eq!(after("\"2\""), Ok(After::Runs(2)));
        assert_eq!(after("1d"), Ok(After::Lasting(Duration::from_secs(86_400))));
        assert!(
            after("0").unwrap_err().starts_with("after 0 out of range"),
            "{:?}",
            after("0")
        );
        assert!(
            after("soon")
                .unwrap_err()
                .starts_with("invalid after \"soon\" (expected a number of failing runs"),
            "{:?}",
            after("soon")
        );
    }
}
