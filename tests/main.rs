//! End-to-end tests: the real binary, real child processes, a real SMTP server on loopback.

mod support;

mod alerts;
mod cli;
mod config_errors;
mod content;
mod daemon;
mod doc_examples;
mod file_safety;
mod fleet;
mod hardening;
mod history;
mod hosts;
mod limits;
mod logs;
mod monitoring;
mod mta;
mod pipeline;
mod privilege;
mod processes;
mod relay_faults;
mod reports;
mod schedule;
mod security;
mod silences;
mod spool;
mod state_dir;
mod status;
mod structured;
mod tls;
mod transports;
mod values;
mod waits;
mod window;
