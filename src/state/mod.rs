//! The files reporter keeps: how they are written so that a crash or a concurrent reader
//! never sees half of one, private to the user reporter runs as, and the state folder
//! that holds them refused when root cannot trust it.

pub mod atomic;
pub mod dir;
pub mod jobs;
pub mod outside;
pub mod private;

pub use atomic::write_atomic;
pub use private::Access;
