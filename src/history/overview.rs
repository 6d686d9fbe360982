//! What `reporter status` and the status page read of the history (reporter(1)): for every
//! job at once, its newest finished runs, how long its last status has lasted and when it
//! was last ok, and for the page its last run's results and its disks. A handful of
//! queries for the whole history, never one per job.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use crate::history::record::{DiskRun, DiskUsage, RecordedResult};
use crate::report::{ResultCore, Status};

/// How many of a job's newest finished runs an overview holds.
pub const RUNS: usize = 30;

/// How many of a job's newest runs with disks an overview holds: as many as a report's
/// disk forecast reads.
pub const DISK_RUNS: usize = crate::report::forecast::TREND_LEN;

/// One finished run, as a cell of the status page and a point of a sparkline.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPoint {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub status: Status,
    pub duration_ms: u64,
}

/// One job's finished runs, as the history holds them.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOverview {
    /// Its newest [`RUNS`] finished runs, oldest first (skipped fire times are not runs).
    pub runs: Vec<RunPoint>,
    /// How many of its newest finished runs, in a row, have the last one's status.
    pub streak: u64,
    /// When the oldest run of that streak started.
    pub status_since: DateTime<Utc>,
    /// When its newest ok run ended.
    pub last_ok: Option<DateTime<Utc>>,
    /// Its last run's results, with their outputs ([`Detail::Full`] only).
    pub last_results: Vec<RecordedResult>,
    /// Its newest [`DISK_RUNS`] runs with disks, oldest first ([`Detail::Full`] only).
    pub disks: Vec<DiskRun>,
}

/// How much an overview reads: the runs alone (the terminal and JSON), or with the last
/// run's outputs and the disks (the page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    Runs,
    Full,
}

/// Every job's overview, by job name.
pub fn read(conn: &Connection, detail: Detail) -> rusqlite::Result<HashMap<String, JobOverview>> {
    let mut jobs = runs(conn)?;
    if detail == Detail::Full {
        for (job, result) in last_results(conn)? {
            if let Some(overview) = jobs.get_mut(&job) {
                overview.last_results.push(result);
            }
        }
        for (job, run) in disk_runs(conn)? {
            if let Some(overview) = jobs.get_mut(&job) {
                overview.disks.push(run);
            }
        }
    }
    Ok(jobs)
}

/// The newest runs of every job, its streak and its last ok run, in one pass over the
/// runs: each job's runs numbered newest first (the `runs_by_job` index gives them in
/// order), the streak ending where a status first differs from the newest one.
fn runs(conn: &Connection) -> rusqlite::Result<HashMap<String, JobOverview>> {
    let mut statement = conn.prepare(
        "WITH ranked AS (
             SELECT job, status, started_at, finished_at, duration_ms,
                    row_number() OVER newest AS n,
                    first_value(status) OVER newest AS last
             FROM runs WHERE status != 'skipped'
             WINDOW newest AS (PARTITION BY job ORDER BY started_at DESC, id DESC)
         ),
         bounds AS (
             SELECT job,
                    coalesce(min(CASE WHEN status != last THEN n END) - 1, count(*)) AS streak,
                    max(CASE WHEN status = 'ok' THEN finished_at END) AS last_ok
             FROM ranked GROUP BY job
         )
         SELECT ranked.job, n, status, started_at, finished_at, duration_ms, streak, last_ok
         FROM ranked JOIN bounds ON bounds.job = ranked.job
         WHERE n <= ?1 OR n = streak
         ORDER BY ranked.job, n DESC",
    )?;
    let time = |millis: i64| DateTime::from_timestamp_millis(millis).unwrap_or_default();
    let mut jobs: HashMap<String, JobOverview> = HashMap::new();
    let mut rows = statement.query([RUNS as i64])?;
    while let Some(row) = rows.next()? {
        let job: String = row.get(0)?;
        let n: i64 = row.get(1)?;
        let streak: i64 = row.get(6)?;
        let point = RunPoint {
            status: Status::parse(&row.get::<_, String>(2)?),
            started_at: time(row.get(3)?),
            finished_at: time(row.get(4)?),
            duration_ms: u64::try_from(row.get::<_, i64>(5)?).unwrap_or_default(),
        };
        let last_ok = row.get::<_, Option<i64>>(7)?.map(time);
        let overview = jobs.entry(job).or_insert_with(|| JobOverview {
            runs: Vec::new(),
            streak: u64::try_from(streak).unwrap_or_default(),
            status_since: point.started_at,
            last_ok,
            last_results: Vec::new(),
            disks: Vec::new(),
        });
        if n == streak {
            overview.status_since = point.started_at;
        }
        if n <= RUNS as i64 {
            overview.runs.push(point);
        }
    }
    Ok(jobs)
}

/// The results of each job's last run, with their outputs, in order: the history keeps
/// outputs for each job's last run only, so the partial index holds exactly these.
fn last_results(conn: &Connection) -> rusqlite::Result<Vec<(String, RecordedResult)>> {
    let mut statement = conn.prepare(
        "SELECT runs.job, name, command, host, target, results.status, exit_code, signal,
                results.duration_ms, truncated, results.started_at, digest, stdout, stderr
         FROM results INDEXED BY results_with_output JOIN runs ON runs.id = results.run
         WHERE stdout IS NOT NULL OR stderr IS NOT NULL
         ORDER BY runs.job, results.run, position",
    )?;
    statement
        .query_map([], |row| {
            let result = RecordedResult {
                core: ResultCore {
                    name: row.get(1)?,
                    command: row.get(2)?,
                    host: row.get(3)?,
                    target: row.get(4)?,
                    status: Status::parse(&row.get::<_, String>(5)?),
                    exit_code: row.get(6)?,
                    signal: row.get(7)?,
                    duration_ms: u64::try_from(row.get::<_, i64>(8)?).unwrap_or_default(),
                    truncated: row.get(9)?,
                    started_at: row.get(10)?,
                },
                fingerprint: row.get(11)?,
                stdout: row.get(12)?,
                stderr: row.get(13)?,
            };
            Ok((row.get(0)?, result))
        })?
        .collect()
}

/// Each job's newest runs with disks, oldest first, with their disks in mount order.
fn disk_runs(conn: &Connection) -> rusqlite::Result<Vec<(String, DiskRun)>> {
    let mut statement = conn.prepare(
        "WITH ranked AS (
             SELECT id, job, started_at,
                    row_number() OVER (PARTITION BY job ORDER BY started_at DESC, id DESC) AS n
             FROM runs WHERE id IN (SELECT DISTINCT run FROM disks)
         )
         SELECT ranked.id, job, started_at, mount, percent, used, total
         FROM ranked JOIN disks ON disks.run = ranked.id
         WHERE n <= ?1
         ORDER BY job, started_at, ranked.id, disks.rowid",
    )?;
    let mut found: Vec<(String, i64, DiskRun)> = Vec::new();
    let mut rows = statement.query([DISK_RUNS as i64])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        if found.last().is_none_or(|(_, last, _)| *last != id) {
            let run = DiskRun {
                started_at: DateTime::from_timestamp_millis(row.get(2)?).unwrap_or_default(),
                disks: Vec::new(),
            };
            found.push((row.get(1)?, id, run));
        }
        if let Some((_, _, run)) = found.last_mut() {
            let unsigned = |n: Option<i64>| n.map(|n| u64::try_from(n).unwrap_or_default());
            run.disks.push(DiskUsage {
                mount: row.get(3)?,
                percent: row.get(4)?,
                used: unsigned(row.get(5)?),
                total: unsigned(row.get(6)?),
            });
        }
    }
    Ok(found.into_iter().map(|(job, _, run)| (job, run)).collect())
}
