//! `reporter list`: the jobs with their schedule, next run and last recorded status.

use std::fmt::Write as _;

use anyhow::Context as _;
use serde::Serialize;

use crate::cli::ListArgs;
use crate::config::{Config, Job, job};
use crate::exit;
use crate::history::silenced::Silenced;
use crate::log;
use crate::run::load;
use crate::stdout;

use super::needs::{Inventoried, Secured};

#[derive(Serialize)]
struct ListEntry {
    name: String,
    description: Option<String>,
    schedule: Option<String>,
    /// `false`: never fired, left out of `--all` and `--schedule`.
    enabled: bool,
    next_run: Option<String>,
    last_status: Option<String>,
    /// When the silence or maintenance window the job is in ends (docs/silences.md).
    silenced_until: Option<String>,
}

/// `reporter list`: each job with its schedule, next run and last status, as a table or
/// JSON. A job may name the inventory's host groups, so it starts from them. Exit 2 when
/// a job file is broken (reported, and left out) or the inventory failed.
pub fn list(args: ListArgs, setup: Inventoried) -> anyhow::Result<i32> {
    let config = &setup.config;
    let mut errors: Vec<_> = config.inventory_problem.iter().cloned().collect();
    let (jobs, mut broken) = job::load_all(&config.jobs_dir, config);
    errors.append(&mut broken);
    log::problems(&errors);
    let entries = entries(config, &jobs);
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&entries).expect("list entries serialize");
        text.push('\n');
        text
    } else {
        let mut text = table(&entries, setup.invocation.color);
        text.push_str(&windows(config));
        text
    };
    stdout::print(text).context("cannot write the list")?;
    Ok(if errors.is_empty() {
        exit::OK
    } else {
        exit::USAGE
    })
}

/// `reporter list --names`: the job names, one per line, from the file names alone. It
/// runs on every completion of a job argument, so it reads no job file and needs no host
/// group: the inventory never runs for it.
pub fn names((): (), setup: Secured) -> anyhow::Result<i32> {
    let mut text = String::new();
    for path in job::job_files(&setup.config.jobs_dir, &mut Vec::new()) {
        if let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(job::job_name)
        {
            text.push_str(name);
            text.push('\n');
        }
    }
    stdout::print(text).context("cannot write the job names")?;
    Ok(exit::OK)
}

/// Each of `jobs` with its next run on this host and its last recorded status.
fn entries(config: &Config, jobs: &[Job]) -> Vec<ListEntry> {
    let now = chrono::Utc::now();
    let hostname = crate::report::facts::hostname();
    let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
    let last = load::history_store(config)
        .map(|history| {
            history.last_statuses(&names).unwrap_or_else(|e| {
                tracing::warn!("{e}");
                Default::default()
            })
        })
        .unwrap_or_default();
    let silenced = Silenced::at(config, None, now);
    // A job without a schedule is only run by hand: its `random_delay` shifts nothing.
    for job in jobs
        .iter()
        .filter(|job| job.schedule.is_some() && !job.random_delay.is_zero())
    {
        tracing::info!(
            "{}: {}",
            job.name,
            crate::schedule::delay::describe(job.delay_on(&hostname), job.random_delay, &hostname)
        );
    }
    jobs.iter()
        .map(|job| ListEntry {
            name: job.name.clone(),
            description: job.description.clone(),
            schedule: job.schedule.as_ref().map(ToString::to_string),
            enabled: job.enabled,
            // With its `random_delay` offset on this host, as the daemon fires it.
            next_run: job
                .next_run(now, config.timezone, &hostname)
                .filter(|_| job.enabled)
                .map(|t| config.timezone.rfc3339(t)),
            last_status: last.get(&job.name).map(|status| status.as_str().to_owned()),
            silenced_until: silenced
                .of_job(&job.name)
                .map(|quiet| config.timezone.rfc3339(quiet.until)),
        })
        .collect()
}

/// The jobs as a table, their last statuses coloured with `color`.
fn table(entries: &[ListEntry], color: bool) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let width = entries
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let schedule_width = entries
        .iter()
        .map(|e| dash(&e.schedule).len())
        .max()
        .unwrap_or(0)
        .max(8);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:width$}  {:schedule_width$}  {:25}  {:11}  DESCRIPTION",
        "NAME", "SCHEDULE", "NEXT RUN", "LAST STATUS"
    );
    for e in entries {
        let _ = writeln!(
            text,
            "{:width$}  {:schedule_width$}  {:25}  {}  {}",
            e.name,
            dash(&e.schedule),
            if e.enabled {
                dash(&e.next_run)
            } else {
                "disabled".to_owned()
            },
            log::status(&dash(&e.last_status), 11, color),
            match &e.silenced_until {
                Some(until) => format!(
                    "[silenced until {until}] {}",
                    e.description.as_deref().unwrap_or("")
                ),
                None => e.description.clone().unwrap_or_default(),
            }
        );
    }
    text
}

/// The config's maintenance windows, each with its opening now or next; nothing without.
fn windows(config: &Config) -> String {
    let now = chrono::Utc::now();
    let zone = config.timezone;
    let mut text = String::new();
    for window in &config.maintenance {
        if text.is_empty() {
            text.push_str("\nMAINTENANCE WINDOWS\n");
        }
        let jobs = window
            .jobs
            .as_ref()
            .map_or_else(|| "every job".to_owned(), |jobs| jobs.join(", "));
        let when = match window.current_or_next(now, zone) {
            Some((from, until)) if from <= now => format!("open until {}", zone.rfc3339(until)),
            Some((from, _)) => format!("next {}", zone.rfc3339(from)),
            None => "never opens".to_owned(),
        };
        let _ = writeln!(
            text,
            "{}: `{}` for {}, {jobs}; {when}",
            window.name,
            window.schedule,
            crate::config::units::HumanDuration(window.duration)
        );
    }
    text
}
