//! The files reporter keeps: how they are written so that a crash or a concurrent reader
//! never sees half of one, and private to the user reporter runs as.

pub mod atomic;
pub mod private;

pub use atomic::write_atomic;
pub use private::Access;
