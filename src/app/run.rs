//! `reporter run` and `reporter preview`: the selection on the command line loaded, its
//! problems reported, and the jobs handed to a run.

use std::path::Path;

use crate::cli::Selection;
use crate::config::address::{AddressError, AddressSpec};
use crate::config::hosts;
use crate::config::{Config, ConfigError};
use crate::exit;
use crate::log;
use crate::monitor::outcome::RunOutcome;
use crate::output;
use crate::report::Trigger;
use crate::run::load::{self, Pick, Workload};
use crate::run::{self, Mode, Outcome, Reports, RunOptions};

/// Where problems with the command line itself are said to be.
const COMMAND_LINE: &str = "(command line)";

/// Runs the jobs `selection` names in `mode`; `to` is `--to`; `json`: print the run's
/// outcome as one JSON object on stdout (docs/monitoring.md).
pub fn run(
    config: &Config,
    selection: &Selection,
    to: &[String],
    mode: Mode,
    digest: bool,
    trigger: Trigger,
    json: bool,
) -> i32 {
    let Some(pick) = pick(selection) else {
        tracing::error!("name the jobs to run, or use --all or --schedule PERIOD");
        return exit::USAGE;
    };
    let not_names: Vec<ConfigError> = selection
        .jobs
        .iter()
        .filter(|name| !hosts::is_name(name))
        .map(|name| not_a_name(name))
        .collect();
    if !not_names.is_empty() {
        // A path could lead outside `jobs_dir`: nothing of such a command line runs.
        log::problems(&not_names);
        return exit::USAGE;
    }
    let mut errors = Vec::new();
    let to: Vec<AddressSpec> = to
        .iter()
        .filter_map(|a| {
            a.parse()
                .map_err(|e: AddressError| {
                    errors.push(ConfigError::at_key(
                        Path::new(COMMAND_LINE),
                        "--to",
                        e.to_string(),
                    ))
                })
                .ok()
        })
        .collect();
    errors.extend(load::password_problem(config));
    let mut unknown_groups = Vec::new();
    let hosts = selection.hosts.as_ref().map(|hosts| {
        hosts::expand_groups(hosts, &config.host_groups, |_, group| {
            unknown_groups.push(ConfigError::at_key(
                Path::new(COMMAND_LINE),
                "--hosts",
                format!(
                    "unknown host group `@{group}` (not in the config's host_groups or inventory)"
                ),
            ));
        })
    });
    if !unknown_groups.is_empty() {
        // A one-off run on the wrong hosts is worse than none.
        log::problems(&unknown_groups);
        return exit::USAGE;
    }
    let Workload {
        mut jobs,
        templates,
        mut problems,
    } = Workload::pick(config, &pick, digest);
    errors.append(&mut problems);
    if let Some(hosts) = hosts {
        for job in &mut jobs {
            job.hosts.clone_from(&hosts);
        }
    }
    log::problems(&errors);
    let options = RunOptions {
        mode,
        reports: if digest {
            Reports::Digest
        } else {
            Reports::Each
        },
        to,
        trigger,
        problems: if mode == Mode::Send {
            errors.clone()
        } else {
            Vec::new()
        },
        history: load::history_store(config),
        outcome: if json { Outcome::Json } else { Outcome::Code },
    };
    let pool_size = selection.pool_size.map_or(config.pool_size, usize::from);
    let mut ran = run::execute_blocking(config, &templates, jobs, &options, pool_size);
    ran.tally.config_error |= !errors.is_empty();
    let code = ran.tally.code();
    if json {
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
            .and_then(output::print)
        {
            tracing::error!("cannot write the JSON outcome: {e}");
        }
    }
    code
}

/// A job argument that is not a job name (reporter(1): names, never paths).
fn not_a_name(argument: &str) -> ConfigError {
    let mut message = format!(
        "`{argument}` is not a job name: a job is named by its file stem in `jobs_dir` \
         (letters, digits, `-` and `_`), never by a path"
    );
    if let Some(stem) = [".yaml", ".yml"]
        .iter()
        .find_map(|ext| argument.strip_suffix(ext))
        .filter(|stem| hosts::is_name(stem))
    {
        message.push_str(&format!(" (did you mean `{stem}`?)"));
    }
    ConfigError::new(Path::new(COMMAND_LINE), message)
}

/// Which jobs the command line names; `None` when it names none.
fn pick(selection: &Selection) -> Option<Pick> {
    if let Some(period) = selection.schedule {
        Some(Pick::Period(period))
    } else if selection.all {
        Some(Pick::All)
    } else if !selection.jobs.is_empty() {
        Some(Pick::Names(selection.jobs.clone()))
    } else {
        None
    }
}
