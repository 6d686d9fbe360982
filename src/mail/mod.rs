//! Mail: a report composed into its messages (one per job, a digest, the problems report),
//! fitted under the size limit, and delivered spool-first through the configured transport.

pub mod compose;
pub mod digest;
pub mod fit;
pub mod mailer;
pub mod message;
pub mod problems;
pub mod spool;
pub mod transport;
pub mod webhook;

pub use compose::{Composed, Composer, Composition};
pub use mailer::{FlushReport, Mailer};
pub use transport::error::DeliveryError;
