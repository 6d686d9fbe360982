//! `reporter status`: every job at a glance, as a table, as JSON or as the status page, for
//! this host or, with `--hosts`, for a fleet (docs/status.md).

use anyhow::Context as _;

use crate::cli::StatusArgs;
use crate::config::hosts::HostSpec;
use crate::exit;
use crate::history::overview::Detail;
use crate::log;
use crate::monitor::status::{self, Selection, page, table};
use crate::run::{fleet, load};
use crate::stdout;

use super::needs::Inventoried;

/// `reporter status [JOB...]`: the table, `--json` or the page `--html FILE`; with
/// `--hosts`, the same for every host asked. A job may name the inventory's host groups,
/// and `--hosts` may, so it starts from them. Exit 2 when a job file is broken (reported;
/// its history is still shown), a name is no job, or a host group does not exist.
pub fn status(args: StatusArgs, setup: Inventoried) -> anyhow::Result<i32> {
    let detail = if args.html.is_some() {
        Detail::Full
    } else {
        Detail::Runs
    };
    if let Some(hosts) = &args.hosts {
        return fleet_status(&args, hosts, detail, &setup);
    }
    let config = &setup.config;
    let history = load::history_store(config);
    let selection = Selection {
        names: &args.jobs,
        detail,
    };
    let (host, mut problems) = status::gather(config, history.as_ref(), &selection)?;
    problems.extend(config.inventory_problem.iter().cloned());
    log::problems(&problems);
    let shown = Shown {
        html: || page::render(&host),
        json: || {
            let mut text = serde_json::to_string_pretty(&host).expect("a status serializes");
            text.push('\n');
            text
        },
        table: || table::render(&host.jobs, setup.invocation.color),
    };
    show(&args, shown)?;
    Ok(if problems.is_empty() {
        exit::OK
    } else {
        exit::USAGE
    })
}

/// `status --hosts`: the fleet's matrix and each host's status. A host that cannot be
/// asked is a row saying so; only a group that does not exist stops it (exit 2).
fn fleet_status(
    args: &StatusArgs,
    hosts: &[HostSpec],
    detail: Detail,
    setup: &Inventoried,
) -> anyhow::Result<i32> {
    let config = &setup.config;
    if let Some(problem) = &config.inventory_problem {
        log::problems(std::slice::from_ref(problem));
    }
    let hosts = match load::expand_hosts(hosts, config) {
        Ok(hosts) => hosts,
        Err(problems) => {
            log::problems(&problems);
            return Ok(exit::USAGE);
        }
    };
    let asked = fleet::Asked {
        hosts: &hosts,
        jobs: &args.jobs,
        detail,
    };
    let fleet = fleet::ask(config, &asked).context("cannot start the runtime")?;
    let shown = Shown {
        html: || fleet.page(),
        json: || fleet.json(),
        table: || fleet.table(setup.invocation.color),
    };
    show(args, shown)?;
    Ok(exit::OK)
}

/// The three ways a status is shown, made only when asked for.
struct Shown<H, J, T> {
    html: H,
    json: J,
    table: T,
}

/// Writes the page to `--html`'s file, or prints the JSON or the table.
fn show<H, J, T>(args: &StatusArgs, shown: Shown<H, J, T>) -> anyhow::Result<()>
where
    H: FnOnce() -> String,
    J: FnOnce() -> String,
    T: FnOnce() -> String,
{
    if let Some(path) = &args.html {
        page::write(path, &(shown.html)())
            .with_context(|| format!("cannot write the status page `{}`", path.display()))?;
    } else if args.json {
        stdout::print((shown.json)()).context("cannot write the status")?;
    } else {
        stdout::print((shown.table)()).context("cannot write the status")?;
    }
    Ok(())
}
