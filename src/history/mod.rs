//! The run history in `state_dir/history.sqlite3`: the store, its schema, what a recorded
//! run holds, the runs waiting to be recorded, and how a new run compares with the last
//! one (changes, send rules).

pub mod compare;
pub mod pending;
pub mod record;
pub mod schema;
pub mod store;

pub use compare::Decision;
pub use record::{Recent, RunRecord, RunStatus};
pub use store::{History, HistoryError, JobGauges, ValueGauge};
