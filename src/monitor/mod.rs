//! What reporter tells besides the mail (docs/monitoring.md): a dead man's switch [`ping`], the
//! [`webhook`]s a job's outcome is posted to (through the spool, like the mail), the
//! Prometheus [`metrics`] file, the run's [`outcome`] as JSON (`run --json`, and the
//! built-in webhook body), and every job's [`status`] at a glance (`reporter status`, the
//! status page). `run/` calls it; it spools webhooks through `deliver/` and reads
//! `history/`, both on the floors below.

pub mod metrics;
pub mod outcome;
pub mod ping;
pub mod status;
pub mod webhook;
