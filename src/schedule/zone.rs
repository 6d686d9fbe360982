//! The configured time zone: an IANA name read from the system's tz database, or the
//! system's local time; and the one way reporter writes an instant for people (RFC 3339
//! in that zone).
//!
//! Named zones come from the same files cron and libc read (`$TZDIR`, else
//! `/usr/share/zoneinfo`), so a tzdata update reaches reporter's schedules as it reaches
//! cron's, without a new reporter. It also keeps the binary free of a compiled-in
//! database, whose tables the loader would relocate at every start.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};

use chrono::{
    DateTime, Datelike, FixedOffset, Local, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime,
    Offset, SecondsFormat, TimeZone, Timelike, Utc,
};
use tz::datetime::FoundDateTimeKind;

#[derive(Debug, Clone, Copy, Default)]
pub enum Zone {
    /// The system's local time (`TZ`, else `/etc/localtime`).
    #[default]
    Local,
    Named(&'static Named),
}

/// A `timezone:` that names no zone of the system's database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown time zone {name:?} ({reason}; expected an IANA name such as Europe/Berlin or UTC)"
)]
pub struct UnknownZone {
    pub name: String,
    pub reason: String,
}

impl Zone {
    /// `instant` as wall-clock time in this zone, with its UTC offset.
    pub fn at(self, instant: DateTime<Utc>) -> DateTime<FixedOffset> {
        match self {
            Zone::Local => instant.with_timezone(&Local).fixed_offset(),
            Zone::Named(zone) => instant.with_timezone(&zone).fixed_offset(),
        }
    }

    pub fn now(self) -> DateTime<FixedOffset> {
        self.at(Utc::now())
    }

    /// The instant wall-clock time `local` names in this zone (the first, when the clock
    /// shows it twice); `None` for a time the clock skips.
    pub fn instant_of(self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self {
            Zone::Local => Local
                .from_local_datetime(&local)
                .earliest()
                .map(|t| t.to_utc()),
            Zone::Named(zone) => zone
                .from_local_datetime(&local)
                .earliest()
                .map(|t| t.to_utc()),
        }
    }

    /// `instant` as RFC 3339 in this zone, to the second: how every time in a report, the
    /// history listing and the log reads.
    pub fn rfc3339(self, instant: impl Into<DateTime<Utc>>) -> String {
        self.at(instant.into())
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

/// Zones are equal when they give the same offsets: the same name read from the same
/// file (a tzdata update read by a daemon's reload makes a different zone).
impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Zone::Local, Zone::Local) => true,
            (Zone::Named(a), Zone::Named(b)) => std::ptr::eq(*a, *b),
            _ => false,
        }
    }
}

impl Eq for Zone {}

impl FromStr for Zone {
    type Err = UnknownZone;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "local" | "Local" => Ok(Zone::Local),
            _ => Named::load(name)
                .map(Zone::Named)
                .map_err(|reason| UnknownZone {
                    name: name.to_owned(),
                    reason,
                }),
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Local => f.write_str("local"),
            Zone::Named(zone) => f.write_str(&zone.name),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A zone of the system's tz database. Each distinct file is read once per process and
/// kept for its life (a few KiB), which lets [`Zone`] stay `Copy`.
pub struct Named {
    name: String,
    /// The file as read: a reload compares it to tell a tzdata update.
    data: Vec<u8>,
    rules: tz::TimeZone,
}

impl fmt::Debug for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Named {
    /// The zone `name` from the system's database; the error says why there is none.
    fn load(name: &str) -> Result<&'static Named, String> {
        let (path, data) = read_zone_file(name)?;
        static LOADED: Mutex<Vec<&'static Named>> = Mutex::new(Vec::new());
        let mut loaded = LOADED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&zone) = loaded.iter().find(|z| z.name == name && z.data == data) {
            return Ok(zone);
        }
        let rules = if data.is_empty() {
            tz::TimeZone::utc()
        } else {
            tz::TimeZone::from_tz_data(&data)
                .map_err(|e| format!("{} is not a time zone file: {e}", path.display()))?
        };
        let zone = Box::leak(Box::new(Named {
            name: name.to_owned(),
            data,
            rules,
        }));
        loaded.push(zone);
        Ok(zone)
    }

    fn offset(&'static self, seconds: i32) -> NamedOffset {
        NamedOffset {
            zone: self,
            fixed: FixedOffset::east_opt(seconds).unwrap_or_else(|| Utc.fix()),
        }
    }
}

/// The file of zone `name` and what it holds (nothing for UTC on a system without the
/// database); the error says why there is none.
fn read_zone_file(name: &str) -> Result<(PathBuf, Vec<u8>), String> {
    // A name, never a path: `timezone: ../../etc/shadow` reads nothing.
    if name.is_empty()
        || !name
            .split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.'))
    {
        return Err("not a zone name".to_owned());
    }
    let directory = std::env::var_os("TZDIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from("/usr/share/zoneinfo"), PathBuf::from);
    let path = directory.join(name);
    match std::fs::read(&path) {
        Ok(data) => Ok((path, data)),
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(format!("{}: {e}", path.display())),
        // UTC needs no database: a system without tzdata still has it.
        Err(_) if matches!(name, "UTC" | "Etc/UTC") => Ok((path, Vec::new())),
        Err(_) if !directory.is_dir() => Err(format!(
            "no time zone database in {} (Debian package tzdata)",
            directory.display()
        )),
        Err(_) => Err(format!("not in {}", directory.display())),
    }
}

/// A UTC offset of a [`Named`] zone (chrono's `TimeZone` needs the zone back from it).
#[derive(Debug, Clone, Copy)]
pub struct NamedOffset {
    zone: &'static Named,
    fixed: FixedOffset,
}

impl chrono::Offset for NamedOffset {
    fn fix(&self) -> FixedOffset {
        self.fixed
    }
}

impl fmt::Display for NamedOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fixed.fmt(f)
    }
}

impl TimeZone for &'static Named {
    type Offset = NamedOffset;

    fn from_offset(offset: &NamedOffset) -> Self {
        offset.zone
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> NamedOffset {
        let rules = &self.rules;
        let kind = rules
            .find_local_time_type(utc.and_utc().timestamp())
            // Only an instant far outside any schedule's reach has none; the zone's latest
            // offset is the best guess for it.
            .or_else(|_| rules.as_ref().local_time_types().last().ok_or(()));
        self.offset(kind.map_or(0, |kind| kind.ut_offset()))
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> NamedOffset {
        self.offset_from_utc_datetime(&utc.and_time(NaiveTime::MIN))
    }

    /// A wall-clock time that the clock skips has no offset; one it shows twice has two.
    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<NamedOffset> {
        let mut found = [None; 2];
        let list = tz::datetime::DateTime::find_n(
            &mut found,
            local.year(),
            local.month() as u8,
            local.day() as u8,
            local.hour() as u8,
            local.minute() as u8,
            local.second() as u8,
            0,
            self.rules.as_ref(),
        );
        let Ok(list) = list else {
            return MappedLocalTime::None;
        };
        let mut offsets = list.data().iter().flatten().filter_map(|kind| match kind {
            FoundDateTimeKind::Normal(time) => {
                Some(self.offset(time.local_time_type().ut_offset()))
            }
            FoundDateTimeKind::Skipped { .. } => None,
        });
        match (offsets.next(), offsets.next_back()) {
            (None, _) => MappedLocalTime::None,
            (Some(only), None) => MappedLocalTime::Single(only),
            (Some(earliest), Some(latest)) => MappedLocalTime::Ambiguous(earliest, latest),
        }
    }

    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<NamedOffset> {
        self.offset_from_local_datetime(&local.and_time(NaiveTime::MIN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> &'static Named {
        match name.parse::<Zone>() {
            Ok(Zone::Named(zone)) => zone,
            other => panic!("{name} should be a named zone: {other:?}"),
        }
    }

    fn local(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn named_zones_apply_their_offset() {
        let zone: Zone = "Europe/Berlin".parse().unwrap();
        let winter = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
        assert_eq!(zone.at(winter).to_rfc3339(), "2026-01-15T13:00:00+01:00");
        let summer = Utc.with_ymd_and_hms(2026, 7, 15, 12, 0, 0).unwrap();
        assert_eq!(zone.at(summer).to_rfc3339(), "2026-07-15T14:00:00+02:00");
        assert_eq!(zone.rfc3339(summer), "2026-07-15T14:00:00+02:00");
        // Past the last transition the file lists, its rule goes on.
        let far = Utc.with_ymd_and_hms(2090, 7, 15, 12, 0, 0).unwrap();
        assert_eq!(zone.rfc3339(far), "2090-07-15T14:00:00+02:00");
    }

    #[test]
    fn skipped_and_repeated_wall_clock_times_are_told_apart() {
        let berlin = named("Europe/Berlin");
        let offsets = |text| {
            berlin
                .offset_from_local_datetime(&local(text))
                .map(|o| o.fixed)
        };
        let hours = |h| FixedOffset::east_opt(h * 3600).unwrap();
        assert_eq!(offsets("2026-03-29 02:30:00"), MappedLocalTime::None);
        assert_eq!(
            offsets("2026-03-29 03:00:00"),
            MappedLocalTime::Single(hours(2))
        );
        assert_eq!(
            offsets("2026-10-25 02:30:00"),
            MappedLocalTime::Ambiguous(hours(2), hours(1))
        );
        assert_eq!(
            offsets("2026-10-25 03:00:00"),
            MappedLocalTime::Single(hours(1))
        );
    }

    #[test]
    fn a_zone_is_read_once_and_stays_equal_to_itself() {
        let first: Zone = "America/New_York".parse().unwrap();
        let again: Zone = "America/New_York".parse().unwrap();
        assert_eq!(first, again);
        assert!(matches!((first, again), (Zone::Named(a), Zone::Named(b)) if std::ptr::eq(a, b)));
        assert_ne!(first, "Europe/Berlin".parse::<Zone>().unwrap());
        assert_ne!(first, Zone::Local);
        assert_eq!(first.to_string(), "America/New_York");
    }

    #[test]
    fn unknown_zone_is_explained() {
        let err = "Europe/Berln".parse::<Zone>().unwrap_err().to_string();
        assert!(
            err.contains("unknown time zone \"Europe/Berln\" (not in "),
            "{err}"
        );
        assert!(
            err.contains("expected an IANA name such as Europe/Berlin"),
            "{err}"
        );
    }

    #[test]
    fn a_path_is_not_a_zone_name() {
        for name in [
            "../../etc/passwd",
            "/etc/localtime",
            "Europe//Berlin",
            "Europe/.hidden",
            "",
        ] {
            let err = name.parse::<Zone>().unwrap_err().to_string();
            assert!(err.contains("(not a zone name;"), "{name}: {err}");
        }
    }

    #[test]
    fn a_file_that_is_not_a_zone_is_said_to_be_one() {
        // zone1970.tab sits in the database's folder but is a table, not a TZif file.
        let err = "zone1970.tab".parse::<Zone>().unwrap_err().to_string();
        assert!(
            err.contains("zone1970.tab is not a time zone file"),
            "{err}"
        );
    }
}
