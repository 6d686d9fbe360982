//! A job's results: each finished command as the template context shows it, their summary,
//! and the same results grouped by host.

use std::collections::HashMap;

use serde::Serialize;

use crate::config::CommandDef;
use crate::config::values::Unit;
use crate::exec::{BudgetCut, Exit, Outcome};
use crate::report::expect::{self, Earlier, Expectation};
use crate::report::format::millis;
use crate::report::status::Status;
use crate::report::structured;
use crate::report::values::{self, Named, Number, Values};
use crate::schedule::Zone;

/// Where one task ran: its host (`None` for a job without `hosts:`) and target.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    pub host: Option<String>,
    pub target: Option<String>,
}

/// What every shape of a result has: which command ran where, and how it ended. A
/// result of this run ([`TaskResult`]), one the history recorded and one of the previous
/// run as templates see it all carry this, and differ only in what they keep of the output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ResultCore {
    pub name: String,
    pub command: String,
    pub host: Option<String>,
    pub target: Option<String>,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration_ms: u64,
    pub truncated: bool,
    /// RFC 3339 in the configured time zone.
    pub started_at: String,
}

/// One entry of `results`.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    #[serde(flatten)]
    pub core: ResultCore,
    pub stdout: String,
    pub stderr: String,
    /// How many times the command ran: 1 plus the retries it took (the result is the
    /// last attempt's). `run --json` shows it too.
    pub attempts: u32,
    pub changed: Option<bool>,
    /// A unified diff of the previous run's stdout against this one, when both are known
    /// and differ (reporter-templates(7)).
    pub diff: Option<String>,
    /// The lines of stdout that `fail_if` matched (at most [`MAX_MATCHES`]).
    pub matches: Vec<String>,
    /// stdout read as `commands[].parse` says (docs/jobs.md); null without `parse`, or
    /// when it did not parse.
    pub data: serde_json::Value,
    /// Why stdout did not parse (the result is then failed); null when it did.
    pub parse_error: Option<String>,
    /// The numbers its command's `values:` read, and `duration_ms` (docs/values.md).
    pub values: Values,
    /// The same as people read them (`1.5 GiB`, `41m 00s`).
    pub values_text: Named<String>,
    /// Each value's recorded series and now, oldest first, scaled for `sparkline`.
    pub trends: Named<Vec<Number>>,
    /// The judgements of its command's `expect:` rules, the failed ones first.
    pub expectations: Vec<Expectation>,
    /// When stdout was too long for the body: the attachment holding all of it (`stdout`
    /// then keeps its head and a note saying so).
    pub stdout_attachment: Option<String>,
    pub stderr_attachment: Option<String>,
    /// Set when the output was cut at the command's share of the job's output budget: the
    /// report says so, and runs are compared by its fingerprint of the whole output.
    #[serde(skip)]
    pub budget_cut: Option<BudgetCut>,
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
    pub fn new(
        def: &CommandDef,
        command: String,
        placement: Placement,
        outcome: Outcome,
        zone: Zone,
    ) -> TaskResult {
        let read = if Status::gave_up(def, &outcome) {
            Ok(serde_json::Value::Null)
        } else {
            structured::read(def.parse, &outcome)
        };
        let (data, parse_error) = match read {
            Ok(data) => (data, None),
            Err(error) => (serde_json::Value::Null, Some(error.to_string())),
        };
        let status = Status::given(def, &outcome, || parse_error.is_none());
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
        let duration_ms = millis(outcome.duration);
        let values = Values::read(def, &outcome.stdout, &data, duration_ms);
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
            core: ResultCore {
                name: def.name.clone(),
                command,
                host: placement.host,
                target: placement.target,
                status,
                exit_code,
                signal,
                duration_ms,
                truncated: outcome.truncated,
                started_at: zone.rfc3339(outcome.started_at),
            },
            stdout: outcome.stdout,
            stderr,
            attempts: outcome.attempts,
            changed: None,
            diff: None,
            matches,
            data,
            parse_error,
            values_text: values.texts(),
            values,
            trends: Named::default(),
            expectations: Vec::new(),
            stdout_attachment: None,
            stderr_attachment: None,
            budget_cut: outcome.budget_cut,
        }
    }

    /// Judges the values by `def`'s `expect:` rules after `earlier` results of the same
    /// command, host and target (oldest first), and draws their trends: a failed rule
    /// makes an ok result failed (docs/values.md).
    pub fn judge(&mut self, def: &CommandDef, earlier: &[Earlier]) {
        for rule in def.expect.iter().filter(|r| r.unit == Unit::Bytes) {
            if let Some(reading) = self.values.0.iter_mut().find(|r| r.name == rule.value) {
                reading.unit = Unit::Bytes;
            }
        }
        self.values_text = self.values.texts();
        self.trends = Named(
            self.values
                .0
                .iter()
                .map(|reading| {
                    let mut series: Vec<f64> = earlier
                        .iter()
                        .filter_map(|e| e.values.iter().find(|(n, _)| *n == reading.name))
                        .map(|(_, v)| *v)
                        .chain(reading.number)
                        .collect();
                    series.drain(..series.len().saturating_sub(values::TREND_LEN));
                    let scaled = values::scaled(&series).into_iter().map(Number).collect();
                    (reading.name.clone(), scaled)
                })
                .collect(),
        );
        self.expectations = expect::judge(&def.expect, &self.values, earlier);
        if self.core.status == Status::Ok && self.expectations.iter().any(|e| !e.ok) {
            self.core.status = Status::Failed;
        }
    }

    /// A copy with other output (`stdout`, `stderr`), without copying the old output first.
    pub fn with_output(&self, stdout: String, stderr: String) -> TaskResult {
        TaskResult {
            core: self.core.clone(),
            stdout,
            stderr,
            attempts: self.attempts,
            changed: self.changed,
            diff: self.diff.clone(),
            matches: self.matches.clone(),
            data: self.data.clone(),
            parse_error: self.parse_error.clone(),
            values: self.values.clone(),
            values_text: self.values_text.clone(),
            trends: self.trends.clone(),
            expectations: self.expectations.clone(),
            stdout_attachment: self.stdout_attachment.clone(),
            stderr_attachment: self.stderr_attachment.clone(),
            budget_cut: self.budget_cut.clone(),
        }
    }

    /// A result that no command's run made (such as a rule of reporter's own), from its
    /// core and outputs: it ran once, and holds nothing else.
    pub fn of_core(core: ResultCore, stdout: String, stderr: String) -> TaskResult {
        TaskResult {
            core,
            stdout,
            stderr,
            attempts: 1,
            changed: None,
            diff: None,
            matches: Vec::new(),
            data: serde_json::Value::Null,
            parse_error: None,
            values: Values::default(),
            values_text: Named::default(),
            trends: Named::default(),
            expectations: Vec::new(),
            stdout_attachment: None,
            stderr_attachment: None,
            budget_cut: None,
        }
    }

    /// A finished result for tests: `name` is also the command, stderr is `stderr`.
    #[cfg(test)]
    pub fn fixture(name: &str, status: Status, stdout: &str, stderr: &str) -> TaskResult {
        let core = ResultCore {
            name: name.into(),
            command: name.into(),
            host: None,
            target: None,
            status,
            exit_code: Some(0),
            signal: None,
            duration_ms: 1,
            truncated: false,
            started_at: "2026-01-01T00:00:00Z".into(),
        };
        TaskResult::of_core(core, stdout.into(), stderr.into())
    }
}

fn note(stderr: &mut String, line: &str) {
    if !stderr.is_empty() && !stderr.ends_with('\n') {
        stderr.push('\n');
    }
    stderr.push_str(line);
}

/// `summary`.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Summary {
    pub total: usize,
    pub ok: usize,
    pub failed: usize,
    pub timeout: usize,
    pub error: usize,
    pub duration_ms: u64,
    pub all_ok: bool,
    pub status: Status,
    /// The text of the worst failed expectation: the first failed expectation of the first
    /// result with the worst status (the one `worst results` gives), if it has one
    /// (docs/values.md).
    #[serde(default)]
    pub failed_expectation: Option<String>,
}

impl Summary {
    pub fn of(results: &[TaskResult], duration_ms: u64) -> Summary {
        let count = |s| results.iter().filter(|r| r.core.status == s).count();
        Summary {
            total: results.len(),
            ok: count(Status::Ok),
            failed: count(Status::Failed),
            timeout: count(Status::Timeout),
            error: count(Status::Error),
            duration_ms,
            all_ok: results.iter().all(|r| r.core.status == Status::Ok),
            status: results
                .iter()
                .map(|r| r.core.status)
                .max()
                .unwrap_or_default(),
            failed_expectation: worst_expectation(results),
        }
    }
}

/// See [`Summary::failed_expectation`].
fn worst_expectation(results: &[TaskResult]) -> Option<String> {
    let worst = results.iter().map(|r| r.core.status).max()?;
    let first = results.iter().find(|r| r.core.status == worst)?;
    let failed = first.expectations.iter().find(|e| !e.ok)?;
    Some(failed.text.clone())
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
            let Some(name) = result.core.host.as_deref() else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn def(ok: &[i32], fail_if: Option<&str>) -> CommandDef {
        CommandDef::fixture(ok, fail_if)
    }

    fn outcome(exit: Exit, stdout: &str) -> Outcome {
        Outcome::fixture(exit, stdout)
    }

    #[test]
    fn matching_lines_are_listed_once_each() {
        let pattern = crate::config::raw::Pattern::from_str(r"(9[0-9]|100)%")
            .unwrap()
            .0;
        let df = "Filesystem Use% Mounted\n/dev/a 93% /\n/dev/b 12% /b\n/dev/c 100% /c 95%\n";
        assert_eq!(
            matching_lines(&pattern, df),
            ["/dev/a 93% /", "/dev/c 100% /c 95%"]
        );
        let spanning = regex::Regex::new(r"b\nc").unwrap();
        assert_eq!(matching_lines(&spanning, "a\nb\nc\nd"), ["b", "c"]);
        let line_start = crate::config::raw::Pattern::from_str("^").unwrap().0;
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
        assert_eq!(result.core.status, Status::Failed);
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
    fn parsed_output_becomes_data_and_a_parse_error_fails_the_result() {
        let mut json = def(&[0], None);
        json.parse = crate::config::Parse::Json;
        let result = |stdout: &str| {
            TaskResult::new(
                &json,
                "c".into(),
                Placement::default(),
                outcome(Exit::Code(0), stdout),
                Zone::Local,
            )
        };
        let parsed = result("{\"up\": [\"web1\"]}");
        assert_eq!(parsed.core.status, Status::Ok);
        assert_eq!(parsed.data, serde_json::json!({"up": ["web1"]}));
        assert_eq!(parsed.parse_error, None);
        let broken = result("{\"up\": ");
        assert_eq!(broken.core.status, Status::Failed);
        assert_eq!(broken.data, serde_json::Value::Null);
        assert_eq!(
            broken.parse_error.as_deref(),
            Some("line 1: EOF while parsing a value at column 7")
        );
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
