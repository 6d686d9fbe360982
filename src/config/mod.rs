//! What the user wrote, validated: `reporter.yaml` and the job files, from their raw serde
//! shapes to a [`Config`] and [`Job`]s that can only exist in a valid state, with every
//! problem located by file, line and key.

pub mod account;
pub mod address;
pub mod error;
pub mod escalation;
pub mod global;
pub mod headers;
pub mod hosts;
pub mod inventory;
pub mod job;
pub mod limits;
pub mod maintenance;
pub mod name;
pub mod raw;
pub mod shell;
pub mod trust;
pub mod units;
pub mod values;

pub use error::ConfigError;
pub use global::{Config, MailConfig, SmtpConfig, SshConfig, TransportConfig, discover};
pub use job::{CommandDef, Job, JobMail};
pub use raw::{Parse, SendRule, TlsMode};
