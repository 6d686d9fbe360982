//! Time: `schedule:` values (cron.* periods and crontab expressions), when they fire in
//! the configured time zone, and the daylight-saving gaps that zone has.
//!
//! The bottom of the house: job files are checked against these types when they load.

pub mod cron;
pub mod delay;
pub mod dst;
pub mod expression;
pub mod zone;

pub use cron::CronError;
pub use dst::{GapRun, Gaps};
pub use expression::{Period, Schedule, ScheduleError};
pub use zone::{UnknownZone, Zone};
