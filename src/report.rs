//! A job's report: results classified into statuses, summarised, and put into the template
//! context of SPEC §3.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::command::{Exit, Outcome};
use crate::facts::Facts;
use crate::history::{RecordedResult, RunRecord, digest};
use crate::job::{CommandDef, Job};
use crate::timezone::Zone;

/// A result's status, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Ok,
    Failed,
    Timeout,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Timeout => "timeout",
            Status::Error => "error",
        }
    }

    /// How a finished command counts, given what the job accepts.
    pub fn classify(def: &CommandDef, outcome: &Outcome) -> Status {
        if outcome.timed_out {
            return Status::Timeout;
        }
        if outcome.interrupted {
            return Status::Error;
        }
        match &outcome.exit {
            Exit::NotStarted(_) => Status::Error,
            Exit::Signal(_) => Status::Failed,
            Exit::Code(code) if !def.ok_exit_codes.contains(code) => Status::Failed,
            Exit::Code(_) => match &def.fail_if {
                Some(pattern) if pattern.is_match(&outcome.stdout) => Status::Failed,
                _ => Status::Ok,
            },
        }
    }
}

/// Where one task ran: its host (`None` for a job without `hosts:`) and target.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    pub host: Option<String>,
    pub target: Option<String>,
}

/// One entry of `results`.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    pub name: String,
    pub command: String,
    pub host: Option<String>,
    pub target: Option<String>,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub duration_ms: u64,
    pub truncated: bool,
    pub started_at: String,
    pub changed: Option<bool>,
    /// The lines of stdout that `fail_if` matched (at most [`MAX_MATCHES`]).
    pub matches: Vec<String>,
    /// When stdout was too long for the body: the attachment holding all of it (`stdout`
    /// then keeps its head and a note saying so).
    pub stdout_attachment: Option<String>,
    pub stderr_attachment: Option<String>,
}

/// How many matching lines a result lists; a pattern that matches every line of a long
/// output would otherwise repeat the output.
pub const MAX_MATCHES: usize = 100;

/// The lines of `text` that hold (part of) a match of `pattern`, in order, each once.
pub fn matching_lines(pattern: &regex::Regex, text: &str) -> Vec<String> {
    let mut found = pattern.find_iter(text).peekable();
    let mut lines = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let end = offset + line.len();
        // Drop the matches that ended before this line (an empty match at its very start
        // belongs to it).
        while found
            .next_if(|m| m.end() < offset || (m.end() == offset && !m.is_empty()))
            .is_some()
        {}
        if found.peek().is_some_and(|m| m.start() < end) {
            lines.push(line.trim_end_matches(['\n', '\r']).to_owned());
            if lines.len() == MAX_MATCHES {
                break;
            }
        }
        offset = end;
    }
    lines
}

impl TaskResult {
    /// A finished result for tests: `name` is also the command, stderr is `stderr`.
    #[cfg(test)]
    pub fn fixture(name: &str, status: Status, stdout: &str, stderr: &str) -> TaskResult {
        TaskResult {
            name: name.into(),
            command: name.into(),
            host: None,
            target: None,
            status,
            exit_code: Some(0),
            signal: None,
            stdout: stdout.into(),
            stderr: stderr.into(),
            duration_ms: 1,
            truncated: false,
            started_at: "2026-01-01T00:00:00Z".into(),
            changed: None,
            matches: Vec::new(),
            stdout_attachment: None,
            stderr_attachment: None,
        }
    }
}

impl TaskResult {
    pub fn new(
        def: &CommandDef,
        command: String,
        placement: Placement,
        outcome: Outcome,
        zone: Zone,
    ) -> TaskResult {
        let status = Status::classify(def, &outcome);
        let matches = match (&def.fail_if, &outcome.exit) {
            (Some(pattern), Exit::Code(_) | Exit::Signal(_)) => {
                matching_lines(pattern, &outcome.stdout)
            }
            _ => Vec::new(),
        };
        let (exit_code, signal) = match &outcome.exit {
            Exit::Code(code) => (Some(*code), None),
            Exit::Signal(signal) => (None, Some(*signal)),
            Exit::NotStarted(_) => (None, None),
        };
        let mut stderr = outcome.stderr;
        if let Exit::NotStarted(reason) = &outcome.exit {
            stderr = reason.clone();
        } else if outcome.timed_out {
            note(
                &mut stderr,
                &format!(
                    "[timed out after {} ms; the command was killed]",
                    outcome.duration.as_millis()
                ),
            );
        } else if outcome.interrupted {
            note(&mut stderr, "[interrupted; the command was killed]");
        }
        TaskResult {
            name: def.name.clone(),
            command,
            host: placement.host,
            target: placement.target,
            status,
            exit_code,
            signal,
            stdout: outcome.stdout,
            stderr,
            duration_ms: millis(outcome.duration),
            truncated: outcome.truncated,
            started_at: rfc3339(outcome.started_at, zone),
            changed: None,
            matches,
            stdout_attachment: None,
            stderr_attachment: None,
        }
    }
}

impl TaskResult {
    /// A copy with other output (`stdout`, `stderr`), without copying the old output first.
    pub fn with_output(&self, stdout: String, stderr: String) -> TaskResult {
        TaskResult {
            name: self.name.clone(),
            command: self.command.clone(),
            host: self.host.clone(),
            target: self.target.clone(),
            status: self.status,
            exit_code: self.exit_code,
            signal: self.signal,
            stdout,
            stderr,
            duration_ms: self.duration_ms,
            truncated: self.truncated,
            started_at: self.started_at.clone(),
            changed: self.changed,
            matches: self.matches.clone(),
            stdout_attachment: self.stdout_attachment.clone(),
            stderr_attachment: self.stderr_attachment.clone(),
        }
    }
}

fn note(stderr: &mut String, line: &str) {
    if !stderr.is_empty() && !stderr.ends_with('\n') {
        stderr.push('\n');
    }
    stderr.push_str(line);
}

/// `summary`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub total: usize,
    pub ok: usize,
    pub failed: usize,
    pub timeout: usize,
    pub error: usize,
    pub duration_ms: u64,
    pub all_ok: bool,
    pub status: Status,
}

impl Summary {
    pub fn of(results: &[TaskResult], duration_ms: u64) -> Summary {
        let count = |s| results.iter().filter(|r| r.status == s).count();
        Summary {
            total: results.len(),
            ok: count(Status::Ok),
            failed: count(Status::Failed),
            timeout: count(Status::Timeout),
            error: count(Status::Error),
            duration_ms,
            all_ok: results.iter().all(|r| r.status == Status::Ok),
            status: results.iter().map(|r| r.status).max().unwrap_or_default(),
        }
    }
}

/// One entry of `hosts`: a host's results, in definition order, and their summary.
#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub name: String,
    pub summary: Summary,
    pub results: Vec<TaskResult>,
}

impl HostReport {
    /// `results` grouped by host, the hosts in the order the job lists them (the order their
    /// first results appear in); none for a job without `hosts:`.
    pub fn group(results: &[TaskResult], duration_ms: u64) -> Vec<HostReport> {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut hosts: Vec<HostReport> = Vec::new();
        for result in results {
            let Some(name) = result.host.as_deref() else {
                continue;
            };
            let at = *index.entry(name).or_insert_with(|| {
                hosts.push(HostReport {
                    name: name.to_owned(),
                    summary: Summary::default(),
                    results: Vec::new(),
                });
                hosts.len() - 1
            });
            hosts[at].results.push(result.clone());
        }
        for host in &mut hosts {
            host.summary = Summary::of(&host.results, duration_ms);
        }
        hosts
    }
}

/// How a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Manual,
    Cron,
    Daemon,
}

/// `run`.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub id: String,
    pub started_at: String,
    pub finished_at: String,
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
    pub host: &'a Facts,
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
}

/// One entry of `previous`: a result of the last recorded run, in the shape of `results`.
/// The history keeps a digest of the output, not the output: `stdout` and `stderr` are null.
#[derive(Debug, Clone, Serialize)]
pub struct PreviousResult {
    pub name: String,
    pub command: String,
    pub host: Option<String>,
    pub target: Option<String>,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub duration_ms: u64,
    pub truncated: bool,
    pub started_at: String,
    pub changed: Option<bool>,
    pub matches: Vec<String>,
    pub stdout_attachment: Option<String>,
    pub stderr_attachment: Option<String>,
}

impl PreviousResult {
    pub fn of(recorded: &RecordedResult) -> PreviousResult {
        PreviousResult {
            name: recorded.name.clone(),
            command: recorded.command.clone(),
            host: recorded.host.clone(),
            target: recorded.target.clone(),
            status: recorded.status,
            exit_code: recorded.exit_code,
            signal: recorded.signal,
            stdout: None,
            stderr: None,
            duration_ms: recorded.duration_ms,
            truncated: recorded.truncated,
            started_at: recorded.started_at.clone(),
            changed: None,
            matches: Vec::new(),
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

/// Sets each result's `changed`: whether its status or output differs from the result of
/// `previous` run with the same command, host and target (a new command has changed).
/// Without a previous run it stays null.
pub fn mark_changes(results: &mut [TaskResult], previous: Option<&RunRecord>) {
    let Some(previous) = previous else {
        return;
    };
    let earlier: HashMap<(&str, Option<&str>, Option<&str>), &RecordedResult> = previous
        .results
        .iter()
        .map(|r| {
            (
                (r.command.as_str(), r.host.as_deref(), r.target.as_deref()),
                r,
            )
        })
        .collect();
    for result in results {
        let key = (
            result.command.as_str(),
            result.host.as_deref(),
            result.target.as_deref(),
        );
        result.changed = Some(earlier.get(&key).is_none_or(|before| {
            before.status != result.status
                || before.digest != digest(&result.stdout, &result.stderr)
        }));
    }
}

/// Whether anything differs from the previous run: a result changed, or one is gone.
pub fn anything_changed(results: &[TaskResult], previous: &RunRecord) -> bool {
    results.len() != previous.results.len() || results.iter().any(|r| r.changed != Some(false))
}
impl<'a> Context<'a> {
    /// The same context with other results, without copying the old ones (and their
    /// output) first.
    pub fn with_results(&self, results: Vec<TaskResult>) -> Context<'a> {
        Context {
            job: self.job.clone(),
            host: self.host,
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
        }
    }
}

pub fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

pub fn rfc3339(time: SystemTime, zone: Zone) -> String {
    zone.at(DateTime::<Utc>::from(time))
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use std::time::Duration;

    fn def(ok: &[i32], fail_if: Option<&str>) -> CommandDef {
        CommandDef {
            name: "c".into(),
            run: "c".into(),
            timeout: Duration::from_secs(1),
            ok_exit_codes: ok.to_vec(),
            fail_if: fail_if.map(|p| regex::Regex::new(p).unwrap()),
        }
    }

    fn outcome(exit: Exit, stdout: &str) -> Outcome {
        Outcome {
            exit,
            stdout: stdout.into(),
            ..Outcome::not_started(String::new())
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(
            Status::classify(&def(&[0], None), &outcome(Exit::Code(0), "")),
            Status::Ok
        );
        assert_eq!(
            Status::classify(&def(&[0], None), &outcome(Exit::Code(1), "")),
            Status::Failed
        );
        assert_eq!(
            Status::classify(&def(&[0, 1], None), &outcome(Exit::Code(1), "")),
            Status::Ok
        );
        assert_eq!(
            Status::classify(
                &def(&[0], Some("9[0-9]%")),
                &outcome(Exit::Code(0), "/ 93%")
            ),
            Status::Failed
        );
        assert_eq!(
            Status::classify(&def(&[0], None), &outcome(Exit::Signal(9), "")),
            Status::Failed
        );
        assert_eq!(
            Status::classify(&def(&[0], None), &outcome(Exit::NotStarted("x".into()), "")),
            Status::Error
        );
        let timed_out = Outcome {
            timed_out: true,
            ..outcome(Exit::Signal(15), "")
        };
        assert_eq!(
            Status::classify(&def(&[0], None), &timed_out),
            Status::Timeout
        );
    }

    #[test]
    fn matching_lines_are_listed_once_each() {
        let pattern = crate::job::Pattern::from_str(r"(9[0-9]|100)%").unwrap().0;
        let df = "Filesystem Use% Mounted\n/dev/a 93% /\n/dev/b 12% /b\n/dev/c 100% /c 95%\n";
        assert_eq!(
            matching_lines(&pattern, df),
            ["/dev/a 93% /", "/dev/c 100% /c 95%"]
        );
        let spanning = regex::Regex::new(r"b\nc").unwrap();
        assert_eq!(matching_lines(&spanning, "a\nb\nc\nd"), ["b", "c"]);
        let line_start = crate::job::Pattern::from_str("^").unwrap().0;
        assert_eq!(matching_lines(&line_start, "x\ny"), ["x", "y"]);
        let everything = regex::Regex::new("e").unwrap();
        assert_eq!(
            matching_lines(&everything, &"e\n".repeat(500)).len(),
            MAX_MATCHES
        );
        assert!(matching_lines(&pattern, "").is_empty());
    }

    #[test]
    fn fail_if_shows_what_it_matched() {
        let result = TaskResult::new(
            &def(&[0], Some("9[0-9]%")),
            "df".into(),
            Placement::default(),
            outcome(Exit::Code(0), "/ 93%\n/b 5%\n"),
            Zone::Local,
        );
        assert_eq!(result.status, Status::Failed);
        assert_eq!(result.matches, ["/ 93%"]);
        let fine = TaskResult::new(
            &def(&[0], None),
            "df".into(),
            Placement::default(),
            outcome(Exit::Code(0), "/ 93%\n"),
            Zone::Local,
        );
        assert!(fine.matches.is_empty());
    }

    #[test]
    fn summary_takes_the_worst_status() {
        let zone = Zone::Local;
        let results: Vec<TaskResult> = [
            Exit::Code(0),
            Exit::Code(2),
            Exit::NotStarted("gone".into()),
        ]
        .into_iter()
        .map(|exit| {
            TaskResult::new(
                &def(&[0], None),
                "c".into(),
                Placement::default(),
                outcome(exit, ""),
                zone,
            )
        })
        .collect();
        let summary = Summary::of(&results, 5);
        assert_eq!(
            (summary.total, summary.ok, summary.failed, summary.error),
            (3, 1, 1, 1)
        );
        assert_eq!(summary.status, Status::Error);
        assert!(!summary.all_ok);
        assert_eq!(results[2].stderr, "gone");
        assert_eq!(Summary::of(&[], 0).status, Status::Ok);
    }

    #[test]
    fn results_group_by_host_in_listed_order() {
        let result = |host: Option<&str>, exit| {
            TaskResult::new(
                &def(&[0], None),
                "c".into(),
                Placement {
                    host: host.map(str::to_owned),
                    target: None,
                },
                outcome(exit, ""),
                Zone::Local,
            )
        };
        let results = [
            result(Some("web2"), Exit::Code(0)),
            result(Some("web1"), Exit::Code(1)),
            result(Some("web2"), Exit::Code(0)),
            result(Some("web1"), Exit::Code(0)),
        ];
        let hosts = HostReport::group(&results, 7);
        let shown: Vec<(&str, usize, Status)> = hosts
            .iter()
            .map(|h| (h.name.as_str(), h.results.len(), h.summary.status))
            .collect();
        assert_eq!(
            shown,
            [("web2", 2, Status::Ok), ("web1", 2, Status::Failed)]
        );
        assert!(HostReport::group(&[result(None, Exit::Code(0))], 7).is_empty());
    }
}
