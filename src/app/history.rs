//! `reporter history`: the recorded runs, newest first, as a table or JSON.

use std::fmt::Write as _;

use anyhow::Context as _;
use serde::Serialize;

use crate::cli::HistoryArgs;
use crate::config::Config;
use crate::exit;
use crate::history::RunStatus;
use crate::log;
use crate::report::{Summary, Trigger};
use crate::run::load;
use crate::stdout;

use super::needs::Secured;

/// One run in `history --json` (reporter(1)).
#[derive(Serialize)]
struct HistoryEntry {
    run_id: String,
    job: String,
    trigger: Trigger,
    started_at: String,
    finished_at: String,
    status: &'static str,
    /// `null` for a fire time that was skipped because the job was still running.
    summary: Option<Summary>,
    sent: bool,
    /// Why the report was not mailed (its send rule), or why the run was skipped.
    reason: Option<String>,
    /// The silence (`ID: reason`) or maintenance window (`maintenance: NAME`) the run was in.
    silenced: Option<String>,
}

/// `reporter history`: the recorded runs, newest first.
pub fn history(args: HistoryArgs, setup: Secured) -> anyhow::Result<i32> {
    let entries = entries(&setup.config, &args)?;
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&entries).expect("history entries serialize");
        text.push('\n');
        text
    } else {
        table(&entries, setup.invocation.color)
    };
    stdout::print(text).context("cannot write the history")?;
    Ok(exit::OK)
}

/// The runs `args` asks for, newest first; an error when the history is off, or when the
/// job it names has neither runs nor a job file.
fn entries(config: &Config, args: &HistoryArgs) -> anyhow::Result<Vec<HistoryEntry>> {
    let Some(store) = load::history_store(config) else {
        anyhow::bail!(
            "the run history is off (`history_days: 0` in `{}`)",
            config.display_path().display()
        );
    };
    let runs = store.runs(args.job.as_deref(), args.limit as usize)?;
    // A job that no longer exists still has its history; a name that never had either is
    // most likely mistyped.
    if let Some(name) = &args.job
        && runs.is_empty()
        && let Some(unknown) = load::unknown_job(config, name)
    {
        anyhow::bail!("{unknown}");
    }
    Ok(runs
        .into_iter()
        .map(|run| HistoryEntry {
            run_id: run.run_id,
            job: run.job,
            trigger: run.trigger,
            started_at: config.timezone.rfc3339(run.started_at),
            finished_at: config.timezone.rfc3339(run.finished_at),
            status: run.status.as_str(),
            summary: (run.status != RunStatus::Skipped).then_some(run.summary),
            sent: run.sent,
            reason: run.reason.or(run.note),
            silenced: run.silenced,
        })
        .collect())
}

/// The runs as a table, their statuses coloured with `color`.
fn table(entries: &[HistoryEntry], color: bool) -> String {
    let width = entries
        .iter()
        .map(|e| e.job.len())
        .max()
        .unwrap_or(0)
        .max(3);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:25}  {:width$}  {:7}  {:7}  {:>7}  {:>9}  SENT",
        "STARTED", "JOB", "TRIGGER", "STATUS", "RESULTS", "DURATION"
    );
    for e in entries {
        let (results, duration) = match &e.summary {
            Some(s) => (
                format!("{}/{}", s.ok, s.total),
                format!("{} ms", s.duration_ms),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let _ = writeln!(
            text,
            "{:25}  {:width$}  {:7}  {}  {:>7}  {:>9}  {}",
            e.started_at,
            e.job,
            e.trigger.as_str(),
            log::status(e.status, 7, color),
            results,
            duration,
            match (&e.reason, e.sent) {
                (_, true) => "yes".to_owned(),
                (Some(reason), false) => format!("no: {reason}"),
                (None, false) => "no".to_owned(),
            }
        );
    }
    text
}
