//! The outcome of a run as one JSON object (docs/monitoring.md): what `run --json` prints on stdout,
//! and, job by job, the built-in body of a webhook.

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use crate::report::expect::Expectation;
use crate::report::values::Values;
use crate::report::{Context, ResultCore, Status, Summary};

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
#[derive(Debug, Clone)]
pub struct ResultOutcome {
    pub core: ResultCore,
    pub attempts: u32,
    pub stdout: String,
    pub stderr: String,
    /// What stdout parsed to (`commands[].parse`), or null.
    pub data: serde_json::Value,
    pub parse_error: Option<String>,
    /// `{name: number or null}`, with `duration_ms` (docs/values.md).
    pub values: Values,
    pub expectations: Vec<Expectation>,
}

/// Written out key by key rather than derived: the object keeps the keys and the order
/// `run --json` and webhooks have always sent (docs/monitoring.md), `attempts` among the
/// core's, and leaves out the core's `started_at`, which the report's templates show.
impl Serialize for ResultOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let core = &self.core;
        let mut object = serializer.serialize_struct("ResultOutcome", 16)?;
        object.serialize_field("name", &core.name)?;
        object.serialize_field("command", &core.command)?;
        object.serialize_field("host", &core.host)?;
        object.serialize_field("target", &core.target)?;
        object.serialize_field("status", &core.status)?;
        object.serialize_field("exit_code", &core.exit_code)?;
        object.serialize_field("signal", &core.signal)?;
        object.serialize_field("duration_ms", &core.duration_ms)?;
        object.serialize_field("attempts", &self.attempts)?;
        object.serialize_field("truncated", &core.truncated)?;
        object.serialize_field("stdout", &self.stdout)?;
        object.serialize_field("stderr", &self.stderr)?;
        object.serialize_field("data", &self.data)?;
        object.serialize_field("parse_error", &self.parse_error)?;
        object.serialize_field("values", &self.values)?;
        object.serialize_field("expectations", &self.expectations)?;
        object.end()
    }
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
                    core: r.core.clone(),
                    attempts: r.attempts,
                    stdout: r.stdout.clone(),
                    stderr: r.stderr.clone(),
                    data: r.data.clone(),
                    parse_error: r.parse_error.clone(),
                    values: r.values.clone(),
                    expectations: r.expectations.clone(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_keeps_its_keys_and_their_order() {
        let result = ResultOutcome {
            core: ResultCore {
                name: "df".into(),
                command: "df -h".into(),
                host: Some("web1".into()),
                target: None,
                status: Status::Failed,
                exit_code: Some(4),
                signal: None,
                duration_ms: 12,
                truncated: false,
                started_at: "2026-11-22T06:00:00Z".into(),
            },
            attempts: 2,
            stdout: "out\n".into(),
            stderr: "err\n".into(),
            data: serde_json::json!({"a": [1]}),
            parse_error: None,
            values: Values(vec![crate::report::values::Reading {
                name: "duration_ms".into(),
                number: Some(12.0),
                unit: crate::config::values::Unit::Millis,
            }]),
            expectations: vec![Expectation {
                value: "duration_ms".into(),
                rule: "max",
                ok: false,
                text: "duration_ms 12ms (> max 10ms)".into(),
            }],
        };
        assert_eq!(
            serde_json::to_string(&result).unwrap(),
            r#"{"name":"df","command":"df -h","host":"web1","target":null,"status":"failed","exit_code":4,"signal":null,"duration_ms":12,"attempts":2,"truncated":false,"stdout":"out\n","stderr":"err\n","data":{"a":[1]},"parse_error":null,"values":{"duration_ms":12},"expectations":[{"value":"duration_ms","rule":"max","ok":false,"text":"duration_ms 12ms (> max 10ms)"}]}"#
        );
    }
}
