//! The files reporter keeps: how they are written so that a crash or a concurrent reader
//! never sees half of one.

pub mod atomic;
pub mod private;

pub use atomic::write_atomic;
