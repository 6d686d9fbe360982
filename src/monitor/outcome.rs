//! The outcome of a run as one JSON object (docs/monitoring.md): what `run --json` prints on stdout,
//! and, job by job, the built-in body of a webhook.

use serde::Serialize;

use crate::report::{Context, Status, Summary};

/// `run --json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    pub run_id: String,
    pub exit_code: i32,
    pub jobs: Vec<JobOutcome>,
}

/// One job of a run: how it went and whether its report was mailed.
#[derive(Debug, Clone, Serialize)]
pub struct JobOutcome {
    pub job: String,
    pub status: Status,
    /// Whether the send rule let the report out and a message was composed for it
    /// (a delivery failure shows in the exit code, 75).
    pub sent: bool,
    /// Why the report was not mailed (the send rule), or `null`.
    pub reason: Option<String>,
    pub summary: Summary,
    pub results: Vec<ResultOutcome>,
}

/// One result, with its (capped) output.
#[derive(Debug, Clone, Serialize)]
pub struct ResultOutcome {
    pub name: String,
    pub command: String,
    pub host: Option<String>,
    pub target: Option<String>,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration_ms: u64,
    pub attempts: u32,
    pub truncated: bool,
    pub stdout: String,
    pub stderr: String,
}

impl JobOutcome {
    pub fn of(context: &Context<'_>, sent: bool, reason: Option<String>) -> JobOutcome {
        JobOutcome {
            job: context.job.name.clone(),
            status: context.summary.status,
            sent,
            reason,
            summary: context.summary.clone(),
            results: context
                .results
                .iter()
                .map(|r| ResultOutcome {
                    name: r.core.name.clone(),
                    command: r.core.command.clone(),
                    host: r.core.host.clone(),
                    target: r.core.target.clone(),
                    status: r.core.status,
                    exit_code: r.core.exit_code,
                    signal: r.core.signal,
                    duration_ms: r.core.duration_ms,
                    attempts: r.attempts,
                    truncated: r.core.truncated,
                    stdout: r.stdout.clone(),
                    stderr: r.stderr.clone(),
                })
                .collect(),
        }
    }
}
