//! The run history in `state_dir/history.sqlite3`: the store, its schema, what a recorded
//! run holds, the runs waiting to be recorded, how a new run compares with the last one
//! (changes, send rules), the silences and which jobs they keep quiet, and the overview
//! `status` reads.

pub mod alerting;
pub mod compare;
pub mod overview;
pub mod pending;
pub mod record;
pub mod schema;
pub mod silenced;
pub mod silences;
pub mod store;

pub use compare::Decision;
pub use record::{Recent, RunRecord, RunStatus};
pub use silences::{NewSilence, Silence};
pub use store::{History, HistoryError, JobGauges, ValueGauge};
