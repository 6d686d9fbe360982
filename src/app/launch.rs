//! `reporter run` and `reporter preview`: what the command line asks for, its selection
//! resolved into jobs, and one run of them launched; `run --json` prints how it went.

use crate::cli::{PreviewArgs, RunArgs, SelectionArgs};
use crate::config::Config;
use crate::exit;
use crate::log;
use crate::monitor::outcome::RunOutcome;
use crate::report::Trigger;
use crate::run::load::{self, Pick, Resolved, Selection};
use crate::run::{self, Mode, Outcome, Ran, Reports, RunOptions};
use crate::stdout;

use super::needs::Inventoried;

/// What `run` or `preview` asks for.
struct Request {
    selection: Selection,
    mode: Mode,
    reports: Reports,
    /// What started the run: a `--schedule` is cron's.
    trigger: Trigger,
    /// `--json`: the outcome printed on stdout as well (docs/monitoring.md).
    outcome: Outcome,
    /// `--jobs`: commands at once, instead of the config's `pool_size`.
    pool_size: Option<u16>,
}

/// `reporter run`: the selected jobs run, their reports mailed.
pub fn run(args: RunArgs, setup: Inventoried) -> anyhow::Result<i32> {
    let trigger = if args.selection.schedule.is_some() {
        Trigger::Cron
    } else {
        Trigger::Manual
    };
    let request = Request {
        pool_size: args.selection.pool_size,
        selection: selection(args.selection, args.to),
        mode: Mode::Send,
        reports: reports(args.digest),
        trigger,
        outcome: if args.json {
            Outcome::Json
        } else {
            Outcome::Code
        },
    };
    Ok(launch(setup.config, request))
}

/// `reporter preview`: the selected jobs run, their messages printed and nothing sent.
pub fn preview(args: PreviewArgs, setup: Inventoried) -> anyhow::Result<i32> {
    let request = Request {
        pool_size: args.selection.pool_size,
        selection: selection(args.selection, Vec::new()),
        mode: if args.html { Mode::Html } else { Mode::Mbox },
        reports: reports(args.digest),
        trigger: Trigger::Manual,
        outcome: Outcome::Code,
    };
    Ok(launch(setup.config, request))
}

/// Runs what `request` asks for; the exit code. A command line that names no job, a path
/// or an unknown host group runs nothing; other problems are reported, and mailed by a
/// sending run, while the rest of the jobs run.
fn launch(config: Config, request: Request) -> i32 {
    let Resolved { workload, to } = match request.selection.resolve(&config, request.reports) {
        Ok(resolved) => resolved,
        Err(refusal) => {
            refusal.report();
            return exit::USAGE;
        }
    };
    log::problems(&workload.problems);
    let options = RunOptions {
        mode: request.mode,
        reports: request.reports,
        to,
        trigger: request.trigger,
        problems: match request.mode {
            Mode::Send => workload.problems.clone(),
            Mode::Mbox | Mode::Html => Vec::new(),
        },
        history: load::history_store(&config),
        outcome: request.outcome,
    };
    let pool_size = request.pool_size.map_or(config.pool_size, usize::from);
    let mut ran = run::execute_blocking(
        &config,
        &workload.templates,
        workload.jobs,
        &options,
        pool_size,
    );
    ran.tally.config_error |= !workload.problems.is_empty();
    let code = ran.tally.code();
    if request.outcome == Outcome::Json {
        print_outcome(ran, code);
    }
    code
}

/// The jobs, hosts and recipients the command line names.
fn selection(args: SelectionArgs, to: Vec<String>) -> Selection {
    let pick = match (args.schedule, args.all) {
        (Some(period), _) => Pick::Period(period),
        (None, true) => Pick::All,
        (None, false) => Pick::Names(args.jobs),
    };
    Selection {
        pick,
        hosts: args.hosts,
        to,
    }
}

fn reports(digest: bool) -> Reports {
    if digest {
        Reports::Digest
    } else {
        Reports::Each
    }
}

/// `run --json`: how the run went, as one JSON object on stdout. A failure to print it is
/// reported and leaves the exit code as it is.
fn print_outcome(ran: Ran, code: i32) {
    let outcome = RunOutcome {
        run_id: ran.run_id,
        exit_code: code,
        jobs: ran.jobs,
    };
    let printed = serde_json::to_vec(&outcome).map(|mut text| {
        text.push(b'\n');
        text
    });
    if let Err(e) = printed
        .map_err(std::io::Error::other)
        .and_then(stdout::print)
    {
        tracing::error!("cannot write the JSON outcome: {e}");
    }
}
