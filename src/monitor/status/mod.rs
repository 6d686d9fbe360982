//! Every job at a glance (docs/status.md): its last status, how long it has lasted, its last
//! ok run, its durations and its next run, gathered in one place from the jobs folder and
//! the history, then shown as the terminal `table`, as JSON (`reporter status --json`, the
//! same shape a fleet reads from each host), or as the self-contained HTML `page`.

pub mod fleet;
pub mod page;
pub mod table;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Config, ConfigError, Job, job};
use crate::history::overview::{Detail, JobOverview};
use crate::history::record::RecordedResult;
use crate::history::silenced::Silenced;
use crate::history::{History, HistoryError};
use crate::report::forecast;
use crate::schedule::Zone;

/// How many durations a job's status holds (`durations`, oldest first).
pub const DURATIONS: usize = 30;

/// One host's status: what `reporter status --json` prints (reporter(1)). Read back from
/// other hosts by a fleet's `status --hosts`, so fields a newer reporter adds are ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostStatus {
    pub host: String,
    pub generated_at: String,
    pub jobs: Vec<JobStatus>,
}

impl HostStatus {
    /// The status with every control character of its text (an escape sequence a terminal
    /// would obey, a line break) shown as `\u{FFFD}`: what another host answers is its own
    /// to write, and is printed on an administrator's terminal.
    pub fn printable(self) -> HostStatus {
        let text = |value: String| printable(&value);
        let maybe = |value: Option<String>| value.map(text);
        HostStatus {
            host: text(self.host),
            generated_at: text(self.generated_at),
            jobs: self
                .jobs
                .into_iter()
                .map(|job| JobStatus {
                    job: text(job.job),
                    status: maybe(job.status),
                    status_since: maybe(job.status_since),
                    last_run: maybe(job.last_run),
                    last_ok: maybe(job.last_ok),
                    next_run: maybe(job.next_run),
                    values: job
                        .values
                        .into_iter()
                        .map(|(name, series)| (text(name), series))
                        .collect(),
                    units: job
                        .units
                        .into_iter()
                        .map(|(name, unit)| (text(name), text(unit)))
                        .collect(),
                    silenced: job.silenced.map(|s| SilencedStatus {
                        until: text(s.until),
                        reason: text(s.reason),
                    }),
                    ..job
                })
                .collect(),
        }
    }
}

/// `text` with each control character replaced by `\u{FFFD}`.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// One job's status. Times are RFC 3339 in the configuration's time zone; `status` is null
/// for a job that has never run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobStatus {
    pub job: String,
    pub status: Option<String>,
    /// When the first of the last runs with the same status started.
    pub status_since: Option<String>,
    /// How many of the newest runs, in a row, have `status`.
    pub streak: u64,
    /// When the last run started.
    pub last_run: Option<String>,
    /// When the last ok run ended.
    pub last_ok: Option<String>,
    /// How long the last run took.
    pub duration_ms: Option<u64>,
    /// The newest runs' durations, oldest first, at most [`DURATIONS`].
    pub durations: Vec<u64>,
    /// The next fire time of a scheduled, enabled job on this host.
    pub next_run: Option<String>,
    /// Each of its values (docs/values.md) in its newest runs, oldest first, at most
    /// [`DURATIONS`] (the durations are `durations`).
    #[serde(default)]
    pub values: BTreeMap<String, Vec<f64>>,
    /// The unit of each of `values` that has one: `bytes` for a value read as a size.
    #[serde(default)]
    pub units: BTreeMap<String, String>,
    /// The silence or maintenance window it is in now (docs/silences.md).
    #[serde(default)]
    pub silenced: Option<SilencedStatus>,
    /// What only the page shows; never in the JSON.
    #[serde(skip)]
    pub page: Option<PageDetail>,
}

/// Until when a job is silenced, and by what: `ID: reason` for a silence,
/// `maintenance: NAME` for a window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SilencedStatus {
    pub until: String,
    pub reason: String,
}

/// What the page shows of a job beyond its JSON.
#[derive(Debug, Clone, Default)]
pub struct PageDetail {
    pub description: Option<String>,
    /// `enabled: false`: run only by hand.
    pub enabled: bool,
    /// The newest runs, oldest first.
    pub runs: Vec<RunCell>,
    /// The last run's results with their outputs, as the history keeps them.
    pub results: Vec<RecordedResult>,
    /// Each disk of the job's last run with disks, with its forecast.
    pub disks: Vec<DiskForecast>,
}

/// One run as a cell of the page.
#[derive(Debug, Clone)]
pub struct RunCell {
    pub started_at: String,
    pub status: &'static str,
    pub duration_ms: u64,
}

/// One disk's usage in a job's last run with disks, and when it would be full.
#[derive(Debug, Clone)]
pub struct DiskForecast {
    pub mount: String,
    pub percent: f64,
    /// `percent` in the newest runs with disks, oldest first.
    pub trend: Vec<f64>,
    pub days_to_full: Option<f64>,
}

/// What a status shows: the jobs asked for (by name; every job when empty), and whether
/// the page's detail is read too.
pub struct Selection<'a> {
    pub names: &'a [String],
    pub detail: Detail,
}

/// The status of this host's jobs (every job file's name, sorted, or the ones `selection`
/// names), from the history and the job files. A job file that does not load still has
/// its history shown; its problem is returned to be reported. A name that is no job is
/// an error.
pub fn gather(
    config: &Config,
    history: Option<&History>,
    selection: &Selection,
) -> Result<(HostStatus, Vec<ConfigError>), StatusError> {
    let now = Utc::now();
    let hostname = crate::report::facts::hostname();
    // The job files are read while the history is: for a thousand jobs, each takes tens
    // of milliseconds.
    let (jobs, overviews) = std::thread::scope(|scope| {
        let overviews = scope.spawn(|| match history {
            Some(history) => history.overview(selection.detail),
            None => Ok(HashMap::new()),
        });
        let jobs = jobs(config, selection.names);
        let overviews = overviews
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (jobs, overviews)
    });
    let Jobs {
        loaded,
        names,
        problems,
    } = jobs?;
    let mut overviews = overviews?;
    let silenced = Silenced::at(config, history, now);
    let loaded: HashMap<&str, &Job> = loaded.iter().map(|job| (job.name.as_str(), job)).collect();
    let jobs = names
        .into_iter()
        .map(|name| {
            let job = loaded.get(name.as_str()).copied();
            let overview = overviews.remove(&name);
            let mut status = job_status(name, overview.as_ref(), config.timezone);
            status.next_run = job
                .filter(|job| job.enabled)
                .and_then(|job| job.next_run(now, config.timezone, &hostname))
                .map(|t| config.timezone.rfc3339(t));
            status.silenced = silenced.of_job(&status.job).map(|quiet| SilencedStatus {
                until: config.timezone.rfc3339(quiet.until),
                reason: quiet.label.clone(),
            });
            if selection.detail == Detail::Full {
                status.page = Some(page_detail(job, overview, config.timezone, now));
            }
            status
        })
        .collect();
    let host = HostStatus {
        host: hostname,
        generated_at: config.timezone.rfc3339(now),
        jobs,
    };
    Ok((host, problems))
}

/// Why there is no status to show.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("{0}")]
    UnknownJob(String),
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// The job files that load, the names shown (sorted, or as `names` gives them) and the
/// problems of the files that do not load.
struct Jobs {
    loaded: Vec<Job>,
    names: Vec<String>,
    problems: Vec<ConfigError>,
}

fn jobs(config: &Config, names: &[String]) -> Result<Jobs, StatusError> {
    let (loaded, mut problems) = job::load_all(&config.jobs_dir, config);
    let mut all: Vec<String> = job::job_files(&config.jobs_dir, &mut problems)
        .iter()
        .filter_map(|path| path.file_name()?.to_str().and_then(job::job_name))
        .map(str::to_owned)
        .collect();
    all.sort();
    all.dedup();
    // `job_files` meets the problems `load_all` met once more.
    let mut seen = std::collections::HashSet::new();
    problems.retain(|problem| seen.insert(problem.to_string()));
    if names.is_empty() {
        return Ok(Jobs {
            loaded,
            names: all,
            problems,
        });
    }
    for name in names {
        if !all.contains(name) {
            let known = if all.is_empty() {
                "none".to_owned()
            } else {
                all.join(", ")
            };
            return Err(StatusError::UnknownJob(format!(
                "no job `{name}` (known jobs: {known})"
            )));
        }
    }
    // Only the problems of the jobs asked for (and of the folder).
    problems.retain(|problem| {
        let stem = problem.path.file_stem().and_then(|s| s.to_str());
        problem.path == config.jobs_dir || stem.is_some_and(|stem| names.iter().any(|n| n == stem))
    });
    Ok(Jobs {
        loaded,
        names: names.to_vec(),
        problems,
    })
}

/// A job's status from its overview (none: it never ran), without its next run.
fn job_status(job: String, overview: Option<&JobOverview>, zone: Zone) -> JobStatus {
    let last = overview.and_then(|o| o.runs.last());
    let durations = overview.map_or_else(Vec::new, |o| {
        let from = o.runs.len().saturating_sub(DURATIONS);
        o.runs[from..].iter().map(|run| run.duration_ms).collect()
    });
    JobStatus {
        job,
        status: last.map(|run| run.status.as_str().to_owned()),
        status_since: overview.map(|o| zone.rfc3339(o.status_since)),
        streak: overview.map_or(0, |o| o.streak),
        last_run: last.map(|run| zone.rfc3339(run.started_at)),
        last_ok: overview.and_then(|o| o.last_ok).map(|t| zone.rfc3339(t)),
        duration_ms: last.map(|run| run.duration_ms),
        durations,
        next_run: None,
        values: overview.map(|o| o.values.clone()).unwrap_or_default(),
        units: overview.map(units).unwrap_or_default(),
        silenced: None,
        page: None,
    }
}

/// `bytes` for each of the overview's values that was read as a size.
fn units(overview: &JobOverview) -> BTreeMap<String, String> {
    overview
        .values
        .keys()
        .filter(|name| overview.sizes.contains(*name))
        .map(|name| (name.clone(), BYTES.to_owned()))
        .collect()
}

/// The unit of a value read as a size, in [`JobStatus::units`].
pub const BYTES: &str = "bytes";

/// What the page shows beyond the JSON: the runs as cells, the last run's results, the
/// disks' forecast.
fn page_detail(
    job: Option<&Job>,
    overview: Option<JobOverview>,
    zone: Zone,
    now: DateTime<Utc>,
) -> PageDetail {
    let Some(overview) = overview else {
        return PageDetail {
            description: job.and_then(|job| job.description.clone()),
            enabled: job.is_none_or(|job| job.enabled),
            ..PageDetail::default()
        };
    };
    PageDetail {
        description: job.and_then(|job| job.description.clone()),
        enabled: job.is_none_or(|job| job.enabled),
        runs: overview
            .runs
            .iter()
            .map(|run| RunCell {
                started_at: zone.rfc3339(run.started_at),
                status: run.status.as_str(),
                duration_ms: run.duration_ms,
            })
            .collect(),
        disks: disk_forecasts(&overview, now),
        results: overview.last_results,
    }
}

/// The disks of the job's newest run with disks, each with its trend and the day the line
/// through its recorded usage reaches the disk's size.
fn disk_forecasts(overview: &JobOverview, now: DateTime<Utc>) -> Vec<DiskForecast> {
    let Some(newest) = overview.disks.last() else {
        return Vec::new();
    };
    let now = now.timestamp_millis() as f64 / 1000.0;
    newest
        .disks
        .iter()
        .map(|disk| {
            let usage: Vec<_> = overview
                .disks
                .iter()
                .filter_map(|run| {
                    let usage = run.disks.iter().find(|u| u.mount == disk.mount)?;
                    Some((run.started_at.timestamp_millis() as f64 / 1000.0, usage))
                })
                .collect();
            let points: Vec<(f64, f64)> = usage
                .iter()
                .filter_map(|(at, usage)| Some((*at, usage.used? as f64)))
                .collect();
            // The history keeps used bytes and the percentage `df` shows (of used plus
            // available): their ratio is the size at which `df` says 100%.
            let capacity = disk
                .used
                .filter(|_| disk.percent > 0.0)
                .map(|used| used as f64 * 100.0 / disk.percent);
            DiskForecast {
                mount: disk.mount.clone(),
                percent: disk.percent,
                trend: usage.iter().map(|(_, usage)| usage.percent).collect(),
                days_to_full: capacity
                    .and_then(|capacity| forecast::days_to_full(&points, capacity, now)),
            }
        })
        .collect()
}
