//! The configured time zone: an IANA name, or the system's local time; and the one way
//! reporter writes an instant for people (RFC 3339 in that zone).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, Local, SecondsFormat, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    /// The system's local time (`TZ`, else `/etc/localtime`).
    #[default]
    Local,
    Named(Tz),
}

/// A `timezone:` that names no zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {name:?} (expected an IANA name such as Europe/Berlin or UTC)")]
pub struct UnknownZone {
    pub name: String,
}

impl Zone {
    /// `instant` as wall-clock time in this zone, with its UTC offset.
    pub fn at(self, instant: DateTime<Utc>) -> DateTime<FixedOffset> {
        match self {
            Zone::Local => instant.with_timezone(&Local).fixed_offset(),
            Zone::Named(tz) => instant.with_timezone(&tz).fixed_offset(),
        }
    }

    pub fn now(self) -> DateTime<FixedOffset> {
        self.at(Utc::now())
    }

    /// `instant` as RFC 3339 in this zone, to the second: how every time in a report, the
    /// history listing and the log reads.
    pub fn rfc3339(self, instant: impl Into<DateTime<Utc>>) -> String {
        self.at(instant.into())
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

impl FromStr for Zone {
    type Err = UnknownZone;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "local" | "Local" => Ok(Zone::Local),
            _ => name
                .parse::<Tz>()
                .map(Zone::Named)
                .map_err(|_| UnknownZone {
                    name: name.to_owned(),
                }),
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Local => f.write_str("local"),
            Zone::Named(tz) => f.write_str(tz.name()),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn named_zones_apply_their_offset() {
        let zone: Zone = "Europe/Berlin".parse().unwrap();
        let winter = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
        assert_eq!(zone.at(winter).to_rfc3339(), "2026-01-15T13:00:00+01:00");
        let summer = Utc.with_ymd_and_hms(2026, 7, 15, 12, 0, 0).unwrap();
        assert_eq!(zone.at(summer).to_rfc3339(), "2026-07-15T14:00:00+02:00");
        assert_eq!(zone.rfc3339(summer), "2026-07-15T14:00:00+02:00");
    }

    #[test]
    fn unknown_zone_is_explained() {
        let err = "Europe/Berln".parse::<Zone>().unwrap_err().to_string();
        assert!(err.contains("unknown time zone \"Europe/Berln\""), "{err}");
    }
}
