//! A result's status (`ok`, `failed`, `timeout`, `error`) and how a finished command earns it.

use serde::Serialize;

use crate::config::CommandDef;
use crate::exec::{Exit, Outcome};
use crate::report::structured;

/// A result's status, ordered from best to worst.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, serde::Deserialize,
)]
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

    /// The status `as_str` wrote; anything else reads as the worst.
    pub fn parse(text: &str) -> Status {
        match text {
            "ok" => Status::Ok,
            "failed" => Status::Failed,
            "timeout" => Status::Timeout,
            _ => Status::Error,
        }
    }

    /// How a finished command counts, given what the job accepts: an output that does
    /// not parse as its `parse` says makes it failed.
    pub fn classify(def: &CommandDef, outcome: &Outcome) -> Status {
        Status::given(def, outcome, || {
            structured::read(def.parse, outcome).is_ok()
        })
    }

    /// Whether the command said, by one of its `error_exit_codes`, that it could not make
    /// its check: its output is then not read as data.
    pub fn gave_up(def: &CommandDef, outcome: &Outcome) -> bool {
        matches!(&outcome.exit, Exit::Code(code) if def.error_exit_codes.contains(code))
            && !outcome.timed_out
            && !outcome.interrupted
    }

    /// The same, `parsed` telling whether the output parsed (asked only when it matters).
    pub fn given(def: &CommandDef, outcome: &Outcome, parsed: impl FnOnce() -> bool) -> Status {
        if outcome.timed_out {
            return Status::Timeout;
        }
        if outcome.interrupted {
            return Status::Error;
        }
        match &outcome.exit {
            Exit::NotStarted(_) => Status::Error,
            Exit::Signal(_) => Status::Failed,
            Exit::Code(code) if def.error_exit_codes.contains(code) => Status::Error,
            Exit::Code(code) if !def.ok_exit_codes.contains(code) => Status::Failed,
            Exit::Code(_) => match &def.fail_if {
                Some(pattern) if pattern.is_match(&outcome.stdout) => Status::Failed,
                _ if !parsed() => Status::Failed,
                _ => Status::Ok,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(ok: &[i32], fail_if: Option<&str>) -> CommandDef {
        CommandDef::fixture(ok, fail_if)
    }

    fn outcome(exit: Exit, stdout: &str) -> Outcome {
        Outcome::fixture(exit, stdout)
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
        let mut json = def(&[0], None);
        json.parse = crate::config::Parse::Json;
        assert_eq!(
            Status::classify(&json, &outcome(Exit::Code(0), "{\"a\": 1}")),
            Status::Ok
        );
        assert_eq!(
            Status::classify(&json, &outcome(Exit::Code(0), "{\"a\": ")),
            Status::Failed
        );
        // An error exit code wins over fail_if and parse: the check was not made.
        let mut gives_up = def(&[0], Some("."));
        gives_up.error_exit_codes = vec![3];
        gives_up.parse = crate::config::Parse::Json;
        let gave_up = outcome(Exit::Code(3), "not json");
        assert_eq!(Status::classify(&gives_up, &gave_up), Status::Error);
        assert!(Status::gave_up(&gives_up, &gave_up));
        assert_eq!(
            Status::classify(&gives_up, &outcome(Exit::Code(4), "")),
            Status::Failed
        );
        for status in [Status::Ok, Status::Failed, Status::Timeout, Status::Error] {
            assert_eq!(Status::parse(status.as_str()), status);
        }
    }
}
