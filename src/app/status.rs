//! `reporter status`: every job at a glance, as a table, as JSON or as the status page
//! (docs/status.md).

use anyhow::Context as _;

use crate::cli::StatusArgs;
use crate::exit;
use crate::history::overview::Detail;
use crate::log;
use crate::monitor::status::{self, Selection, page, table};
use crate::run::load;
use crate::stdout;

use super::needs::Inventoried;

/// `reporter status [JOB...]`: the table, `--json` or the page `--html FILE`. A job may
/// name the inventory's host groups, so it starts from them. Exit 2 when a job file is
/// broken (reported; its history is still shown) or a name is no job.
pub fn status(args: StatusArgs, setup: Inventoried) -> anyhow::Result<i32> {
    let config = &setup.config;
    let history = load::history_store(config);
    let selection = Selection {
        names: &args.jobs,
        detail: if args.html.is_some() {
            Detail::Full
        } else {
            Detail::Runs
        },
    };
    let (host, mut problems) = status::gather(config, history.as_ref(), &selection)?;
    problems.extend(config.inventory_problem.iter().cloned());
    log::problems(&problems);
    if let Some(path) = &args.html {
        page::write(path, &page::render(&host))
            .with_context(|| format!("cannot write the status page `{}`", path.display()))?;
    } else if args.json {
        let mut text = serde_json::to_string_pretty(&host).expect("a status serializes");
        text.push('\n');
        stdout::print(text).context("cannot write the status")?;
    } else {
        let text = table::render(&host.jobs, setup.invocation.color);
        stdout::print(text).context("cannot write the status")?;
    }
    Ok(if problems.is_empty() {
        exit::OK
    } else {
        exit::USAGE
    })
}
