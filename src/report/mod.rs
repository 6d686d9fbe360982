//! A job's report as data: each result's status, the results and their summary, the
//! facts about this machine, and the template context that holds them all.

pub mod context;
pub mod expect;
pub mod facts;
pub mod forecast;
pub mod format;
pub mod result;
pub mod status;
pub mod structured;
pub mod values;

pub use context::{Context, DiskSample, JobInfo, PreviousResult, RunInfo, Trigger};
pub use facts::{Facts, Scope};
pub use result::{HostReport, Placement, ResultCore, Summary, TaskResult};
pub use status::Status;
