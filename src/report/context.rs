//! The template context (reporter-templates(7)): everything a report's templates can read.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::Job;
use crate::config::values::{DURATION, Unit};
use crate::report::expect::Expectation;
use crate::report::facts::Facts;
use crate::report::result::{HostReport, ResultCore, Summary, TaskResult};
use crate::report::values::{Named, Number, Reading, Values};

/// How a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Manual,
    Cron,
    Daemon,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Cron => "cron",
            Trigger::Daemon => "daemon",
        }
    }

    /// The trigger `as_str` wrote; anything else reads as manual.
    pub fn parse(text: &str) -> Trigger {
        match text {
            "cron" => Trigger::Cron,
            "daemon" => Trigger::Daemon,
            _ => Trigger::Manual,
        }
    }
}

/// `run`.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub id: String,
    pub started_at: String,
    pub finished_at: String,
    /// Where the window the run covers starts (RFC 3339, UTC): `REPORTER_SINCE`.
    pub since: String,
    pub trigger: Trigger,
    pub interrupted: bool,
    /// Every result is ok again after the last run failed (`send: on-failure` mails this).
    pub recovered: bool,
}

/// `job`.
#[derive(Debug, Clone, Serialize)]
pub struct JobInfo {
    pub name: String,
    pub description: Option<String>,
    pub schedule: Option<String>,
}

impl JobInfo {
    pub fn of(job: &Job) -> JobInfo {
        JobInfo {
            name: job.name.clone(),
            description: job.description.clone(),
            schedule: job.schedule.as_ref().map(ToString::to_string),
        }
    }
}

/// The whole template context.
#[derive(Debug, Clone, Serialize)]
pub struct Context<'a> {
    pub job: JobInfo,
    /// The run's facts, or this job's copy of them when its disks have a history (their
    /// `trend` and `days_to_full` are the job's own).
    pub host: Cow<'a, Facts>,
    pub results: Vec<TaskResult>,
    /// `results` grouped by host (empty for a job that runs only here).
    pub hosts: Vec<HostReport>,
    pub summary: Summary,
    pub run: RunInfo,
    pub previous: Option<Vec<PreviousResult>>,
    /// Each disk's used percentage in the job's earlier runs, oldest first, by mount: every
    /// mount of `host.disks` is a key (with no runs yet, an empty list).
    pub disk_history: BTreeMap<String, Vec<DiskSample>>,
    pub node: Option<String>,
    /// True when the report is rendered as a section of a digest: the shipped
    /// `html-head`/`html-foot` partials then leave out the page around it, and the text
    /// templates their signature line.
    pub section: bool,
}

impl<'a> Context<'a> {
    /// The same context with other results, without copying the old ones (and their
    /// output) first.
    pub fn with_results(&self, results: Vec<TaskResult>) -> Context<'a> {
        Context {
            job: self.job.clone(),
            host: self.host.clone(),
            hosts: if self.hosts.is_empty() {
                Vec::new()
            } else {
                HostReport::group(&results, self.summary.duration_ms)
            },
            results,
            summary: self.summary.clone(),
            run: self.run.clone(),
            previous: self.previous.clone(),
            disk_history: self.disk_history.clone(),
            node: self.node.clone(),
            section: self.section,
        }
    }
}

/// One entry of `previous`: a result of the last recorded run, in the shape of `results`,
/// with the outputs the history kept (null for a run recorded before it kept them);
/// the history does not keep how many attempts a result took: `attempts` is null; its
/// `values` are those it recorded, without trends or expectations.
#[derive(Debug, Clone, Serialize)]
pub struct PreviousResult {
    #[serde(flatten)]
    pub core: ResultCore,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub attempts: Option<u32>,
    pub changed: Option<bool>,
    pub diff: Option<String>,
    pub matches: Vec<String>,
    /// The history does not keep what an output parsed to: always null.
    pub data: Option<serde_json::Value>,
    pub parse_error: Option<String>,
    pub values: Values,
    pub values_text: Named<String>,
    pub trends: Named<Vec<Number>>,
    pub expectations: Vec<Expectation>,
    pub stdout_attachment: Option<String>,
    pub stderr_attachment: Option<String>,
}

impl PreviousResult {
    /// A recorded result with its outputs (if kept) and the `values` it recorded.
    pub fn of(
        core: &ResultCore,
        stdout: Option<String>,
        stderr: Option<String>,
        values: &[(String, f64)],
    ) -> PreviousResult {
        let values = Values(
            values
                .iter()
                .map(|(name, number)| Reading {
                    name: name.clone(),
                    number: Some(*number),
                    unit: Unit::Number,
                })
                .chain([Reading {
                    name: DURATION.to_owned(),
                    number: Some(core.duration_ms as f64),
                    unit: Unit::Millis,
                }])
                .collect(),
        );
        PreviousResult {
            core: core.clone(),
            stdout,
            stderr,
            attempts: None,
            changed: None,
            diff: None,
            matches: Vec::new(),
            data: None,
            parse_error: None,
            values_text: values.texts(),
            values,
            trends: Named::default(),
            expectations: Vec::new(),
            stdout_attachment: None,
            stderr_attachment: None,
        }
    }
}

/// A disk's used percentage in one earlier run.
#[derive(Debug, Clone, Serialize)]
pub struct DiskSample {
    pub percent: f64,
    /// When that run started (RFC 3339, configured time zone).
    pub at: String,
}
