//! The subcommands: the command line dispatched to what each one does. Every subcommand
//! is a function of its arguments and of what it starts from ([`needs`]), which decides
//! whether the configuration is loaded first; every one ends in an exit code.

pub mod check;
pub mod completions;
pub mod flush;
pub mod history;
pub mod launch;
pub mod list;
pub mod man;
pub mod needs;
pub mod silence;
pub mod status;

use std::path::Path;

use clap::CommandFactory;

use crate::cli::{Cli, Command, DaemonArgs, RunArgs, SelectionArgs};
use crate::exit;
use crate::schedule::Period;
use needs::{Invocation, Needs};

/// Runs the parsed command line; `argv0` tells a copy in `/etc/cron.daily` (and friends)
/// apart. Returns the exit code.
pub fn dispatch(cli: Cli, argv0: Option<&Path>) -> i32 {
    let invocation = Invocation::new(&cli, argv0);
    let Some(command) = cli.command.or_else(|| cron_command(argv0)) else {
        let _ = Cli::command().print_help();
        return exit::USAGE;
    };
    match command {
        Command::Run(args) => call(launch::run, args, invocation),
        Command::Preview(args) => call(launch::preview, args, invocation),
        Command::List(args) if args.names => call(list::names, (), invocation),
        Command::List(args) => call(list::list, args, invocation),
        Command::Check => call(check::check, (), invocation),
        Command::Flush => call(flush::flush, (), invocation),
        Command::History(args) => call(history::history, args, invocation),
        Command::Status(args) => call(status::status, args, invocation),
        Command::Daemon(args) => call(daemon, args, invocation),
        Command::Silence(args) if args.list => call(silence::list, args, invocation),
        Command::Silence(args) => call(silence::silence, args, invocation),
        Command::Unsilence(args) => call(silence::unsilence, args, invocation),
        Command::Completions { shell } => call(completions::completions, shell, invocation),
        Command::Man { page } => call(man::man, page, invocation),
    }
}

/// Calls `subcommand` with `args` once what it needs is gathered; its exit code.
fn call<A, N: Needs>(
    subcommand: fn(A, N) -> anyhow::Result<i32>,
    args: A,
    invocation: Invocation,
) -> i32 {
    match N::gather(invocation) {
        Some(needs) => reported(subcommand(args, needs)),
        None => exit::USAGE,
    }
}

/// `reporter daemon`: it loads (and reloads) the configuration itself.
fn daemon(args: DaemonArgs, invocation: Invocation) -> anyhow::Result<i32> {
    Ok(crate::daemon::main(invocation.config.as_deref(), args))
}

/// With no command, a copy of the binary in a `cron.*` folder runs that period's jobs.
fn cron_command(argv0: Option<&Path>) -> Option<Command> {
    let folder = argv0?.parent()?.file_name()?.to_str()?;
    let period = Period::from_cron_folder(folder)?;
    Some(Command::Run(RunArgs {
        selection: SelectionArgs {
            jobs: Vec::new(),
            all: false,
            schedule: Some(period),
            hosts: None,
            pool_size: None,
        },
        to: Vec::new(),
        digest: false,
        json: false,
    }))
}

/// The exit code of a subcommand whose fatal error is only reported: printed once, with
/// what caused it, and exit 2.
fn reported(result: anyhow::Result<i32>) -> i32 {
    result.unwrap_or_else(|e| {
        // Errors whose message already names their cause are not repeated.
        let mut message = e.to_string();
        for cause in e.chain().skip(1).map(ToString::to_string) {
            if !message.contains(&cause) {
                message = format!("{message}: {cause}");
            }
        }
        tracing::error!("{message}");
        exit::USAGE
    })
}
