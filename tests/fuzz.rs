//! Fuzzing on stable: random and mutated text fed to every parser of what users write (the
//! config and job loaders, schedules, durations, sizes, addresses, hosts and targets) and
//! random templates rendered against random contexts. Nothing may panic: every input gets
//! `Ok` or an error, and a loader's error names the file.
//!
//! Inputs start from the committed corpus in `tests/fuzz/corpus` (the shipped examples and
//! nasty cases) and are mutated with YAML and Handlebars fragments. `PROPTEST_CASES` sets
//! the number of cases per target (default 2,000: the whole file in about ten seconds on a
//! debug build); CI may raise it for a longer run.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::test_runner::Config as Cases;
use serde_json::{Map, Value};

use reporter::config::address::{AddressSpec, parse_mailbox};
use reporter::config::hosts::{self, HostSpec, TargetSpec};
use reporter::config::units::{ByteSize, HumanDuration, number_with_size};
use reporter::config::{Config, Job};
use reporter::render::Templates;
use reporter::schedule::{Schedule, Zone};

fn cases() -> Cases {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    Cases {
        cases,
        // A failure is shown shrunk; no regression files are written into the checkout.
        failure_persistence: None,
        ..Cases::default()
    }
}

fn corpus(folder: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    let texts: Vec<String> = files
        .iter()
        .map(|file| String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned())
        .collect();
    assert!(!texts.is_empty(), "no corpus in {}", dir.display());
    texts
}

/// One line per value in `words.txt`.
fn words() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus/words.txt");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Pieces of YAML and Handlebars syntax that make mutations reach deeper than random bytes.
const FRAGMENTS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "\n",
    "\n  ",
    "  ",
    "\t",
    "{",
    "}",
    "[",
    "]",
    ",",
    "'",
    "\"",
    "#",
    "&a ",
    "*a",
    "<<: *a",
    "? ",
    "|",
    ">-",
    "!!str ",
    "!!binary ",
    "~",
    "null",
    "true",
    "-1",
    "0",
    "99999999999999999999",
    "1e400",
    "0x1F",
    "\0",
    "\r",
    "é",
    "\u{feff}",
    "\u{202e}",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "commands:",
    "run:",
    "timeout:",
    "schedule:",
    "targets:",
    "hosts:",
    "user:",
    "env:",
    "mail:",
    "to:",
    "{{",
    "}}",
    "{{{",
    "}}}",
    "{{#each ",
    "{{/each}}",
    "{{#if ",
    "{{else}}",
    "{{/if}}",
    "{{#with ",
    "{{/with}}",
    "{{> ",
    "{{!-- ",
    "--}}",
    "../",
    "@index",
    "this",
    "results.0.stdout",
    "job.name",
    "(eq 1 2)",
    "(bytes 1)",
    "{{target}}",
    "\"{{target}}\"",
    "5m",
    "1 MiB",
    "*/5",
    "@daily",
    "10.0.0.0/24",
    "::1/120",
    "a@b",
    "<x@y>",
    "user@host:22",
];

/// One change to a text, with positions taken modulo its length.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, String),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let fragment = prop_oneof![
        3 => proptest::sample::select(FRAGMENTS).prop_map(str::to_owned),
        1 => ".{0,8}",
    ];
    prop_oneof![
        4 => (any::<usize>(), fragment).prop_map(|(at, text)| Edit::Insert(at, text)),
        2 => (any::<usize>(), 1..16usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        1 => (any::<usize>(), 1..64usize).prop_map(|(at, n)| Edit::Duplicate(at, n)),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ]
}

/// The nearest char boundary at or before `at % (len + 1)`.
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(mut text: String, edits: &[Edit]) -> String {
    for edit in edits {
        match edit {
            Edit::Insert(at, fragment) => {
                let at = boundary(&text, *at);
                text.insert_str(at, fragment);
            }
            Edit::Delete(at, n) | Edit::Duplicate(at, n) => {
                let start = boundary(&text, *at);
                let end = boundary(&text, start.saturating_add(*n).min(text.len()));
                let end = end.max(start);
                if matches!(edit, Edit::Delete(..)) {
                    text.replace_range(start..end, "");
                } else {
                    let copy = text[start..end].to_owned();
                    text.insert_str(end, &copy);
                }
            }
            Edit::Truncate(at) => {
                let at = boundary(&text, *at);
                text.truncate(at);
            }
        }
    }
    text
}

/// A seed from `seeds` with a few edits, or (now and then) text made of fragments only.
fn mutated(seeds: Vec<String>) -> impl Strategy<Value = String> {
    let from_seed = (
        proptest::sample::select(seeds),
        prop::collection::vec(edit(), 0..6),
    )
        .prop_map(|(seed, edits)| apply(seed, &edits));
    let from_fragments = prop::collection::vec(
        prop_oneof![
            proptest::sample::select(FRAGMENTS).prop_map(str::to_owned),
            ".{0,6}",
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat());
    prop_oneof![4 => from_seed, 1 => from_fragments]
}

/// A short value for one of `words.txt`'s parsers.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => mutated(words()),
        1 => any::<String>(),
        1 => "[0-9*/,@a-z:. -]{0,24}",
    ]
}

const CONFIG_PATH: &str = "/fuzz/reporter.yaml";
const JOB_PATH: &str = "/fuzz/jobs/fuzz.yaml";

/// Every error of a loader names the file it is about.
fn name_the_file(
    errors: &[reporter::config::ConfigError],
    path: &str,
) -> Result<(), TestCaseError> {
    prop_assert!(!errors.is_empty(), "an error without a message");
    for error in errors {
        let shown = error.to_string();
        prop_assert!(shown.starts_with(path), "does not name {path}: {shown}");
    }
    Ok(())
}

#[test]
fn config_loader_never_panics() {
    proptest!(cases(), |(text in mutated(corpus("config")))| {
        if let Err(errors) = Config::parse(&text, Path::new(CONFIG_PATH), Path::new("/fuzz")) {
            name_the_file(&errors, CONFIG_PATH)?;
        }
    });
}

#[test]
fn job_loader_never_panics() {
    let config = Config::parse(
        &corpus("config")[0],
        Path::new(CONFIG_PATH),
        Path::new("/fuzz"),
    )
    .expect("the first config of the corpus is valid");
    proptest!(cases(), |(text in mutated(corpus("jobs")))| {
        match Job::parse("fuzz", Path::new(JOB_PATH), &text, &config) {
            Ok(job) => {
                // What a run does with a loaded job's targets must hold up too.
                let _ = hosts::expand_targets(&job.targets);
            }
            Err(errors) => name_the_file(&errors, JOB_PATH)?,
        }
    });
}

#[test]
fn schedules_parse_and_find_their_next_time() {
    let utc = Zone::from_str("UTC").unwrap();
    proptest!(cases(), |(text in word(), after in 0i64..13_000_000_000, local in any::<bool>())| {
        if let Ok(schedule) = Schedule::from_str(&text) {
            let after = DateTime::<Utc>::from_timestamp(after, 0).unwrap();
            let zone = if local { Zone::Local } else { utc };
            if let Some(next) = schedule.next_after(after, zone) {
                prop_assert!(next > after, "{text:?}: {next} is not after {after}");
            }
        }
    });
}

#[test]
fn durations_and_sizes_parse_or_fail() {
    proptest!(cases(), |(text in word())| {
        let _ = HumanDuration::from_str(&text);
        let _ = ByteSize::from_str(&text);
        let _ = number_with_size(&text);
    });
}

#[test]
fn addresses_parse_or_fail() {
    proptest!(cases(), |(text in word())| {
        let _ = AddressSpec::from_str(&text);
        let _ = parse_mailbox(&text);
    });
}

#[test]
fn hosts_and_targets_parse_or_fail() {
    proptest!(cases(), |(text in word())| {
        let _ = HostSpec::from_str(&text);
        if let Ok(target) = TargetSpec::from_str(&text) {
            let count = target.count();
            prop_assert!(count <= 1 << 16, "{text:?} expands to {count}");
            prop_assert_eq!(hosts::expand_targets(&[target]).len() as u128, count);
        }
    });
}

/// A JSON value of modest depth whose keys are those templates look up.
fn context() -> impl Strategy<Value = Value> {
    let key = proptest::sample::select(
        &[
            "job",
            "name",
            "results",
            "stdout",
            "stderr",
            "status",
            "run",
            "id",
            "host",
            "target",
            "0",
            "1",
            "exit_code",
            "duration",
            "facts",
            "x",
        ][..],
    );
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        proptest::sample::select(&["ok", "failed", "timeout", "error"][..])
            .prop_map(|s| Value::String(s.to_owned())),
    ];
    // Depth 4 at most: the point is odd shapes, not serde's recursion.
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..5).prop_map(|pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

#[test]
fn templates_render_or_fail_against_any_context() {
    let empty = tempfile::tempdir().unwrap();
    let templates = Templates::load(empty.path()).expect("an empty templates folder loads");
    proptest!(cases(), |(template in mutated(corpus("templates")), context in context())| {
        let _ = templates.render_inline(&template, &context);
    });
}

#[test]
fn shipped_templates_render_or_fail_against_any_context() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let templates = Templates::load(&dir).expect("the shipped templates load");
    const NAMES: &[&str] = &["disk-usage", "ping-sweep", "system-summary"];
    proptest!(cases(), |(name in proptest::sample::select(NAMES), context in context())| {
        let _ = templates.render_text(name, &context);
        if templates.has_html(name) {
            let _ = templates.render_html(name, &context);
        }
    });
}
