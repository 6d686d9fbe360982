//! Child processes: one command spawned in a session of its own, supervised and killed
//! with its process tree, what it inherits of reporter's descriptors, its output captured
//! within a cap, many of them through a bounded pool, one run of a
//! job at a time across processes, the account they run as, and retries of a command
//! whose result is not ok.

pub mod capture;
pub mod command;
pub mod descriptors;
pub mod lock;
pub mod master;
pub mod pool;
pub mod retry;
pub mod run_as;
pub mod runtime;
pub mod spawn;
pub mod tree;

pub use command::{BudgetCut, CommandSpec, Exit, Outcome};
pub use pool::Pool;
pub use runtime::runtime;
