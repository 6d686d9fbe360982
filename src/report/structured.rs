//! Structured output (`commands[].parse`, docs/jobs.md): a command's stdout, as kept within
//! `max_output`, read as one JSON value or as one JSON value a line, into its result's
//! `data`; and the words a result's `parse_error` gives when it cannot be read.

use serde_json::Value;

use crate::config::Parse;
use crate::exec::{Exit, Outcome};

/// How deep a value may nest: serde_json's own recursion limit (128) stops the parser at
/// the 128th level, before a deeply nested output could exhaust the stack.
pub const MAX_DEPTH: usize = 127;

/// serde_json's words for a value nested deeper than [`MAX_DEPTH`].
const RECURSION_LIMIT: &str = "recursion limit exceeded";

/// Why an output is not the JSON its command's `parse` says it is (a result's
/// `parse_error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("line {line}: {message} at column {column}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("line {line}: nested deeper than {MAX_DEPTH} levels at column {column}")]
    TooDeep { line: usize, column: usize },
    #[error("no output (expected one JSON value)")]
    Empty,
    #[error(
        "the output was cut at max_output, so it was not parsed (raise max_output to keep all of it)"
    )]
    Cut,
    #[error(
        "the output was cut at the command's share of the job's output budget ({kept} bytes), so it was not parsed (split the job to give each command more)"
    )]
    CutAtShare { kept: u64 },
}

/// The `data` of a finished command run with `parse`: null for `parse: none` and for a
/// command that never started (it printed nothing to read).
pub fn read(parse: Parse, outcome: &Outcome) -> Result<Value, ParseError> {
    if parse == Parse::None || matches!(outcome.exit, Exit::NotStarted(_)) {
        return Ok(Value::Null);
    }
    if outcome.stdout_cut {
        return Err(match &outcome.budget_cut {
            Some(cut) => ParseError::CutAtShare { kept: cut.kept },
            None => ParseError::Cut,
        });
    }
    parse_text(parse, &outcome.stdout)
}

/// `text` read as `parse` says.
pub fn parse_text(parse: Parse, text: &str) -> Result<Value, ParseError> {
    match parse {
        Parse::None => Ok(Value::Null),
        Parse::Json if text.trim().is_empty() => Err(ParseError::Empty),
        Parse::Json => serde_json::from_str(text).map_err(|e| located(&e, 0)),
        Parse::JsonLines => json_lines(text),
    }
}

/// Every non-empty line of `text` as one value, in order.
fn json_lines(text: &str) -> Result<Value, ParseError> {
    let mut values = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        values.push(serde_json::from_str(line).map_err(|e| located(&e, index))?);
    }
    Ok(Value::Array(values))
}

/// serde_json's error as a `parse_error`, its line counted from `first_line` + 1.
fn located(error: &serde_json::Error, first_line: usize) -> ParseError {
    let line = first_line + error.line();
    let column = error.column();
    let whole = error.to_string();
    // serde_json ends its message with where it happened; ours starts with the line.
    let suffix = format!(" at line {} column {column}", error.line());
    let message = whole.strip_suffix(&suffix).unwrap_or(&whole);
    if message == RECURSION_LIMIT {
        return ParseError::TooDeep { line, column };
    }
    ParseError::Syntax {
        line,
        column,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(parse: Parse, text: &str) -> String {
        parse_text(parse, text).unwrap_err().to_string()
    }

    #[test]
    fn one_value() {
        assert_eq!(
            parse_text(Parse::Json, "{\"a\": [1, 2]}\n").unwrap(),
            json!({"a": [1, 2]})
        );
        assert_eq!(parse_text(Parse::Json, " 42 ").unwrap(), json!(42));
        assert_eq!(
            error(Parse::Json, "{\"a\": 1,\n \"b\": }\n"),
            "line 2: expected value at column 7"
        );
        assert_eq!(
            error(Parse::Json, "{} {}"),
            "line 1: trailing characters at column 4"
        );
        assert_eq!(
            error(Parse::Json, "\n  \n"),
            "no output (expected one JSON value)"
        );
        assert_eq!(parse_text(Parse::None, "not json").unwrap(), Value::Null);
    }

    #[test]
    fn one_value_a_line() {
        assert_eq!(
            parse_text(Parse::JsonLines, "{\"n\": 1}\n\n  \n{\"n\": 2}\n").unwrap(),
            json!([{"n": 1}, {"n": 2}])
        );
        assert_eq!(parse_text(Parse::JsonLines, "").unwrap(), json!([]));
        assert_eq!(
            error(Parse::JsonLines, "{\"n\": 1}\n{\"n\": 2}\noops\n"),
            "line 3: expected value at column 1"
        );
        assert_eq!(
            error(Parse::JsonLines, "{\"n\":\n1}\n"),
            "line 1: EOF while parsing a value at column 5"
        );
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_an_error_not_a_crash() {
        let deep = "[".repeat(10_000);
        for parse in [Parse::Json, Parse::JsonLines] {
            assert_eq!(
                error(parse, &deep),
                "line 1: nested deeper than 127 levels at column 128"
            );
        }
        let limit = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse_text(Parse::Json, &limit).is_ok());
        let over = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(matches!(
            parse_text(Parse::Json, &over),
            Err(ParseError::TooDeep { line: 1, .. })
        ));
    }

    #[test]
    fn a_cut_output_is_not_parsed() {
        let mut outcome = Outcome::fixture(Exit::Code(0), "[1]\n");
        assert_eq!(read(Parse::Json, &outcome).unwrap(), json!([1]));
        outcome.stdout_cut = true;
        assert_eq!(read(Parse::Json, &outcome), Err(ParseError::Cut));
        outcome.budget_cut = Some(crate::exec::BudgetCut {
            kept: 1024,
            fingerprint: String::new(),
        });
        assert_eq!(
            read(Parse::JsonLines, &outcome),
            Err(ParseError::CutAtShare { kept: 1024 })
        );
        assert_eq!(read(Parse::None, &outcome).unwrap(), Value::Null);
        let never = Outcome::not_started("no shell".into());
        assert_eq!(read(Parse::Json, &never).unwrap(), Value::Null);
    }
}
