//! What reporter tells besides the mail (docs/monitoring.md): a dead man's switch [`ping`], the
//! [`webhook`]s a job's outcome is posted to (through the spool, like the mail), the
//! Prometheus [`metrics`] file, and the run's [`outcome`] as JSON (`run --json`, and the
//! built-in webhook body). It sits beside `mail/` and `history/`: `run/` calls it, and it
//! uses only the floors below (and the spool and the history beside it).

pub mod metrics;
pub mod outcome;
pub mod ping;
pub mod webhook;
