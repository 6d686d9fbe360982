//! End-to-end tests: the real binary, real child processes, a real SMTP server on loopback.

mod support;

mod config_errors;
mod hardening;
mod hosts;
mod pipeline;
mod security;
mod spool;
mod transports;
