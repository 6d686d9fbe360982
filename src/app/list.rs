//! `reporter list`: the jobs with their schedule, next run and last recorded status.

use std::fmt::Write as _;

use serde::Serialize;

use crate::config::{Config, job};
use crate::exit;
use crate::log;
use crate::run::load;
use crate::stdout;

#[derive(Serialize)]
struct ListEntry {
    name: String,
    description: Option<String>,
    schedule: Option<String>,
    /// `false`: never fired, left out of `--all` and `--schedule`.
    enabled: bool,
    next_run: Option<String>,
    last_status: Option<String>,
}

/// `reporter list --names`: the job names, one per line, from the file names alone (it
/// runs on every completion of a job argument, so it reads no job file).
pub fn names(config: &Config) -> i32 {
    let mut text = String::new();
    for path in job::job_files(&config.jobs_dir, &mut Vec::new()) {
        if let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(job::job_name)
        {
            text.push_str(name);
            text.push('\n');
        }
    }
    match stdout::print(text) {
        Ok(()) => exit::OK,
        Err(e) => {
            tracing::error!("cannot write the job names: {e}");
            exit::USAGE
        }
    }
}

/// `reporter list`: each job with its schedule, next run and last status.
pub fn list(config: &Config, json: bool, color: bool) -> i32 {
    let (jobs, errors) = job::load_all(&config.jobs_dir, config);
    log::problems(&errors);
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
    for job in jobs.iter().filter(|job| !job.random_delay.is_zero()) {
        tracing::info!(
            "{}: {}",
            job.name,
            crate::schedule::delay::describe(job.delay_on(&hostname), job.random_delay, &hostname)
        );
    }
    let entries: Vec<ListEntry> = jobs
        .iter()
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
        })
        .collect();
    let mut text = String::new();
    if json {
        text = serde_json::to_string_pretty(&entries).expect("list entries serialize");
        text.push('\n');
    } else {
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
        let _ = writeln!(
            text,
            "{:width$}  {:schedule_width$}  {:25}  {:11}  DESCRIPTION",
            "NAME", "SCHEDULE", "NEXT RUN", "LAST STATUS"
        );
        for e in &entries {
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
                e.description.as_deref().unwrap_or("")
            );
        }
    }
    if let Err(e) = stdout::print(text) {
        tracing::error!("cannot write the list: {e}");
        return exit::USAGE;
    }
    if errors.is_empty() {
        exit::OK
    } else {
        exit::USAGE
    }
}
