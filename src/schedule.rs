//! `schedule:` values: the cron.* periods and cron expressions.

use std::fmt;
use std::str::FromStr;

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

/// A job's schedule as written, checked for shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    period: Option<Period>,
}

impl Schedule {
    /// The cron.* period this schedule is, for `run --schedule` selection.
    pub fn period(&self) -> Option<Period> {
        self.period
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Schedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let period = match text {
            "hourly" | "@hourly" => Some(Period::Hourly),
            "daily" | "@daily" | "@midnight" => Some(Period::Daily),
            "weekly" | "@weekly" => Some(Period::Weekly),
            "monthly" | "@monthly" => Some(Period::Monthly),
            "@yearly" | "@annually" => None,
            _ if text.starts_with('@') => {
                return Err(format!(
                    "unknown schedule {text:?} (expected hourly, daily, weekly, monthly, @yearly or a cron expression)"
                ));
            }
            _ => {
                check_cron_shape(text)?;
                None
            }
        };
        Ok(Schedule {
            text: text.to_owned(),
            period,
        })
    }
}

const FIELDS_5: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
const FIELDS_6: [&str; 6] = [
    "second",
    "minute",
    "hour",
    "day-of-month",
    "month",
    "day-of-week",
];

fn check_cron_shape(text: &str) -> Result<(), String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let names: &[&str] = match fields.len() {
        5 => &FIELDS_5,
        6 => &FIELDS_6,
        n => {
            return Err(format!(
                "invalid schedule {text:?}: {n} fields (expected 5: minute hour day-of-month month day-of-week, or 6 with leading seconds, or hourly/daily/weekly/monthly)"
            ));
        }
    };
    for (field, name) in fields.iter().zip(names) {
        if !field
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '?' | '/' | ',' | '-'))
        {
            return Err(format!(
                "invalid schedule {text:?}: bad {name} field {field:?}"
            ));
        }
    }
    Ok(())
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

crate::units::deserialize_via_from_str!(Schedule);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_aliases() {
        assert_eq!(
            "daily".parse::<Schedule>().unwrap().period(),
            Some(Period::Daily)
        );
        assert_eq!(
            "@daily".parse::<Schedule>().unwrap().period(),
            Some(Period::Daily)
        );
        assert_eq!("0 3 * * *".parse::<Schedule>().unwrap().period(), None);
    }

    #[test]
    fn shape_errors_name_the_field() {
        let err = "0 3 * *".parse::<Schedule>().unwrap_err();
        assert!(err.contains("4 fields"), "{err}");
        let err = "0 3 * * M@N".parse::<Schedule>().unwrap_err();
        assert!(err.contains("day-of-week"), "{err}");
        assert!("@fortnightly".parse::<Schedule>().is_err());
    }
}
