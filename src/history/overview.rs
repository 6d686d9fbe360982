//! What `reporter status` and the status page read of the history (reporter(1)): for every
//! job at once, its newest finished runs, how long its last status has lasted, when it
//! was last ok and its values' series, and for the page its last run's results and its
//! disks. A handful of
//! queries for the whole history, never one per job: 1,000 jobs and 100,000 runs are read
//! in tens of milliseconds (docs/performance.md).

use std::collections::{BTreeMap, BTreeSet, HashMap};

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
    /// Each value its newest runs recorded (docs/values.md), by name: one number per run
    /// that had it, oldest first, from the first of the run's results that had it.
    pub values: BTreeMap<String, Vec<f64>>,
    /// The names of its values that were ever read as sizes (bytes).
    pub sizes: BTreeSet<String>,
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

/// Every job's overview, by job name, without the page's [`Extras`].
pub fn read(conn: &Connection) -> rusqlite::Result<HashMap<String, JobOverview>> {
    // Room for the pages these queries visit (a few MiB for 100,000 runs), so that none is
    // read twice from the file: SQLite's default cache is 2 MiB.
    conn.pragma_update(None, "cache_size", -32_768)?;
    let mut jobs = runs(conn)?;
    add_sizes(conn, &mut jobs)?;
    Ok(jobs)
}

/// Marks the values of each job that were ever read as sizes (`value_sizes`).
fn add_sizes(conn: &Connection, jobs: &mut HashMap<String, JobOverview>) -> rusqlite::Result<()> {
    let mut statement = conn.prepare("SELECT job, name FROM value_sizes")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        if let Some(overview) = jobs.get_mut(row.get_ref(0)?.as_str()?) {
            overview.sizes.insert(row.get(1)?);
        }
    }
    Ok(())
}

/// What only the page reads: each job's last run's results, with their outputs, and its
/// newest runs with disks. Independent of [`read`], so read at the same time.
pub struct Extras {
    last_results: Vec<(String, RecordedResult)>,
    disks: Vec<(String, DiskRun)>,
}

/// Every job's [`Extras`].
pub fn read_extras(conn: &Connection) -> rusqlite::Result<Extras> {
    Ok(Extras {
        last_results: last_results(conn)?,
        disks: disk_runs(conn)?,
    })
}

/// Puts `extras` in the overviews of their jobs.
pub fn add_extras(jobs: &mut HashMap<String, JobOverview>, extras: Extras) {
    for (job, result) in extras.last_results {
        if let Some(overview) = jobs.get_mut(&job) {
            overview.last_results.push(result);
        }
    }
    for (job, run) in extras.disks {
        if let Some(overview) = jobs.get_mut(&job) {
            overview.disks.push(run);
        }
    }
}

/// Every job's streak and last ok run, then its newest runs with their values: two queries
/// for all jobs, each a few index lookups per job, whatever the length of its history.
fn runs(conn: &Connection) -> rusqlite::Result<HashMap<String, JobOverview>> {
    let mut jobs: HashMap<String, JobOverview> = HashMap::new();
    let mut statement = conn.prepare(STREAKS)?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let overview = JobOverview {
            runs: Vec::new(),
            streak: u64::try_from(row.get::<_, i64>(1)?).unwrap_or_default(),
            status_since: time(row.get::<_, Option<i64>>(2)?.unwrap_or_default()),
            last_ok: row.get::<_, Option<i64>>(3)?.map(time),
            values: BTreeMap::new(),
            sizes: BTreeSet::new(),
            last_results: Vec::new(),
            disks: Vec::new(),
        };
        jobs.insert(row.get(0)?, overview);
    }
    let mut newest: HashMap<String, Vec<NewestRow>> = HashMap::with_capacity(jobs.len());
    let mut statement = conn.prepare(NEWEST_RUNS)?;
    let mut rows = statement.query([RUNS as i64 - 1])?;
    while let Some(row) = rows.next()? {
        // Looked up by the row's own text: no copy of the job's name per row.
        let job = row.get_ref(0)?.as_str()?;
        if !jobs.contains_key(job) {
            continue;
        }
        let found = NewestRow {
            run: RunPoint {
                status: Status::parse(row.get_ref(1)?.as_str()?),
                started_at: time(row.get(2)?),
                finished_at: time(row.get(3)?),
                duration_ms: u64::try_from(row.get::<_, i64>(4)?).unwrap_or_default(),
            },
            id: row.get(5)?,
            position: row.get(6)?,
            numbers: row.get(7)?,
        };
        match newest.get_mut(job) {
            Some(found_before) => found_before.push(found),
            None => {
                newest.insert(job.to_owned(), vec![found]);
            }
        }
    }
    for (job, rows) in newest {
        if let Some(overview) = jobs.get_mut(&job) {
            add_newest(overview, rows);
        }
    }
    Ok(jobs)
}

/// A time read from the history (milliseconds since the epoch).
fn time(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

/// One row of [`NEWEST_RUNS`]: a run, and one of its results that has values (`position`
/// and `numbers` are NULL for a run with none).
struct NewestRow {
    run: RunPoint,
    id: i64,
    position: Option<i64>,
    numbers: Option<String>,
}

/// Puts a job's newest runs and their values in `overview`, oldest first: `rows` come in any
/// order (sorting 30 runs here is cheaper than SQLite sorting every job's).
fn add_newest(overview: &mut JobOverview, mut rows: Vec<NewestRow>) {
    rows.sort_by_key(|row| (row.run.started_at, row.id, row.position));
    // The run of the previous row, and the values it already gave a number.
    let mut run: Option<i64> = None;
    let mut taken: Vec<String> = Vec::new();
    for row in rows {
        if run != Some(row.id) {
            run = Some(row.id);
            taken.clear();
            overview.runs.push(row.run);
        }
        for (name, number) in crate::history::record::numbers_of(row.numbers) {
            if !taken.contains(&name) {
                overview
                    .values
                    .entry(name.clone())
                    .or_default()
                    .push(number);
                taken.push(name);
            }
        }
    }
    // Runs that started in the same millisecond as the oldest kept one.
    let extra = overview.runs.len().saturating_sub(RUNS);
    overview.runs.drain(..extra);
    for series in overview.values.values_mut() {
        let extra = series.len().saturating_sub(RUNS);
        series.drain(..extra);
    }
}

/// `jobs (job)`, every job that has a run, for a `WITH RECURSIVE`: found with one index
/// lookup per job, hopping over `runs_by_job`, rather than by reading every run's entry. Its
/// last row is NULL.
macro_rules! jobs {
    () => {
        "jobs (job) AS (
            SELECT min(job) FROM runs
            UNION ALL
            SELECT (SELECT min(job) FROM runs WHERE job > jobs.job) FROM jobs WHERE job IS NOT NULL
        )"
    };
}

/// Each job with a finished run: how many of its newest finished runs, in a row, have the
/// newest one's status (every finished run after the newest one with another status, which
/// `runs_by_status` finds with one lookup per status), when the first of them started, and
/// when its newest ok run ended. Skipped fire times are not runs.
const STREAKS: &str = concat!(
    "WITH RECURSIVE ",
    jobs!(),
    ",
    newest AS MATERIALIZED (
        SELECT job, (SELECT status FROM runs WHERE job = jobs.job AND status != 'skipped'
                     ORDER BY started_at DESC, id DESC LIMIT 1) AS status
        FROM jobs WHERE job IS NOT NULL
    ),
    bounds AS MATERIALIZED (
        SELECT job, max(
            CASE WHEN status != 'ok' THEN coalesce((SELECT max(started_at) FROM runs
                WHERE job = newest.job AND status = 'ok'), -1) ELSE -1 END,
            CASE WHEN status != 'failed' THEN coalesce((SELECT max(started_at) FROM runs
                WHERE job = newest.job AND status = 'failed'), -1) ELSE -1 END,
            CASE WHEN status != 'timeout' THEN coalesce((SELECT max(started_at) FROM runs
                WHERE job = newest.job AND status = 'timeout'), -1) ELSE -1 END,
            CASE WHEN status != 'error' THEN coalesce((SELECT max(started_at) FROM runs
                WHERE job = newest.job AND status = 'error'), -1) ELSE -1 END
        ) AS boundary
        FROM newest WHERE status IS NOT NULL
    )
    SELECT job,
        (SELECT count(*) FROM runs WHERE job = bounds.job AND started_at > boundary)
            - (SELECT count(*) FROM runs
               WHERE job = bounds.job AND status = 'skipped' AND started_at > boundary),
        (SELECT started_at FROM runs
         WHERE job = bounds.job AND status != 'skipped' AND started_at > boundary
         ORDER BY started_at LIMIT 1),
        (SELECT finished_at FROM runs WHERE job = bounds.job AND status = 'ok'
         ORDER BY started_at DESC, id DESC LIMIT 1)
    FROM bounds"
);

/// Each job's newest finished runs: those that started no earlier than its `?1`-th newest
/// finished run but one, read from `runs_by_job` alone; each with the values of its results
/// that have some (one row per such result), found through `results_with_numbers`. In no
/// order: [`add_newest`] sorts each job's.
const NEWEST_RUNS: &str = concat!(
    "WITH RECURSIVE ",
    jobs!(),
    "
    SELECT jobs.job, runs.status, runs.started_at, runs.finished_at, runs.duration_ms, runs.id,
           results.position, results.numbers
    FROM jobs
    JOIN runs ON runs.job = jobs.job AND runs.started_at >= coalesce(
        (SELECT started_at FROM runs WHERE job = jobs.job AND status != 'skipped'
         ORDER BY started_at DESC LIMIT 1 OFFSET ?1), -1)
    LEFT JOIN results INDEXED BY results_with_numbers
        ON results.run = runs.id AND results.numbers IS NOT NULL
    WHERE jobs.job IS NOT NULL AND runs.status != 'skipped'"
);

/// The results of each job's last run, with their outputs, in order: the history keeps
/// outputs for each job's last run only, so the partial index holds exactly these.
fn last_results(conn: &Connection) -> rusqlite::Result<Vec<(String, RecordedResult)>> {
    let mut statement = conn.prepare(
        "SELECT runs.job, name, command, host, target, results.status, exit_code, signal,
                results.duration_ms, truncated, results.started_at, digest, stdout, stderr,
                numbers
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
                values: crate::history::record::numbers_of(row.get(14)?),
                sizes: Vec::new(),
            };
            Ok((row.get(0)?, result))
        })?
        .collect()
}

/// Each job's newest runs with disks, oldest first, with their disks in mount order, for the
/// jobs whose last run has disks (a job's template reads them, or does not).
fn disk_runs(conn: &Connection) -> rusqlite::Result<Vec<(String, DiskRun)>> {
    let mut statement = conn.prepare(concat!(
        "WITH RECURSIVE ",
        jobs!(),
        ",
         newest AS MATERIALIZED (
             SELECT job, (SELECT id FROM runs WHERE job = jobs.job AND status != 'skipped'
                          ORDER BY started_at DESC, id DESC LIMIT 1) AS id
             FROM jobs WHERE job IS NOT NULL
         ),
         with_disks AS MATERIALIZED (
             SELECT job FROM newest WHERE EXISTS (SELECT 1 FROM disks WHERE run = newest.id)
         )
         SELECT runs.id, with_disks.job, runs.started_at, disks.mount, disks.percent, disks.used,
                disks.total
         FROM with_disks
         JOIN runs ON runs.job = with_disks.job AND runs.started_at >= coalesce(
             (SELECT started_at FROM runs AS r
              WHERE r.job = with_disks.job AND EXISTS (SELECT 1 FROM disks WHERE run = r.id)
              ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET ?1), -1)
         JOIN disks ON disks.run = runs.id
         ORDER BY with_disks.job, runs.started_at, runs.id, disks.rowid"
    ))?;
    let mut found: Vec<(String, i64, DiskRun)> = Vec::new();
    let mut rows = statement.query([DISK_RUNS as i64 - 1])?;
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
