//! Delivery: every message and webhook is written to the [`spool`] first, then handed to
//! the relay through a [`transport`] (mail) or posted ([`webhook`]); the [`mailer`] retries
//! what waits and buries what never will be delivered (docs/failure-handling.md).

pub mod mailer;
pub mod spool;
pub mod stop;
pub mod transport;
pub mod webhook;

pub use mailer::{FlushReport, Mailer};
pub use stop::{Stop, StopSender};
pub use transport::error::DeliveryError;
