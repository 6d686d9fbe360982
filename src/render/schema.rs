//! The shape of the template context (reporter-templates(7)), for `check` to tell a variable that can
//! exist from one that cannot (`{{job.nmae}}`) before anything is rendered.

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

fn object(keys: &[(&'static str, Rc<Shape>)]) -> Rc<Shape> {
    Rc::new(Shape::Object(keys.iter().cloned().collect()))
}

fn scalars(names: &[&'static str]) -> Vec<(&'static str, Rc<Shape>)> {
    names
        .iter()
        .map(|name| (*name, Rc::new(Shape::Scalar)))
        .collect()
}

fn list(item: Rc<Shape>) -> Rc<Shape> {
    Rc::new(Shape::List(item))
}

fn with(mut keys: Vec<(&'static str, Rc<Shape>)>, more: &[(&'static str, Rc<Shape>)]) -> Rc<Shape> {
    keys.extend(more.iter().cloned());
    object(&keys)
}

/// One result (`results[]`, `previous[]`, `hosts[].results[]`).
fn result() -> Rc<Shape> {
    with(
        scalars(&[
            "name",
            "command",
            "host",
            "target",
            "status",
            "exit_code",
            "signal",
            "stdout",
            "stderr",
            "duration_ms",
            "truncated",
            "started_at",
            "changed",
            "attempts",
            "diff",
            "stdout_attachment",
            "stderr_attachment",
        ]),
        &[("matches", list(Rc::new(Shape::Scalar)))],
    )
}

fn summary() -> Rc<Shape> {
    object(&scalars(&[
        "total",
        "ok",
        "failed",
        "timeout",
        "error",
        "duration_ms",
        "all_ok",
        "status",
    ]))
}

fn host() -> Rc<Shape> {
    let disk = with(
        scalars(&[
            "mount",
            "device",
            "fs",
            "total",
            "used",
            "available",
            "percent",
            "days_to_full",
        ]),
        &[("trend", list(Rc::new(Shape::Scalar)))],
    );
    with(
        scalars(&[
            "hostname",
            "fqdn",
            "os",
            "kernel",
            "arch",
            "uptime_secs",
            "uptime",
            "boot_time",
            "cpus",
        ]),
        &[
            ("load", object(&scalars(&["one", "five", "fifteen"]))),
            (
                "memory",
                object(&scalars(&["total", "used", "available", "percent"])),
            ),
            ("swap", object(&scalars(&["total", "used", "percent"]))),
            ("disks", list(disk)),
        ],
    )
}

fn run() -> Rc<Shape> {
    object(&scalars(&[
        "id",
        "started_at",
        "finished_at",
        "trigger",
        "interrupted",
        "recovered",
    ]))
}

fn job() -> Rc<Shape> {
    object(&scalars(&["name", "description", "schedule"]))
}

fn hosts() -> Rc<Shape> {
    list(object(&[
        ("name", Rc::new(Shape::Scalar)),
        ("summary", summary()),
        ("results", list(result())),
    ]))
}

/// The context of a job's templates, subject and addresses.
pub fn job_context() -> Rc<Shape> {
    let sample = object(&scalars(&["percent", "at"]));
    object(&[
        ("job", job()),
        ("host", host()),
        ("results", list(result())),
        ("hosts", hosts()),
        ("summary", summary()),
        ("run", run()),
        ("previous", list(result())),
        ("disk_history", Rc::new(Shape::Map(list(sample)))),
        ("node", Rc::new(Shape::Scalar)),
        ("section", Rc::new(Shape::Scalar)),
    ])
}

/// The context of the digest template: the run, and a section per job.
pub fn digest_context() -> Rc<Shape> {
    let section = object(&[
        ("job", job()),
        ("summary", summary()),
        ("results", list(result())),
        ("hosts", hosts()),
        ("run", run()),
        ("previous", list(result())),
        ("text", Rc::new(Shape::Scalar)),
        ("html", Rc::new(Shape::Scalar)),
    ]);
    let summary = object(&scalars(&[
        "jobs",
        "ok",
        "failed",
        "timeout",
        "error",
        "recovered",
        "all_ok",
        "status",
    ]));
    object(&[
        ("host", host()),
        ("run", run()),
        ("summary", summary),
        ("jobs", list(section)),
    ])
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

    #[test]
    fn the_schema_knows_every_key_of_a_real_context() {
        let facts = Facts::gather(Scope::Full, Zone::Local);
        let mut result = TaskResult::fixture("df", Status::Failed, "out", "err");
        result.core.host = Some("web1".into());
        result.matches = vec!["/dev/a 95% /".into()];
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
                trigger: Trigger::Manual,
                interrupted: false,
                recovered: false,
            },
            previous: Some(vec![PreviousResult::of(
                &result.core,
                Some("out".into()),
                None,
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
        let value = serde_json::to_value(&context).unwrap();
        let mut found = Vec::new();
        unknown(&value, &job_context(), "", &mut found);
        assert!(found.is_empty(), "not in the schema: {found:?}");
        assert!(value["host"]["disks"].is_array(), "{value}");
    }
}
