//! Mail: a report composed into its messages (one per job, a digest, the problems report)
//! and fitted under the size limit; `deliver/` takes them to the relay.

pub mod compose;
pub mod digest;
pub mod fit;
pub mod message;
pub mod problems;

pub use compose::{Composed, Composer, Composition};
