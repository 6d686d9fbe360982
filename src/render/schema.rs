//! The template context, described once: every variable, what it holds and what it means.
//! reporter-templates(7) prints it; `check` follows templates through the shapes built from
//! it, to tell a variable that can exist from one that cannot (`{{job.nmae}}`) before
//! anything is rendered.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::render::helpers::{self, Gives};

/// What a value of the context is.
#[derive(Debug)]
pub enum Shape {
    /// Text, a number, a boolean or null: nothing below it.
    Scalar,
    /// Known keys.
    Object(BTreeMap<&'static str, Rc<Shape>>),
    /// Items of one shape, reached by index (`results.[0]`).
    List(Rc<Shape>),
    /// Any key, each value of one shape (`disk_history.MOUNT`).
    Map(Rc<Shape>),
    /// Not known here (a helper's result, a partial's argument): anything goes.
    Any,
}

impl Shape {
    /// The shape under `key`, or `None` when there cannot be one.
    pub fn get(&self, key: &str) -> Option<Rc<Shape>> {
        match self {
            Shape::Any => Some(Rc::new(Shape::Any)),
            Shape::Object(keys) => keys.get(key).cloned(),
            Shape::Map(value) => Some(Rc::clone(value)),
            Shape::List(item) => key.parse::<usize>().is_ok().then(|| Rc::clone(item)),
            Shape::Scalar => None,
        }
    }

    /// The shape of what `{{#each}}` over this goes through.
    pub fn item(&self) -> Rc<Shape> {
        match self {
            Shape::List(item) | Shape::Map(item) => Rc::clone(item),
            _ => Rc::new(Shape::Any),
        }
    }

    /// The keys an object has, for messages.
    pub fn keys(&self) -> Option<Vec<&'static str>> {
        match self {
            Shape::Object(keys) => Some(keys.keys().copied().collect()),
            _ => None,
        }
    }
}

/// One variable of the context: its name, what it holds and what it means (the meaning is
/// what reporter-templates(7) prints for it).
#[derive(Debug)]
pub struct Variable {
    pub name: &'static str,
    pub kind: &'static Kind,
    pub about: &'static str,
}

/// What a variable holds.
#[derive(Debug)]
pub enum Kind {
    /// Text, a number or a boolean, in the words of the manual (`number or null`).
    Scalar(&'static str),
    Object(&'static [Variable]),
    List(&'static Kind),
    /// Any key (its name in the manual, `MOUNT`), each value of one kind.
    Map(&'static str, &'static Kind),
    /// The kind, or null.
    OrNull(&'static Kind),
    /// Any value at all, with any keys below it (a command's parsed output), in the
    /// words of the manual.
    Any(&'static str),
}

const fn var(name: &'static str, kind: &'static Kind, about: &'static str) -> Variable {
    Variable { name, kind, about }
}

const TEXT: Kind = Kind::Scalar("text");
const TEXT_OR_NULL: Kind = Kind::Scalar("text or null");
const NUMBER: Kind = Kind::Scalar("number");
const NUMBER_OR_NULL: Kind = Kind::Scalar("number or null");
const BOOLEAN: Kind = Kind::Scalar("boolean");
const BOOLEAN_OR_NULL: Kind = Kind::Scalar("boolean or null");

/// `job`, in a job's context and in each section of a digest.
pub static JOB: Kind = Kind::Object(&[
    var(
        "name",
        &TEXT,
        "The job's name: its file name without .yaml.",
    ),
    var("description", &TEXT_OR_NULL, "Its description."),
    var(
        "schedule",
        &TEXT_OR_NULL,
        "Its schedule as written (daily, a cron expression); null when it has none.",
    ),
]);

static DISK: Kind = Kind::Object(&[
    var("mount", &TEXT, "Where it is mounted."),
    var("device", &TEXT, "The device, such as /dev/sda1."),
    var("fs", &TEXT, "The filesystem type, such as ext4."),
    var("total", &NUMBER, "Its size in bytes."),
    var("used", &NUMBER, "The bytes used: df's Used."),
    var(
        "available",
        &NUMBER,
        "The bytes free for users: df's Avail (the space reserved for root is in neither).",
    ),
    var(
        "percent",
        &NUMBER,
        "The share of used in used + available, in percent rounded up: df's Use%.",
    ),
    var(
        "trend",
        &Kind::List(&NUMBER),
        "Its percent in the job's earlier runs (at most 13) and now, oldest first; just now until the job has run before.",
    ),
    var(
        "days_to_full",
        &NUMBER_OR_NULL,
        "Days until a straight line through the used bytes of those runs reaches the disk's size; null with fewer than 3 runs, when it is not growing, or when that is more than a year away.",
    ),
]);

/// `host`: the facts of the machine reporter runs on.
pub static HOST: Kind = Kind::Object(&[
    var("hostname", &TEXT, "The host name."),
    var(
        "fqdn",
        &TEXT,
        "The name the resolver gives for it, as hostname -f prints it; the host name when it has none.",
    ),
    var(
        "os",
        &TEXT,
        "The distribution and its version, such as Debian GNU/Linux 12.",
    ),
    var(
        "kernel",
        &TEXT,
        "The kernel release, as uname -r prints it.",
    ),
    var("arch", &TEXT, "The architecture, such as x86_64."),
    var("uptime_secs", &NUMBER, "The seconds since it booted."),
    var("uptime", &TEXT, "The same for people: 12d 04h."),
    var(
        "boot_time",
        &TEXT,
        "When it booted (RFC 3339, in the configured time zone).",
    ),
    var(
        "load",
        &Kind::Object(&[
            var("one", &NUMBER, "Over the last minute."),
            var("five", &NUMBER, "Over the last 5 minutes."),
            var("fifteen", &NUMBER, "Over the last 15 minutes."),
        ]),
        "The load averages, with two decimals as uptime shows them.",
    ),
    var("cpus", &NUMBER, "The logical CPUs."),
    var(
        "memory",
        &Kind::Object(&[
            var("total", &NUMBER, "All of it, in bytes."),
            var(
                "used",
                &NUMBER,
                "The bytes in use: total - available (the page cache does not count as used).",
            ),
            var("available", &NUMBER, "What free calls available."),
            var(
                "percent",
                &NUMBER,
                "The share of used in total, in percent with one decimal.",
            ),
        ]),
        "Memory.",
    ),
    var(
        "swap",
        &Kind::Object(&[
            var("total", &NUMBER, "All of it, in bytes."),
            var("used", &NUMBER, "The bytes in use."),
            var(
                "percent",
                &NUMBER,
                "The share of used in total, in percent with one decimal.",
            ),
        ]),
        "Swap space.",
    ),
    var(
        "disks",
        &Kind::List(&DISK),
        "The local filesystems in mount order, as df -l lists them: no tmpfs, overlay, squashfs or network filesystems, no kernel interfaces, and a filesystem mounted in several places once, at its shortest mount point.",
    ),
]);

/// One result: `results[]`, and the items of `previous` and of `hosts[].results`.
pub static RESULT: Kind = Kind::Object(&[
    var(
        "name",
        &TEXT,
        "The command's name; its text when it has none.",
    ),
    var(
        "command",
        &TEXT,
        "The command as it ran, the target put in.",
    ),
    var(
        "host",
        &TEXT_OR_NULL,
        "The host it ran on; null for a job without hosts.",
    ),
    var(
        "target",
        &TEXT_OR_NULL,
        "The target it ran for; null for a job without targets.",
    ),
    var(
        "status",
        &TEXT,
        "How it ended: ok; failed (an exit code not in ok_exit_codes, fail_if matched, its output did not parse, or a value failed an expect rule); timeout; or error (it could not start, its host could not be reached, or it exited with one of its error_exit_codes).",
    ),
    var(
        "exit_code",
        &NUMBER_OR_NULL,
        "Its exit code; null when a signal ended it or it did not start.",
    ),
    var("signal", &NUMBER_OR_NULL, "The signal that ended it."),
    var(
        "stdout",
        &TEXT,
        "What it printed, made safe for mail; beyond max_output its first and last halves around a marker.",
    ),
    var(
        "stderr",
        &TEXT,
        "What it printed on stderr, likewise; for a command that could not start, why.",
    ),
    var("duration_ms", &NUMBER, "How long it ran, in milliseconds."),
    var(
        "truncated",
        &BOOLEAN,
        "Whether its output was cut: at max_output, or at its share of the job's output budget.",
    ),
    var(
        "started_at",
        &TEXT,
        "When it started (RFC 3339, in the configured time zone).",
    ),
    var(
        "changed",
        &BOOLEAN_OR_NULL,
        "Whether its status or output differs from the previous run's result of the same command, host and target (true for a new command); null when there is no previous run.",
    ),
    var(
        "attempts",
        &NUMBER,
        "How many times it ran: 1 and the retries it took (the result is the last attempt's).",
    ),
    var(
        "diff",
        &TEXT_OR_NULL,
        "Its stdout in the previous run against this one as diff -u writes it, cut at 32 KiB; null when they are the same or the previous one is not known.",
    ),
    var(
        "matches",
        &Kind::List(&TEXT),
        "The lines of stdout that fail_if matched (at most 100).",
    ),
    var(
        "data",
        &Kind::Any("any value"),
        "With the command's parse key, what its stdout holds: with parse: json the one JSON value it printed, with parse: json-lines a list of the value of each non-empty line; any path below it is read as the output has it (data.items.[0].name). Null without parse, or when the output did not parse.",
    ),
    var(
        "parse_error",
        &TEXT_OR_NULL,
        "Why the output did not parse, such as line 3: expected value at column 1, or that it was cut at max_output; the result is then failed and data null. Null otherwise.",
    ),
    var(
        "values",
        &Kind::Map("NAME", &NUMBER_OR_NULL),
        "The numbers its command's values key read from stdout or data, by name, and duration_ms, which every result has: sizes in bytes, durations in milliseconds; null where the output held no number (values.files).",
    ),
    var(
        "values_text",
        &Kind::Map("NAME", &TEXT),
        "The same values as people read them: sizes as df -h shows them (1.5 GiB), duration_ms as a duration (41m 00s), other numbers as they are; no value for null.",
    ),
    var(
        "trends",
        &Kind::Map("NAME", &Kind::List(&NUMBER)),
        "Each value as the command recorded it in the job's last 29 runs, and now, oldest first, in percent of the largest of them, for sparkline (trends.files); empty in previous.",
    ),
    var(
        "expectations",
        &Kind::List(&Kind::Object(&[
            var("value", &TEXT, "The value's name."),
            var(
                "rule",
                &TEXT,
                "The rule: min, max, change or anomaly; value when the output held no number for it.",
            ),
            var("ok", &BOOLEAN, "Whether the value keeps it."),
            var(
                "text",
                &TEXT,
                "The judgement in words, such as files 42 → 99 (+136%, change > 50%) or duration_ms 3s (median 41m 00s; anomaly > 4).",
            ),
        ])),
        "The judgements of the command's expect rules, the failed ones first; a failed one makes the result failed. A rule with nothing to judge against yet (no previous value, fewer than 5 earlier values of ok results) adds none. Empty in previous.",
    ),
    var(
        "stdout_attachment",
        &TEXT_OR_NULL,
        "The name of the attachment that holds all of stdout, when it was longer than mail.attach_output_over; stdout then holds its first lines and a line saying so.",
    ),
    var("stderr_attachment", &TEXT_OR_NULL, "The same for stderr."),
]);

/// `summary` of a job's results.
pub static SUMMARY: Kind = Kind::Object(&[
    var("total", &NUMBER, "How many results there are."),
    var("ok", &NUMBER, "How many are ok."),
    var("failed", &NUMBER, "How many failed."),
    var("timeout", &NUMBER, "How many timed out."),
    var("error", &NUMBER, "How many are errors."),
    var(
        "duration_ms",
        &NUMBER,
        "How long the job ran, in milliseconds.",
    ),
    var("all_ok", &BOOLEAN, "Whether every result is ok."),
    var(
        "status",
        &TEXT,
        "The worst status of the results: error, then timeout, then failed, then ok.",
    ),
    var(
        "failed_expectation",
        &TEXT_OR_NULL,
        "The worst failed expectation, such as files 42 → 99 (+136%, change > 50%): the first failed expectation of the first result with the worst status (the one worst results gives); null when that result has none.",
    ),
]);

/// `run`.
pub static RUN: Kind = Kind::Object(&[
    var("id", &TEXT, "The run's id, as reporter history shows it."),
    var(
        "started_at",
        &TEXT,
        "When the job started (RFC 3339, in the configured time zone).",
    ),
    var("finished_at", &TEXT, "When it finished."),
    var(
        "since",
        &TEXT,
        "Where the window the run covers starts (RFC 3339, UTC): when the job's last recorded run started, or since_default before now for its first; REPORTER_SINCE in the commands' environment. In a digest, the earliest of its jobs'.",
    ),
    var("trigger", &TEXT, "What started it: manual, cron or daemon."),
    var(
        "interrupted",
        &BOOLEAN,
        "Whether SIGINT or SIGTERM stopped the run before its commands finished.",
    ),
    var(
        "recovered",
        &BOOLEAN,
        "Whether every result is ok after the job's last run was not (send: on-failure mails this run).",
    ),
]);

static HOSTS: Kind = Kind::List(&Kind::Object(&[
    var("name", &TEXT, "The host."),
    var("summary", &SUMMARY, "Its results counted."),
    var("results", &RESULTS, "Its results."),
]));

static RESULTS: Kind = Kind::List(&RESULT);
static PREVIOUS: Kind = Kind::OrNull(&RESULTS);

const HOSTS_ABOUT: &str = "The results grouped by host, in the order the job lists its hosts; empty for a job without hosts.";
const PREVIOUS_ABOUT: &str = "The results of the job's last recorded run: stdout and stderr as that run printed them (null for a run recorded before they were kept), attempts, changed, diff, data, parse_error and the attachments null, matches, trends and expectations empty, values as that run recorded them. Null when the job has no recorded run.";

/// The context of a job's templates, subject and addresses.
pub static JOB_CONTEXT: Kind = Kind::Object(&[
    var("job", &JOB, "The job."),
    var(
        "host",
        &HOST,
        "The machine reporter runs on. hostname and fqdn are always there; the rest is read only when a template of the job reads it.",
    ),
    var(
        "results",
        &RESULTS,
        "A result per command (and host and target), in the order the job lists its commands.",
    ),
    var("summary", &SUMMARY, "The results counted."),
    var("hosts", &HOSTS, HOSTS_ABOUT),
    var("run", &RUN, "The run."),
    var("previous", &PREVIOUS, PREVIOUS_ABOUT),
    var(
        "disk_history",
        &Kind::Map(
            "MOUNT",
            &Kind::List(&Kind::Object(&[
                var("percent", &NUMBER, "The disk's used percentage then."),
                var(
                    "at",
                    &TEXT,
                    "When that run started (RFC 3339, in the configured time zone).",
                ),
            ])),
        ),
        "Each disk's usage in the job's earlier runs (at most 13), oldest first, by mount; every mount of host.disks is a key.",
    ),
    var(
        "node",
        &TEXT_OR_NULL,
        "With mail.per_host, the host the message is about, as the job writes it (localhost for a job without hosts); null otherwise.",
    ),
    var(
        "section",
        &BOOLEAN,
        "Whether the report is rendered as a section of a digest.",
    ),
]);

/// The context of the digest template: the run, and a section per job.
pub static DIGEST_CONTEXT: Kind = Kind::Object(&[
    var("host", &HOST, "The machine, as for a job."),
    var(
        "run",
        &RUN,
        "The whole run: started_at is when it started, finished_at when the digest was composed; recovered is false.",
    ),
    var(
        "summary",
        &Kind::Object(&[
            var("jobs", &NUMBER, "How many jobs there are."),
            var("ok", &NUMBER, "How many jobs have only ok results."),
            var(
                "failed",
                &NUMBER,
                "How many jobs have failed as their worst status.",
            ),
            var(
                "timeout",
                &NUMBER,
                "How many jobs have timeout as their worst status.",
            ),
            var(
                "error",
                &NUMBER,
                "How many jobs have error as their worst status.",
            ),
            var("recovered", &NUMBER, "How many jobs recovered."),
            var(
                "all_ok",
                &BOOLEAN,
                "Whether every result of every job is ok.",
            ),
            var("status", &TEXT, "The worst status of all."),
        ]),
        "The jobs counted by their worst status.",
    ),
    var(
        "jobs",
        &Kind::List(&Kind::Object(&[
            var("job", &JOB, "The job."),
            var("summary", &SUMMARY, "Its results counted."),
            var("results", &RESULTS, "Its results."),
            var("hosts", &HOSTS, HOSTS_ABOUT),
            var("run", &RUN, "Its run."),
            var("previous", &PREVIOUS, PREVIOUS_ABOUT),
            var(
                "text",
                &TEXT,
                "Its report, rendered by its text template with section true.",
            ),
            var(
                "html",
                &TEXT_OR_NULL,
                "Its report rendered by its HTML template; null when it has none.",
            ),
        ])),
        "A section per job whose send rule lets its report out, the worst status first.",
    ),
]);

/// The shape `check` follows templates through, of a context of `kind`.
fn shape(kind: &Kind) -> Rc<Shape> {
    match kind {
        Kind::Scalar(_) => Rc::new(Shape::Scalar),
        Kind::Object(variables) => Rc::new(Shape::Object(
            variables.iter().map(|v| (v.name, shape(v.kind))).collect(),
        )),
        Kind::List(item) => list(shape(item)),
        Kind::Map(_, value) => Rc::new(Shape::Map(shape(value))),
        Kind::OrNull(kind) => shape(kind),
        Kind::Any(_) => Rc::new(Shape::Any),
    }
}

/// The context of a job's templates, subject and addresses.
pub fn job_context() -> Rc<Shape> {
    shape(&JOB_CONTEXT)
}

/// The context of the digest template.
pub fn digest_context() -> Rc<Shape> {
    shape(&DIGEST_CONTEXT)
}

fn object(keys: &[(&'static str, Rc<Shape>)]) -> Rc<Shape> {
    Rc::new(Shape::Object(keys.iter().cloned().collect()))
}

fn list(item: Rc<Shape>) -> Rc<Shape> {
    Rc::new(Shape::List(item))
}

/// The shape of what helper `name` returns when given `params` (their shapes), where it
/// is a value templates go into (`{{#with (worst results)}}`).
pub fn helper_result(name: &str, params: &[Rc<Shape>]) -> Rc<Shape> {
    let Some(helper) = helpers::find(name) else {
        return Rc::new(Shape::Any);
    };
    let item = || params.first().map_or(Rc::new(Shape::Any), |p| p.item());
    match helper.gives {
        Gives::Scalar => Rc::new(Shape::Scalar),
        Gives::Item => item(),
        Gives::Groups => list(object(&[
            ("value", Rc::new(Shape::Any)),
            ("count", Rc::new(Shape::Scalar)),
            ("items", list(item())),
        ])),
        Gives::Lines => list(Rc::new(Shape::Scalar)),
        Gives::Items => list(item()),
        Gives::Tally => list(object(&[
            ("value", Rc::new(Shape::Any)),
            ("count", Rc::new(Shape::Scalar)),
        ])),
        Gives::Lookup => match (params.first(), params.get(1)) {
            (Some(from), Some(_)) => match from.as_ref() {
                Shape::List(item) | Shape::Map(item) => Rc::clone(item),
                _ => Rc::new(Shape::Any),
            },
            _ => Rc::new(Shape::Any),
        },
        Gives::Unknown => Rc::new(Shape::Any),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{
        Context, DiskSample, Facts, HostReport, JobInfo, PreviousResult, RunInfo, Scope, Status,
        Summary, TaskResult, Trigger,
    };
    use crate::schedule::Zone;

    /// Every key path of `value` that `shape` does not know (lists by their items).
    fn unknown(value: &serde_json::Value, shape: &Shape, at: &str, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    match shape.get(key) {
                        Some(next) => unknown(inner, &next, &format!("{at}.{key}"), found),
                        None => found.push(format!("{at}.{key}")),
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    unknown(item, &shape.item(), &format!("{at}[]"), found);
                }
            }
            _ => {}
        }
    }

    /// A context as a run makes it, every optional part there, as templates see it.
    fn real_context() -> serde_json::Value {
        let facts = Facts::gather(Scope::Full, Zone::Local);
        let mut result = TaskResult::fixture("df", Status::Failed, "out", "err");
        result.core.host = Some("web1".into());
        result.matches = vec!["/dev/a 95% /".into()];
        let mut def = crate::config::CommandDef::fixture(&[0], None);
        def.values = vec![crate::config::values::ValueDef {
            name: "files".into(),
            source: crate::config::values::ValueSource::Capture(
                regex::Regex::new(r"(\d+)").unwrap(),
            ),
        }];
        def.expect = vec![crate::config::values::Expect {
            value: "files".into(),
            min: Some(1.0),
            max: None,
            change: None,
            anomaly: None,
            unit: crate::config::values::Unit::Number,
        }];
        result.values = crate::report::values::Values::read(&def, "7", &serde_json::Value::Null, 1);
        result.judge(&def, &[]);
        let results = vec![result.clone()];
        let mounts = facts.system.as_ref().map_or(Vec::new(), |s| {
            s.disks.iter().map(|d| d.mount.clone()).collect()
        });
        let context = Context {
            job: JobInfo {
                name: "j".into(),
                description: Some("d".into()),
                schedule: Some("daily".into()),
            },
            host: std::borrow::Cow::Borrowed(&facts),
            hosts: HostReport::group(&results, 1),
            summary: Summary::of(&results, 1),
            run: RunInfo {
                id: "r".into(),
                started_at: "now".into(),
                finished_at: "now".into(),
                since: "then".into(),
                trigger: Trigger::Manual,
                interrupted: false,
                recovered: false,
            },
            previous: Some(vec![PreviousResult::of(
                &result.core,
                Some("out".into()),
                None,
                &[("files".into(), 42.0)],
            )]),
            disk_history: mounts
                .into_iter()
                .chain(["/".to_owned()])
                .map(|m| {
                    let sample = DiskSample {
                        percent: 5.0,
                        at: "then".into(),
                    };
                    (m, vec![sample])
                })
                .collect(),
            node: Some("web1".into()),
            section: false,
            results,
        };
        serde_json::to_value(&context).unwrap()
    }

    #[test]
    fn the_schema_knows_every_key_of_a_real_context() {
        let value = real_context();
        let mut found = Vec::new();
        unknown(&value, &job_context(), "", &mut found);
        assert!(found.is_empty(), "not in the schema: {found:?}");
        assert!(value["host"]["disks"].is_array(), "{value}");
    }

    /// Every variable of `kind` that `value` does not have (lists and maps by their items).
    fn missing(value: &serde_json::Value, kind: &Kind, at: &str, found: &mut Vec<String>) {
        match (kind, value) {
            (Kind::Object(variables), serde_json::Value::Object(map)) => {
                for variable in *variables {
                    let path = format!("{at}.{}", variable.name);
                    match map.get(variable.name) {
                        Some(inner) => missing(inner, variable.kind, &path, found),
                        None => found.push(path),
                    }
                }
            }
            (Kind::List(item), serde_json::Value::Array(items)) => {
                for inner in items {
                    missing(inner, item, &format!("{at}[]"), found);
                }
            }
            (Kind::Map(key, item), serde_json::Value::Object(map)) => {
                for inner in map.values() {
                    missing(inner, item, &format!("{at}.{key}"), found);
                }
            }
            (Kind::OrNull(kind), value) => missing(value, kind, at, found),
            _ => {}
        }
    }

    #[test]
    fn every_variable_the_manual_lists_is_in_a_real_context() {
        let mut found = Vec::new();
        missing(&real_context(), &JOB_CONTEXT, "", &mut found);
        assert!(found.is_empty(), "not in a context: {found:?}");
    }

    /// Every variable below `kind`, by path, with its meaning.
    fn all(kind: &'static Kind, at: &str, out: &mut Vec<(String, &'static str)>) {
        match kind {
            Kind::Object(variables) => {
                for variable in *variables {
                    let path = format!("{at}.{}", variable.name);
                    out.push((path.clone(), variable.about));
                    all(variable.kind, &path, out);
                }
            }
            Kind::List(item) => all(item, &format!("{at}[]"), out),
            Kind::Map(key, item) => all(item, &format!("{at}.{key}"), out),
            Kind::OrNull(kind) => all(kind, at, out),
            Kind::Scalar(_) | Kind::Any(_) => {}
        }
    }

    #[test]
    fn every_variable_has_a_meaning_in_a_sentence() {
        let mut found = Vec::new();
        all(&JOB_CONTEXT, "", &mut found);
        all(&DIGEST_CONTEXT, "", &mut found);
        assert!(found.len() > 100, "{}", found.len());
        for (path, about) in found {
            assert!(
                about.starts_with(char::is_uppercase) && about.ends_with('.'),
                "{path}: {about:?}"
            );
        }
    }

    #[test]
    fn the_helper_examples_read_a_context_of_the_real_shape() {
        let example: serde_json::Value = serde_json::from_str(helpers::EXAMPLE_CONTEXT).unwrap();
        let mut found = Vec::new();
        unknown(&example, &job_context(), "", &mut found);
        assert!(found.is_empty(), "not in the schema: {found:?}");
    }
}
