//! reporter: runs sysadmin report jobs described in YAML, renders their results with
//! Handlebars and mails them through the local relay.
//!
//! Data flows one way: config and job files → validated [`job::Job`]s → tasks in the
//! [`pool`] → [`report`] context → rendered [`mail`] → [`transport`].

pub mod address;
pub mod app;
pub mod attachments;
pub mod cli;
pub mod command;
pub mod compose;
pub mod config;
pub mod daemon;
pub mod digest;
pub mod error;
pub mod exit;
pub mod facts;
pub mod helpers;
pub mod history;
pub mod hosts;
pub mod job;
pub mod lock;
pub mod log;
pub mod mail;
pub mod mailer;
pub mod output;
pub mod plan;
pub mod pool;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod security;
pub mod send;
pub mod smtp;
pub mod spool;
pub mod template;
pub mod timezone;
pub mod transport;
pub mod units;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

/// Runs the command line `args` (argv[0] first) and returns the exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    let argv0 = args.first().map(PathBuf::from);
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    // The daemon logs each event with a timestamp by default; -v adds detail.
    let daemon = matches!(cli.command, Some(cli::Command::Daemon(_)));
    // Its log usually ends up in a file or the journal: colour only when asked for.
    let color = match cli.color {
        log::ColorChoice::Auto if daemon => log::ColorChoice::Never,
        choice => choice,
    };
    log::init(cli.verbose + u8::from(daemon), cli.quiet, daemon, color);
    app::main(cli, argv0.as_deref())
}
