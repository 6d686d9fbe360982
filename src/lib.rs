//! reporter: runs sysadmin report jobs described in YAML, renders their results with
//! Handlebars and mails them through the local relay.
//!
//! The folders are the stages of a run, each using only the ones below it
//! (docs/ARCHITECTURE.md): [`app`] → [`daemon`] → [`run`] → [`monitor`] → [`mail`],
//! [`deliver`] → [`render`], [`history`] → [`report`] → [`exec`] → [`config`] →
//! [`schedule`], [`state`]. Data flows the same way: config and job files → validated jobs
//! → tasks in the pool → results → report context → rendered messages → the spool → the
//! relay → the history.

pub mod app;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod deliver;
pub mod exec;
pub mod exit;
pub mod history;
pub mod http;
pub mod log;
pub mod mail;
pub mod monitor;
pub mod render;
pub mod report;
pub mod run;
pub mod schedule;
pub mod state;
pub mod stdout;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

/// Invokes reporter with the command line `args` (argv[0] first), as `main` does: parses
/// it, sets up the log, dispatches to the subcommand, and returns its exit code.
pub fn invoke(args: impl IntoIterator<Item = OsString>) -> i32 {
    // Before any program is started: none gets what reporter's own parent left open.
    exec::descriptors::prepare();
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
    start_log(&cli);
    app::dispatch(cli, argv0.as_deref())
}

/// The log on stderr as the global options say.
fn start_log(cli: &cli::Cli) {
    // The daemon logs each event with a timestamp by default; -v adds detail.
    let daemon = matches!(cli.command, Some(cli::Command::Daemon(_)));
    // Its log usually ends up in a file or the journal: colour only when asked for.
    let color = match cli.color {
        log::ColorChoice::Auto if daemon => log::ColorChoice::Never,
        choice => choice,
    };
    // The config's log_format applies once the config is loaded (`log::configured`).
    log::init(
        cli.verbose + u8::from(daemon),
        cli.quiet,
        daemon,
        color,
        cli.log_format,
    );
}
