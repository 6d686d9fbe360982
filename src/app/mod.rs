//! The subcommands: the command line dispatched to what each one does, with the
//! configuration loaded for those that need it and an exit code for every outcome.

pub mod check;
pub mod completions;
pub mod flush;
pub mod history;
pub mod launch;
pub mod list;
pub mod man;

use std::path::Path;

use clap::CommandFactory;

use crate::cli::{Cli, Command, RunArgs, SelectionArgs};
use crate::config::{self, Config};
use crate::exit;
use crate::log;
use crate::schedule::Period;

/// Runs the parsed command line; `argv0` tells a copy in `/etc/cron.daily` (and friends)
/// apart. Returns the exit code.
pub fn main(cli: Cli, argv0: Option<&Path>) -> i32 {
    let Some(command) = cli.command.or_else(|| cron_command(argv0)) else {
        let _ = Cli::command().print_help();
        return exit::USAGE;
    };
    let mut config = match command {
        Command::Daemon(args) => return crate::daemon::main(cli.config.as_deref(), args),
        // Neither needs a configuration.
        Command::Completions { shell } => return reported(completions::completions(shell)),
        Command::Man { page } => return reported(man::man(page)),
        _ => match load_config(cli.config.as_deref()) {
            Some(config) => config,
            None => return exit::USAGE,
        },
    };
    // `check` reports it among the rest.
    if !matches!(command, Command::Check)
        && let Some(problem) = crate::run::load::state_dir_problem(&config)
    {
        log::problems(&[problem]);
        return exit::USAGE;
    }
    // The commands that run or check jobs need the inventory's host groups.
    if matches!(
        command,
        Command::Run(_) | Command::Preview(_) | Command::Check
    ) {
        config.load_inventory();
    }
    let color = cli.color.enabled(&std::io::stdout());
    match command {
        Command::Run(args) => launch::run(&config, args),
        Command::Preview(args) => launch::preview(&config, args),
        Command::List { names: true, .. } => list::names(&config),
        Command::List { json, .. } => list::list(&config, json, color),
        Command::Check => check::check(&config, cli.quiet, argv0),
        Command::Flush => reported(flush::flush(&config)),
        Command::History(args) => reported(history::history(&config, &args, color)),
        Command::Daemon(_) | Command::Completions { .. } | Command::Man { .. } => {
            unreachable!("handled before the configuration is loaded")
        }
    }
}

/// The configuration, or `None` once its problems are reported.
fn load_config(explicit: Option<&Path>) -> Option<Config> {
    let path = config::discover(explicit);
    let config = Config::load(path.as_deref())
        .map_err(|errors| log::problems(&errors))
        .ok()?;
    log::configured(config.log_format);
    Some(config)
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
