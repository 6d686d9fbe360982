//! The run history: every run of every job in `state_dir/history.sqlite3` (docs/history.md).
//!
//! Cron, the daemon and people at a shell may all run reporter at once, so every
//! operation opens its own connection, works in one short transaction and closes it:
//! WAL lets readers and one writer proceed together and the busy timeout queues writers.
//! The history is a convenience next to the mail: a missing or corrupt database is
//! reported, moved aside and started afresh, and never stops a report from going out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior};
use tracing::error;

use crate::config::values::DURATION;
use crate::history::overview::{self, Detail, JobOverview};
use crate::history::pending::{Pending, PendingError};
use crate::history::record::{
    DiskRun, DiskUsage, Recent, RecordedResult, RunRecord, RunStatus, Streak, numbers_of,
};
use crate::history::schema::{self, SchemaError};
use crate::report::expect::{Earlier, ValueHistory};
use crate::report::values::{Named, Number};
use crate::report::{ResultCore, Status, Summary, Trigger};
use crate::state::private::{self, Access};

pub const FILE_NAME: &str = "history.sqlite3";

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The write-ahead log's size above which a write checkpoints it ([`History::bound_log`]):
/// about 64 pages, read in well under a millisecond when a process opens the database.
const LOG_LIMIT: u64 = 256 << 10;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history `{path}`: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The runs could not be recorded now, and wait in the state folder for the next write.
    #[error(
        "history `{path}`: {source}: the run is kept in `{dir}` and recorded by the next run ({waiting} waiting)",
        path = path.display(), dir = dir.display()
    )]
    Kept {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
        dir: PathBuf,
        waiting: usize,
    },
    #[error("history `{path}`: {source}, and the run is not recorded: {reason}", path = path.display())]
    NotKept {
        path: PathBuf,
        source: rusqlite::Error,
        reason: Box<PendingError>,
    },
    #[error("history `{path}`: cannot create it: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("history `{path}`: cannot create its folder: {source}")]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "history `{path}`: written by a newer reporter (schema {found}, this one knows {known}); left alone"
    )]
    Newer {
        path: PathBuf,
        found: i64,
        known: usize,
    },
}

/// The history database of one state folder.
/// The last finished run of one job, as `metrics_file` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobGauges {
    pub job: String,
    /// When its last finished run ended (milliseconds since the epoch).
    pub last_run_ms: i64,
    pub duration_ms: i64,
    pub status: Status,
    /// When its last all-ok run ended.
    pub last_success_ms: Option<i64>,
    /// Finished runs not ok since the last ok one.
    pub consecutive_failures: u64,
    /// The values of its last finished run that held a number (docs/values.md).
    pub values: Vec<ValueGauge>,
}

/// One value of a job's last finished run, as `reporter_value` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueGauge {
    /// The result's command name, and its host and target when it has them.
    pub command: String,
    pub host: Option<String>,
    pub target: Option<String>,
    pub name: String,
    pub value: f64,
}

#[derive(Debug, Clone)]
pub struct History {
    path: PathBuf,
    keep: chrono::Duration,
    /// The runs that could not be recorded when they ended, recorded by the next write.
    pending: Pending,
    /// The connection [`History::last_starts`] opened, handed to the next read (a run's
    /// lookups, moments later) so that a run opens the database once to read it. Never
    /// kept past that read: a daemon must not hold a database that may be replaced.
    handover: Arc<Mutex<Option<Connection>>>,
}

impl History {
    pub fn new(state_dir: &Path, history_days: u32) -> History {
        History {
            path: state_dir.join(FILE_NAME),
            keep: chrono::Duration::days(i64::from(history_days)),
            pending: Pending::new(state_dir),
            handover: Arc::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records `runs` in one transaction and prunes what is older than `history_days`.
    /// When the database stays locked past the busy timeout (or is full), the runs are
    /// kept in the state folder for the next write ([`HistoryError::Kept`]), so that the
    /// next run's `previous` and streaks still count them.
    pub fn record(&self, runs: &[RunRecord]) -> Result<(), HistoryError> {
        let written = self.write(|tx| {
            for run in runs {
                insert(tx, run)?;
            }
            let cutoff = (Utc::now() - self.keep).timestamp_millis();
            tx.execute("DELETE FROM runs WHERE started_at < ?1", [cutoff])?;
            Ok(())
        });
        match written {
            Err(HistoryError::Sqlite { path, source }) if can_wait(&source) => {
                match self.pending.keep(runs) {
                    Ok(waiting) => Err(HistoryError::Kept {
                        path,
                        source,
                        dir: self.pending.dir().to_owned(),
                        waiting,
                    }),
                    Err(reason) => Err(HistoryError::NotKept {
                        path,
                        source,
                        reason: Box::new(reason),
                    }),
                }
            }
            other => other,
        }
    }

    /// Records the runs waiting in the state folder, if any, before the history is read
    /// for a new run: a failure leaves them waiting, and is only reported.
    fn record_pending(&self) {
        if self.pending.list().is_empty() {
            return;
        }
        if let Err(e) = self.write(|_| Ok(())) {
            tracing::warn!(
                "{e}; the runs kept in `{}` are not in `previous` yet",
                self.pending.dir().display()
            );
        }
    }

    /// Marks run `run_id` of `job` as sent: its mail, spooled when the run ended, has been
    /// delivered since. Nothing to do without a database.
    pub fn mark_sent(&self, run_id: &str, job: &str) -> Result<(), HistoryError> {
        self.mark_all_sent(&[(run_id, job)])
    }

    /// [`History::mark_sent`] for many runs, in one transaction (a flush of many messages).
    pub fn mark_all_sent(&self, runs: &[(&str, &str)]) -> Result<(), HistoryError> {
        if runs.is_empty() || !self.path.exists() {
            return Ok(());
        }
        self.write(|tx| {
            let mut statement =
                tx.prepare_cached("UPDATE runs SET sent = 1 WHERE run_id = ?1 AND job = ?2")?;
            for (run_id, job) in runs {
                statement.execute([run_id, job])?;
            }
            Ok(())
        })
    }

    /// The last finished run of `job`, with its results: what `previous` and the send
    /// rules compare a new run with. Skipped fire times are not runs here.
    pub fn last_run(&self, job: &str) -> Result<Option<RunRecord>, HistoryError> {
        self.read(|conn| last_run(conn, job)).map(Option::flatten)
    }

    /// For each of `jobs`, its last finished run, the disk usage of its newest `disk_runs`
    /// runs and the values of its newest runs, as many as it names with it: one
    /// connection for a whole run's jobs.
    pub fn recent(
        &self,
        jobs: &[(String, usize)],
        disk_runs: usize,
    ) -> Result<HashMap<String, Recent>, HistoryError> {
        self.record_pending();
        self.read(|conn| {
            let mut recent = HashMap::new();
            let mut statement = conn.prepare_cached(
                "SELECT runs.id, runs.started_at, disks.mount, disks.percent, disks.used,
                        disks.total
                 FROM (SELECT id, started_at FROM runs
                       WHERE job = ?1 AND EXISTS (SELECT 1 FROM disks WHERE run = runs.id)
                       ORDER BY started_at DESC, id DESC LIMIT ?2) AS runs
                 JOIN disks ON disks.run = runs.id
                 ORDER BY runs.started_at, runs.id, disks.rowid",
            )?;
            for (job, value_runs) in jobs {
                let limit = i64::try_from(disk_runs).unwrap_or(i64::MAX);
                let mut disks: Vec<(i64, DiskRun)> = Vec::new();
                let mut rows = statement.query(rusqlite::params![job, limit])?;
                while let Some(row) = rows.next()? {
                    let id: i64 = row.get(0)?;
                    if disks.last().is_none_or(|(last, _)| *last != id) {
                        let started_at =
                            DateTime::from_timestamp_millis(row.get(1)?).unwrap_or_default();
                        disks.push((
                            id,
                            DiskRun {
                                started_at,
                                disks: Vec::new(),
                            },
                        ));
                    }
                    if let Some((_, run)) = disks.last_mut() {
                        run.disks.push(DiskUsage {
                            mount: row.get(2)?,
                            percent: row.get(3)?,
                            used: optional_unsigned(row, 4)?,
                            total: optional_unsigned(row, 5)?,
                        });
                    }
                }
                let entry = Recent {
                    last: last_run(conn, job)?,
                    disks: disks.into_iter().map(|(_, run)| run).collect(),
                    streak: Some(streak(conn, job)?),
                    values: value_history(conn, job, *value_runs)?,
                };
                recent.insert(job.clone(), entry);
            }
            Ok(recent)
        })
        .map(|read| {
            // No database yet: every job is at its first run, with no failures to count.
            read.unwrap_or_else(|| {
                jobs.iter()
                    .map(|(job, _)| {
                        let first = Recent {
                            streak: Some(Streak::default()),
                            ..Recent::default()
                        };
                        (job.clone(), first)
                    })
                    .collect()
            })
        })
    }

    /// When `job` last came due, whether it ran or was skipped: for `catch_up`.
    pub fn last_started(&self, job: &str) -> Result<Option<DateTime<Utc>>, HistoryError> {
        self.read(|conn| {
            let millis: Option<i64> = conn.query_row(
                "SELECT max(started_at) FROM runs WHERE job = ?1",
                [job],
                |row| row.get(0),
            )?;
            Ok(millis.and_then(DateTime::from_timestamp_millis))
        })
        .map(Option::flatten)
    }

    /// For each of `jobs` that has run, when its newest run started (skipped fire times are
    /// not runs here): the start of the window its next run covers. The runs still waiting
    /// in the state folder are recorded first, and counted even if that fails. One indexed
    /// lookup per job, read before the commands start.
    pub fn last_starts(
        &self,
        jobs: &[&str],
    ) -> Result<HashMap<String, DateTime<Utc>>, HistoryError> {
        self.record_pending();
        let mut starts = self
            .read_and_hand_over(|conn| {
                let mut statement = conn.prepare_cached(
                    "SELECT started_at FROM runs WHERE job = ?1 AND status != 'skipped'
                     ORDER BY started_at DESC LIMIT 1",
                )?;
                let mut starts = HashMap::new();
                for job in jobs {
                    let millis: Option<i64> =
                        statement.query_row([job], |row| row.get(0)).optional()?;
                    if let Some(start) = millis.and_then(DateTime::from_timestamp_millis) {
                        starts.insert((*job).to_owned(), start);
                    }
                }
                Ok(starts)
            })?
            .unwrap_or_default();
        for file in self.pending.list() {
            let Ok(run) = Pending::read(&file) else {
                continue;
            };
            if run.status != RunStatus::Skipped && jobs.contains(&run.job.as_str()) {
                let start = starts.entry(run.job).or_insert(run.started_at);
                *start = (*start).max(run.started_at);
            }
        }
        Ok(starts)
    }

    /// The newest `limit` runs (of `job`, or of every job), newest first, without results.
    pub fn runs(&self, job: Option<&str>, limit: usize) -> Result<Vec<RunRecord>, HistoryError> {
        self.read(|conn| {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            // Two statements, so that each walks its index newest first and stops at
            // `limit` (`?1 IS NULL OR job = ?1` would make SQLite scan every run).
            let (mut statement, params) = match job {
                Some(job) => (
                    conn.prepare(&format!(
                        "SELECT {RUN_COLUMNS} FROM runs WHERE job = ?1
                         ORDER BY started_at DESC, id DESC LIMIT ?2"
                    ))?,
                    rusqlite::params_from_iter(vec![
                        rusqlite::types::Value::from(job.to_owned()),
                        limit.into(),
                    ]),
                ),
                None => (
                    conn.prepare(&format!(
                        "SELECT {RUN_COLUMNS} FROM runs ORDER BY started_at DESC, id DESC LIMIT ?1"
                    ))?,
                    rusqlite::params_from_iter(vec![rusqlite::types::Value::from(limit)]),
                ),
            };
            let runs = statement
                .query_map(params, run_row)?
                .map(|row| row.map(|(_, run)| run))
                .collect::<Result<_, _>>()?;
            Ok(runs)
        })
        .map(Option::unwrap_or_default)
    }

    /// The status of each of `jobs`' last finished run (for `list`): one connection and
    /// one indexed lookup per job, without reading any results.
    pub fn last_statuses(&self, jobs: &[&str]) -> Result<HashMap<String, RunStatus>, HistoryError> {
        self.read(|conn| {
            let mut statement = conn.prepare(
                "SELECT status FROM runs WHERE job = ?1 AND status != 'skipped'
                 ORDER BY started_at DESC, id DESC LIMIT 1",
            )?;
            let mut statuses = HashMap::new();
            for &job in jobs {
                if let Some(status) = statement
                    .query_row([job], |row| row.get::<_, String>(0))
                    .optional()?
                {
                    statuses.insert(job.to_owned(), RunStatus::parse(&status));
                }
            }
            Ok(statuses)
        })
        .map(Option::unwrap_or_default)
    }

    /// Every job's newest runs, streak and last ok run (with `Detail::Full`, also its last
    /// run's results and its disks), by job name: what `status` and the status page show.
    /// A few queries for every job at once; nothing yet without a database.
    pub fn overview(&self, detail: Detail) -> Result<HashMap<String, JobOverview>, HistoryError> {
        if detail == Detail::Runs {
            return self.read(overview::read).map(Option::unwrap_or_default);
        }
        // The page's extras on a connection of their own, while the runs are read.
        let (jobs, extras) = std::thread::scope(|scope| {
            let extras = scope.spawn(|| self.read(overview::read_extras));
            let jobs = self.read(overview::read);
            let extras = extras
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (jobs, extras)
        });
        let mut jobs = jobs?.unwrap_or_default();
        if let Some(extras) = extras? {
            overview::add_extras(&mut jobs, extras);
        }
        Ok(jobs)
    }

    /// What `metrics_file` shows of every job with a finished run (docs/monitoring.md): three
    /// indexed queries for all jobs, by job name.
    pub fn gauges(&self) -> Result<Vec<JobGauges>, HistoryError> {
        self.read(|conn| {
            let mut gauges: Vec<JobGauges> = conn
                .prepare(
                    "SELECT job, finished_at, duration_ms, status FROM runs AS r
                     WHERE id = (SELECT id FROM runs WHERE job = r.job AND status != 'skipped'
                                 ORDER BY started_at DESC, id DESC LIMIT 1)
                     ORDER BY job",
                )?
                .query_map([], |row| {
                    Ok(JobGauges {
                        job: row.get(0)?,
                        last_run_ms: row.get(1)?,
                        duration_ms: row.get(2)?,
                        status: Status::parse(&row.get::<_, String>(3)?),
                        last_success_ms: None,
                        consecutive_failures: 0,
                        values: Vec::new(),
                    })
                })?
                .collect::<Result<_, _>>()?;
            let successes: HashMap<String, i64> = conn
                .prepare("SELECT job, max(finished_at) FROM runs WHERE status = 'ok' GROUP BY job")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let failures: HashMap<String, i64> = conn
                .prepare(
                    "SELECT job, count(*) FROM runs AS r
                     WHERE status NOT IN ('ok', 'skipped') AND started_at > coalesce(
                         (SELECT max(started_at) FROM runs WHERE job = r.job AND status = 'ok'), -1)
                     GROUP BY job",
                )?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut values = last_values(conn)?;
            for gauge in &mut gauges {
                gauge.values = values.remove(&gauge.job).unwrap_or_default();
                gauge.last_success_ms = successes.get(&gauge.job).copied();
                gauge.consecutive_failures = failures
                    .get(&gauge.job)
                    .map_or(0, |n| u64::try_from(*n).unwrap_or(0));
            }
            Ok(gauges)
        })
        .map(Option::unwrap_or_default)
    }

    /// Runs `work` in a write transaction, recreating a corrupt database once. The runs
    /// waiting in the state folder are recorded first, in the same transaction.
    pub(super) fn write<T>(
        &self,
        work: impl Fn(&Transaction) -> rusqlite::Result<T>,
    ) -> Result<T, HistoryError> {
        let waiting = self.pending.list();
        let attempt = || -> Result<(T, Drained), HistoryError> {
            let mut conn = self.connect()?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| self.error(e))?;
            let drained = insert_pending(&tx, &waiting).map_err(|e| self.error(e))?;
            let value = work(&tx).map_err(|e| self.error(e))?;
            tx.commit().map_err(|e| self.error(e))?;
            self.bound_log(&conn);
            Ok((value, drained))
        };
        let (value, drained) = match attempt() {
            Err(HistoryError::Sqlite { source, .. }) if is_corrupt(&source) => {
                self.quarantine(&source);
                attempt()
            }
            other => other,
        }?;
        drained.finish(&self.path);
        Ok(value)
    }

    /// Copies the write-ahead log into the database and empties it once it has grown past
    /// [`LOG_LIMIT`]. The log is not checkpointed on close (that would fsync every short
    /// connection), but every process that opens the database reads all of it: left to
    /// SQLite's own checkpoints it stays at 4 MiB and more, read again by every run.
    fn bound_log(&self, conn: &Connection) {
        let mut log = self.path.clone().into_os_string();
        log.push("-wal");
        if std::fs::metadata(&log).is_ok_and(|m| m.len() > LOG_LIMIT)
            && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            // The next write tries again; a reader holding the log open is the usual cause.
            tracing::debug!(
                "history `{}`: log not checkpointed: {e}",
                self.path.display()
            );
        }
    }

    /// Runs `work` on the database if there is one; `Ok(None)` when there is none yet.
    pub(super) fn read<T>(
        &self,
        work: impl Fn(&Connection) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, HistoryError> {
        let handed = self.handover.lock().ok().and_then(|mut held| held.take());
        if let Some(conn) = handed {
            return work(&conn).map(Some).map_err(|e| self.error(e));
        }
        if !self.path.exists() {
            return Ok(None);
        }
        let conn = self.connect()?;
        work(&conn).map(Some).map_err(|e| self.error(e))
    }

    /// [`History::read`] that leaves a connection handed over for the next read there: a
    /// small read between [`History::last_starts`] and the run's lookups opens nothing.
    pub(super) fn read_keeping<T>(
        &self,
        work: impl Fn(&Connection) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, HistoryError> {
        let handed = self.handover.lock().ok().and_then(|mut held| held.take());
        let Some(conn) = handed else {
            return self.read(work);
        };
        let value = work(&conn).map_err(|e| self.error(e));
        if let Ok(mut held) = self.handover.lock() {
            *held = Some(conn);
        }
        value.map(Some)
    }

    /// [`History::read`], keeping the connection for the next read.
    fn read_and_hand_over<T>(
        &self,
        work: impl Fn(&Connection) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, HistoryError> {
        if !self.path.exists() {
            return Ok(None);
        }
        let conn = self.connect()?;
        let value = work(&conn).map_err(|e| self.error(e))?;
        if let Ok(mut held) = self.handover.lock() {
            *held = Some(conn);
        }
        Ok(Some(value))
    }

    fn connect(&self) -> Result<Connection, HistoryError> {
        if let Some(folder) = self.path.parent() {
            private::create_dir(folder, Access::Private).map_err(|source| {
                HistoryError::Folder {
                    path: self.path.clone(),
                    source,
                }
            })?;
        }
        // Created here, private, rather than by SQLite (0644 less the umask); its -wal and
        // -shm files take its mode. SQLite itself never follows a link to any of them.
        match private::create_new(&self.path, Access::Private) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(HistoryError::Create {
                    path: self.path.clone(),
                    source,
                });
            }
        }
        let open = || -> rusqlite::Result<Connection> {
            let conn = Connection::open(&self.path)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            schema::use_wal(&conn)?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", true)?;
            // Each run opens and closes the database; checkpointing on every close would
            // fsync it each time. SQLite checkpoints by itself as the log grows.
            conn.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            )?;
            Ok(conn)
        };
        let mut conn = match open() {
            Err(e) if is_corrupt(&e) => {
                self.quarantine(&e);
                open()
            }
            other => other,
        }
        .map_err(|e| self.error(e))?;
        schema::migrate(&mut conn).map_err(|e| match e {
            SchemaError::Sqlite(e) => self.error(e),
            SchemaError::Newer { found, known } => HistoryError::Newer {
                path: self.path.clone(),
                found,
                known,
            },
        })?;
        Ok(conn)
    }

    /// Moves a corrupt database aside (keeping it for inspection) so a new one can start.
    fn quarantine(&self, cause: &rusqlite::Error) {
        let aside = self.path.with_extension("sqlite3.corrupt");
        error!(
            "history `{}` is unreadable ({cause}): moved it to `{}` and started a new one",
            self.path.display(),
            aside.display()
        );
        // Another process may have moved it already.
        let _ = std::fs::rename(&self.path, &aside);
        for suffix in ["-wal", "-shm"] {
            let mut side = self.path.clone().into_os_string();
            side.push(suffix);
            let _ = std::fs::remove_file(side);
        }
    }

    fn error(&self, source: rusqlite::Error) -> HistoryError {
        HistoryError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

/// A failure that passes: another process holding the database past the busy timeout, or
/// a full disk. The runs are kept to be recorded later rather than lost.
fn can_wait(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::DiskFull)
    )
}

/// The runs a write took from the state folder: their files, removed once it committed.
struct Drained {
    recorded: Vec<PathBuf>,
    unreadable: Vec<(PathBuf, PendingError)>,
}

impl Drained {
    fn finish(self, history: &Path) {
        if !self.recorded.is_empty() {
            tracing::info!(
                "history `{}`: recorded {} run(s) kept since the database could not be written",
                history.display(),
                self.recorded.len()
            );
        }
        Pending::remove(&self.recorded);
        for (file, e) in self.unreadable {
            // Set aside, not deleted: it is left for the admin to look at.
            let aside = file.with_extension("unreadable");
            error!("history: {e}; moved it to `{}`", aside.display());
            let _ = std::fs::rename(&file, &aside);
        }
    }
}

/// Records the runs kept in `files`, oldest first, skipping one already recorded (by
/// another process that took it at the same time).
fn insert_pending(tx: &Transaction, files: &[PathBuf]) -> rusqlite::Result<Drained> {
    let mut drained = Drained {
        recorded: Vec::new(),
        unreadable: Vec::new(),
    };
    for file in files {
        let run = match Pending::read(file) {
            Ok(run) => run,
            Err(e) => {
                drained.unreadable.push((file.clone(), e));
                continue;
            }
        };
        let known = tx
            .prepare_cached(
                "SELECT 1 FROM runs WHERE job = ?1 AND started_at = ?2 AND run_id = ?3",
            )?
            .exists(rusqlite::params![
                run.job,
                run.started_at.timestamp_millis(),
                run.run_id
            ])?;
        if !known {
            insert(tx, &run)?;
        }
        drained.recorded.push(file.clone());
    }
    Ok(drained)
}

fn is_corrupt(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}

/// The failing runs since `job`'s newest ok one (skipped fire times are not runs): two
/// indexed lookups, however long the streak.
fn streak(conn: &Connection, job: &str) -> rusqlite::Result<Streak> {
    let last_ok: (i64, i64) = conn
        .prepare_cached(
            "SELECT started_at, id FROM runs WHERE job = ?1 AND status = 'ok'
             ORDER BY started_at DESC, id DESC LIMIT 1",
        )?
        .query_row([job], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?
        .unwrap_or((i64::MIN, i64::MIN));
    let time = |millis: Option<i64>| millis.and_then(DateTime::from_timestamp_millis);
    conn.prepare_cached(
        "SELECT count(*), coalesce(max(reason IS NULL), 0), min(started_at),
                max(CASE WHEN reason IS NULL THEN started_at END) FROM runs
         WHERE job = ?1 AND status NOT IN ('ok', 'skipped')
           AND (started_at > ?2 OR (started_at = ?2 AND id > ?3))",
    )?
    .query_row(rusqlite::params![job, last_ok.0, last_ok.1], |row| {
        Ok(Streak {
            failing: row.get(0)?,
            mailed: row.get(1)?,
            since: time(row.get(2)?),
            last_mailed: time(row.get(3)?),
        })
    })
}

fn last_run(conn: &Connection, job: &str) -> rusqlite::Result<Option<RunRecord>> {
    let Some((id, mut run)) = conn
        .query_row(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE job = ?1 AND status != 'skipped'
                 ORDER BY started_at DESC, id DESC LIMIT 1"
            ),
            [job],
            run_row,
        )
        .optional()?
    else {
        return Ok(None);
    };
    let mut statement = conn.prepare_cached(
        "SELECT name, command, host, target, status, exit_code, signal, duration_ms,
                truncated, started_at, digest, stdout, stderr, numbers
         FROM results WHERE run = ?1 ORDER BY position",
    )?;
    run.results = statement
        .query_map([id], |row| {
            Ok(RecordedResult {
                core: ResultCore {
                    name: row.get(0)?,
                    command: row.get(1)?,
                    host: row.get(2)?,
                    target: row.get(3)?,
                    status: Status::parse(&row.get::<_, String>(4)?),
                    exit_code: row.get(5)?,
                    signal: row.get(6)?,
                    duration_ms: unsigned(row, 7)?,
                    truncated: row.get(8)?,
                    started_at: row.get(9)?,
                },
                fingerprint: row.get(10)?,
                stdout: row.get(11)?,
                stderr: row.get(12)?,
                values: numbers_of(row.get(13)?),
                sizes: Vec::new(),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some(run))
}

/// The values of `job`'s results in its newest `runs` finished runs, by command, host and
/// target, oldest first, `duration_ms` among them: one query for the whole job.
fn value_history(conn: &Connection, job: &str, runs: usize) -> rusqlite::Result<ValueHistory> {
    let mut statement = conn.prepare_cached(
        "SELECT results.name, results.host, results.target, results.status,
                results.duration_ms, results.numbers
         FROM (SELECT id, started_at FROM runs WHERE job = ?1 AND status != 'skipped'
               ORDER BY started_at DESC, id DESC LIMIT ?2) AS runs
         JOIN results ON results.run = runs.id
         ORDER BY runs.started_at, runs.id, results.position",
    )?;
    let mut history = ValueHistory::default();
    let limit = i64::try_from(runs).unwrap_or(i64::MAX);
    let mut rows = statement.query(rusqlite::params![job, limit])?;
    while let Some(row) = rows.next()? {
        let key = (row.get(0)?, row.get(1)?, row.get(2)?);
        let mut values = numbers_of(row.get(5)?);
        values.push((DURATION.to_owned(), row.get::<_, i64>(4)? as f64));
        history.0.entry(key).or_default().push(Earlier {
            ok: row.get::<_, String>(3)? == Status::Ok.as_str(),
            values,
        });
    }
    Ok(history)
}

/// The values of every job's last finished run, by job, in the order of its results.
fn last_values(conn: &Connection) -> rusqlite::Result<HashMap<String, Vec<ValueGauge>>> {
    let mut statement = conn.prepare(
        "SELECT r.job, results.name, results.host, results.target, results.duration_ms,
                results.numbers
         FROM runs AS r JOIN results ON results.run = r.id
         WHERE r.id = (SELECT id FROM runs WHERE job = r.job AND status != 'skipped'
                       ORDER BY started_at DESC, id DESC LIMIT 1)
         ORDER BY r.job, results.position",
    )?;
    let mut rows = statement.query([])?;
    let mut values: HashMap<String, Vec<ValueGauge>> = HashMap::new();
    while let Some(row) = rows.next()? {
        let (command, host, target): (String, Option<String>, Option<String>) =
            (row.get(1)?, row.get(2)?, row.get(3)?);
        let mut numbers = numbers_of(row.get(5)?);
        numbers.push((DURATION.to_owned(), row.get::<_, i64>(4)? as f64));
        let job = values.entry(row.get(0)?).or_default();
        job.extend(numbers.into_iter().map(|(name, value)| ValueGauge {
            command: command.clone(),
            host: host.clone(),
            target: target.clone(),
            name,
            value,
        }));
    }
    Ok(values)
}

/// A result's values as the history keeps them: a JSON object, NULL for none.
fn numbers_text(values: &[(String, f64)]) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    let named = Named(
        values
            .iter()
            .map(|(name, value)| (name.clone(), Number(*value)))
            .collect(),
    );
    serde_json::to_string(&named).ok()
}

const RUN_COLUMNS: &str = "id, run_id, job, trigger, started_at, finished_at, status, total, ok, \
    failed, timeout, error, duration_ms, interrupted, sent, note, reason, silenced";

fn run_row(row: &rusqlite::Row) -> rusqlite::Result<(i64, RunRecord)> {
    let time = |index: usize| -> rusqlite::Result<DateTime<Utc>> {
        Ok(DateTime::from_timestamp_millis(row.get(index)?).unwrap_or_default())
    };
    let status = RunStatus::parse(&row.get::<_, String>(6)?);
    let summary = Summary {
        total: unsigned(row, 7)?,
        ok: unsigned(row, 8)?,
        failed: unsigned(row, 9)?,
        timeout: unsigned(row, 10)?,
        error: unsigned(row, 11)?,
        duration_ms: unsigned(row, 12)?,
        all_ok: status == RunStatus::Finished(Status::Ok),
        status: match status {
            RunStatus::Finished(status) => status,
            RunStatus::Skipped => Status::Ok,
        },
        failed_expectation: None,
    };
    let trigger = Trigger::parse(&row.get::<_, String>(3)?);
    Ok((
        row.get(0)?,
        RunRecord {
            run_id: row.get(1)?,
            job: row.get(2)?,
            trigger,
            started_at: time(4)?,
            finished_at: time(5)?,
            status,
            summary,
            interrupted: row.get(13)?,
            sent: row.get(14)?,
            note: row.get(15)?,
            reason: row.get(16)?,
            silenced: row.get(17)?,
            results: Vec::new(),
            disks: Vec::new(),
        },
    ))
}

/// SQLite integers are signed 64-bit; counts and milliseconds never come near the limit.
fn signed(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

fn unsigned<T: TryFrom<i64> + Default>(row: &rusqlite::Row, index: usize) -> rusqlite::Result<T> {
    Ok(T::try_from(row.get::<_, i64>(index)?).unwrap_or_default())
}

fn optional_unsigned(row: &rusqlite::Row, index: usize) -> rusqlite::Result<Option<u64>> {
    Ok(row
        .get::<_, Option<i64>>(index)?
        .map(|n| u64::try_from(n).unwrap_or_default()))
}

/// Records `run`: its row, its results (the job's older runs then losing their outputs)
/// and its disks.
fn insert(tx: &Transaction, run: &RunRecord) -> rusqlite::Result<()> {
    let id = insert_run(tx, run)?;
    if !run.results.is_empty() {
        drop_older_outputs(tx, &run.job, id)?;
    }
    insert_results(tx, id, run)?;
    insert_disks(tx, id, run)
}

/// The row of `run` in `runs`; returns its id.
fn insert_run(tx: &Transaction, run: &RunRecord) -> rusqlite::Result<i64> {
    let s = &run.summary;
    tx.execute(
        "INSERT INTO runs (run_id, job, trigger, started_at, finished_at, status, total, ok,
                           failed, timeout, error, duration_ms, interrupted, sent, note, reason,
                           silenced)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        rusqlite::params![
            run.run_id,
            run.job,
            run.trigger.as_str(),
            run.started_at.timestamp_millis(),
            run.finished_at.timestamp_millis(),
            run.status.as_str(),
            signed(s.total),
            signed(s.ok),
            signed(s.failed),
            signed(s.timeout),
            signed(s.error),
            signed(s.duration_ms),
            run.interrupted,
            run.sent,
            run.note,
            run.reason,
            run.silenced,
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Only the job's last run keeps its outputs: what `previous` and `diff` need, at the cost
/// of one run's output per job rather than one per run. The index holds only results with
/// outputs (one run per job), so this costs the same whatever the length of the history.
fn drop_older_outputs(tx: &Transaction, job: &str, last: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE results SET stdout = NULL, stderr = NULL
         WHERE rowid IN (
             SELECT results.rowid FROM results INDEXED BY results_with_output
             JOIN runs ON runs.id = results.run
             WHERE (results.stdout IS NOT NULL OR results.stderr IS NOT NULL)
               AND runs.job = ?1 AND runs.id != ?2)",
    )?
    .execute(rusqlite::params![job, last])?;
    Ok(())
}

/// The results of run `id`, in their order.
fn insert_results(tx: &Transaction, id: i64, run: &RunRecord) -> rusqlite::Result<()> {
    let mut statement = tx.prepare_cached(
        "INSERT INTO results (run, position, name, command, host, target, status, exit_code,
                              signal, duration_ms, truncated, started_at, digest, stdout, stderr,
                              numbers)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?;
    for (position, result) in run.results.iter().enumerate() {
        let r = &result.core;
        statement.execute(rusqlite::params![
            id,
            signed(position),
            r.name,
            r.command,
            r.host,
            r.target,
            r.status.as_str(),
            r.exit_code,
            r.signal,
            signed(r.duration_ms),
            r.truncated,
            r.started_at,
            result.fingerprint,
            result.stdout,
            result.stderr,
            numbers_text(&result.values),
        ])?;
    }
    let mut sizes =
        tx.prepare_cached("INSERT OR IGNORE INTO value_sizes (job, name) VALUES (?1, ?2)")?;
    for name in run.results.iter().flat_map(|result| &result.sizes) {
        sizes.execute([&run.job, name])?;
    }
    Ok(())
}

/// The disks' usage at run `id`.
fn insert_disks(tx: &Transaction, id: i64, run: &RunRecord) -> rusqlite::Result<()> {
    let mut statement = tx.prepare_cached(
        "INSERT OR IGNORE INTO disks (run, mount, percent, used, total)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for disk in &run.disks {
        statement.execute(rusqlite::params![
            id,
            disk.mount,
            disk.percent,
            disk.used.map(signed),
            disk.total.map(signed),
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    use crate::history::record::fingerprint;
    use crate::history::schema::MIGRATIONS;
    use crate::report::TaskResult;
    use crate::report::expect::ANOMALY_RUNS;

    fn result(name: &str, status: Status, stdout: &str) -> TaskResult {
        TaskResult::fixture(name, status, stdout, "")
    }

    fn usage(mount: &str, percent: f64) -> DiskUsage {
        DiskUsage {
            mount: mount.into(),
            percent,
            used: Some(percent as u64 * 10),
            total: Some(1000),
        }
    }

    fn run(job: &str, results: &[TaskResult]) -> RunRecord {
        let summary = Summary::of(results, 7);
        let mut record = RunRecord::finished(
            "r1",
            job,
            Trigger::Manual,
            SystemTime::now(),
            &summary,
            results,
            false,
        );
        record.keep_outputs(results.to_vec());
        record
    }

    #[test]
    fn records_and_reads_back_the_last_run() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(&dir.path().join("state"), 90);
        assert!(history.last_run("disk").unwrap().is_none(), "no file yet");
        assert!(!history.path().exists(), "reading does not create it");
        history
            .record(&[run("disk", &[result("df", Status::Ok, "a")])])
            .unwrap();
        let mut second = run(
            "disk",
            &[
                result("df", Status::Ok, "b"),
                result("df -i", Status::Failed, ""),
            ],
        );
        second.sent = true;
        history
            .record(&[
                second,
                RunRecord::skipped("r2", "disk", Trigger::Daemon, "still running".into()),
            ])
            .unwrap();
        let last = history.last_run("disk").unwrap().expect("a run");
        assert_eq!(last.status, RunStatus::Finished(Status::Failed));
        assert!(last.sent);
        assert_eq!(last.results.len(), 2);
        assert_eq!(last.results[0].fingerprint, fingerprint("b", ""));
        assert_eq!(last.results[1].core.status, Status::Failed);
        let runs = history.runs(None, 10).unwrap();
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[0].status, RunStatus::Skipped, "newest first");
        assert_eq!(history.runs(Some("other"), 10).unwrap().len(), 0);
        assert_eq!(history.runs(Some("disk"), 1).unwrap().len(), 1);
    }

    #[test]
    fn the_overview_counts_the_last_status_streak_and_keeps_thirty_runs() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path(), 90);
        // Within `history_days`, or pruned.
        let base = Utc::now().timestamp_millis() - 3_600_000;
        let at = |run: &mut RunRecord, i: i64| {
            run.started_at = DateTime::from_timestamp_millis(base + i * 1000).unwrap();
            run.finished_at = run.started_at + chrono::Duration::milliseconds(500);
        };
        let mut runs = Vec::new();
        for i in 0..40 {
            // 33 ok runs, then 7 failing ones.
            let status = if i < 33 { Status::Ok } else { Status::Failed };
            let mut record = run("disk", &[result("df", status, "x")]);
            at(&mut record, i);
            record.summary.duration_ms = i as u64;
            runs.push(record);
        }
        let mut skipped = RunRecord::skipped("r9", "disk", Trigger::Daemon, "busy".into());
        at(&mut skipped, 41);
        runs.push(skipped);
        let mut other = run("net", &[result("ping", Status::Ok, "y")]);
        other.disks = vec![usage("/", 40.0)];
        runs.push(other);
        history.record(&runs).unwrap();

        let all = history.overview(Detail::Runs).unwrap();
        let disk = &all["disk"];
        assert_eq!(disk.runs.len(), overview::RUNS);
        assert_eq!(disk.runs[0].duration_ms, 10, "oldest first");
        assert_eq!(disk.runs.last().unwrap().status, Status::Failed);
        assert_eq!(disk.streak, 7);
        assert_eq!(disk.status_since.timestamp_millis(), base + 33 * 1000);
        assert_eq!(
            disk.last_ok.unwrap().timestamp_millis(),
            base + 32 * 1000 + 500
        );
        assert!(disk.last_results.is_empty(), "not asked for");
        assert_eq!(all["net"].streak, 1);

        let full = history.overview(Detail::Full).unwrap();
        assert_eq!(full["disk"].last_results.len(), 1);
        assert_eq!(full["disk"].last_results[0].stdout.as_deref(), Some("x"));
        assert_eq!(full["net"].disks.len(), 1);
        assert_eq!(full["net"].disks[0].disks[0].mount, "/");
        assert!(full["disk"].disks.is_empty());
    }

    #[test]
    fn a_value_once_read_as_a_size_stays_a_size() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path(), 90);
        let sent = |unit| {
            let mut result = result("copy", Status::Ok, "");
            result.values = crate::report::values::Values(vec![crate::report::values::Reading {
                name: "sent".into(),
                number: Some(0.0),
                unit,
            }]);
            result
        };
        use crate::config::values::Unit;
        for unit in [Unit::Number, Unit::Bytes, Unit::Number] {
            history.record(&[run("backup", &[sent(unit)])]).unwrap();
            history
                .record(&[run("plain", &[sent(Unit::Number)])])
                .unwrap();
        }
        let all = history.overview(Detail::Runs).unwrap();
        assert_eq!(all["backup"].sizes, ["sent".to_owned()].into());
        assert!(all["plain"].sizes.is_empty());
    }

    #[test]
    fn values_are_kept_and_read_back_per_command_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path(), 90);
        let with_values = |files: Option<f64>, status: Status| {
            let mut result = result("sync", status, "");
            result.values = crate::report::values::Values(vec![crate::report::values::Reading {
                name: "files".into(),
                number: files,
                unit: crate::config::values::Unit::Number,
            }]);
            result
        };
        history
            .record(&[run("sync", &[with_values(Some(42.0), Status::Ok)])])
            .unwrap();
        history
            .record(&[run("sync", &[with_values(None, Status::Failed)])])
            .unwrap();
        history
            .record(&[run("sync", &[with_values(Some(1.5e9), Status::Failed)])])
            .unwrap();
        let last = history.last_run("sync").unwrap().unwrap();
        assert_eq!(last.results[0].values, [("files".to_owned(), 1.5e9)]);
        let recent = history.recent(&[("sync".into(), ANOMALY_RUNS)], 1).unwrap();
        let key = ("sync".to_owned(), None, None);
        let earlier = recent["sync"].values.of(&key);
        let seen: Vec<(bool, Vec<(String, f64)>)> =
            earlier.iter().map(|e| (e.ok, e.values.clone())).collect();
        let duration = || (DURATION.to_owned(), 1.0);
        assert_eq!(
            seen,
            [
                (true, vec![("files".to_owned(), 42.0), duration()]),
                (false, vec![duration()]),
                (false, vec![("files".to_owned(), 1.5e9), duration()]),
            ]
        );
        let conn = Connection::open(history.path()).unwrap();
        let kept: Vec<Option<String>> = conn
            .prepare("SELECT numbers FROM results ORDER BY run")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            kept,
            [
                Some("{\"files\":42}".to_owned()),
                None,
                Some("{\"files\":1500000000}".to_owned())
            ]
        );
    }

    #[test]
    fn only_the_last_run_of_a_job_keeps_its_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path(), 90);
        let with_err = TaskResult::fixture("df", Status::Ok, "one\n", "warn\n");
        history.record(&[run("disk", &[with_err])]).unwrap();
        history
            .record(&[run("other", &[result("x", Status::Ok, "x")])])
            .unwrap();
        let last = history.last_run("disk").unwrap().unwrap();
        assert_eq!(last.results[0].stdout.as_deref(), Some("one\n"));
        assert_eq!(last.results[0].stderr.as_deref(), Some("warn\n"));
        history
            .record(&[run("disk", &[result("df", Status::Ok, "two\n")])])
            .unwrap();
        let last = history.last_run("disk").unwrap().unwrap();
        assert_eq!(last.results[0].stdout.as_deref(), Some("two\n"));
        let conn = Connection::open(history.path()).unwrap();
        let kept: Vec<(String, Option<String>)> = conn
            .prepare(
                "SELECT runs.job, results.stdout FROM results JOIN runs ON runs.id = results.run
                 ORDER BY runs.id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            kept,
            [
                ("disk".to_owned(), None),
                ("other".to_owned(), Some("x".to_owned())),
                ("disk".to_owned(), Some("two\n".to_owned())),
            ],
            "the older run's outputs are gone, other jobs' stay"
        );
    }

    #[test]
    fn the_log_stays_small_however_much_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path(), 90);
        let output = "x".repeat(100 << 10);
        let log = dir.path().join(format!("{FILE_NAME}-wal"));
        let mut largest = 0;
        for _ in 0..40 {
            history
                .record(&[run("big", &[result("cat", Status::Ok, &output)])])
                .unwrap();
            largest = largest.max(std::fs::metadata(&log).map_or(0, |m| m.len()));
        }
        // 4 MB of outputs written: without the checkpoints the log holds SQLite's 1,000
        // pages and more, read again by every process that opens the database.
        assert!(largest > 0, "the history is in WAL mode");
        assert!(largest < 1 << 20, "the log grew to {largest} bytes");
        let last = history.last_run("big").unwrap().unwrap();
        assert_eq!(last.results[0].stdout.as_deref(), Some(output.as_str()));
    }

    #[test]
    fn old_runs_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path(), 30);
        let mut old = run("disk", &[result("df", Status::Ok, "a")]);
        old.started_at = Utc::now() - chrono::Duration::days(31);
        history.record(&[old]).unwrap();
        history.record(&[run("disk", &[])]).unwrap();
        let runs = history.runs(None, 10).unwrap();
        assert_eq!(runs.len(), 1);
        let conn = Connection::open(history.path()).unwrap();
        let results: i64 = conn
            .query_row("SELECT count(*) FROM results", [], |r| r.get(0))
            .unwrap();
        assert_eq!(results, 0, "results go with their run");
    }

    #[test]
    fn a_corrupt_database_is_moved_aside_and_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path(), 90);
        std::fs::write(history.path(), vec![b'x'; 8192]).unwrap();
        history.record(&[run("disk", &[])]).unwrap();
        assert_eq!(history.runs(None, 10).unwrap().len(), 1);
        assert!(dir.path().join("history.sqlite3.corrupt").exists());
    }

    #[test]
    fn a_newer_schema_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path(), 90);
        let conn = Connection::open(history.path()).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = history.record(&[run("disk", &[])]).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "written by a newer reporter (schema 99, this one knows {})",
                MIGRATIONS.len()
            )),
            "{err}"
        );
    }

    #[test]
    fn the_failure_streak_counts_failing_runs_since_the_last_ok_one() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path(), 90);
        let streak = |history: &History| {
            let recent = history.recent(&[("j".into(), ANOMALY_RUNS)], 0).unwrap();
            recent.get("j").and_then(|r| r.streak).unwrap()
        };
        assert_eq!(streak(&history), Streak::default(), "no history");
        let now = Utc::now();
        let at = |minutes: i64| now - chrono::Duration::minutes(60 - minutes);
        let ms = |time: DateTime<Utc>| DateTime::from_timestamp_millis(time.timestamp_millis());
        let mut runs = Vec::new();
        for (i, (status, mailed)) in [
            (Status::Failed, true),
            (Status::Ok, true),
            (Status::Failed, false),
            (Status::Timeout, false),
        ]
        .into_iter()
        .enumerate()
        {
            let mut record = run("j", &[result("c", status, "")]);
            record.started_at = at(i as i64);
            record.reason = (!mailed).then(|| "held back".to_owned());
            runs.push(record);
        }
        history.record(&runs).unwrap();
        let mut skipped = RunRecord::skipped("s", "j", Trigger::Daemon, "busy".into());
        skipped.started_at = at(10);
        history.record(&[skipped]).unwrap();
        assert_eq!(
            streak(&history),
            Streak {
                failing: 2,
                mailed: false,
                since: ms(at(2)),
                last_mailed: None,
            },
            "the failure before the ok run and the skipped one do not count"
        );
        let mut third = run("j", &[result("c", Status::Error, "")]);
        third.started_at = at(20);
        history.record(&[third]).unwrap();
        assert_eq!(
            streak(&history),
            Streak {
                failing: 3,
                mailed: true,
                since: ms(at(2)),
                last_mailed: ms(at(20)),
            }
        );
    }

    #[test]
    fn recent_runs_bring_their_disks_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path(), 90);
        for (i, percent) in [10.0, 20.0, 30.0].into_iter().enumerate() {
            let mut record = run("disk", &[result("df", Status::Ok, "a")]);
            record.started_at = Utc::now() - chrono::Duration::minutes(10 - i as i64);
            record.disks = vec![usage("/", percent), usage("/var", 1.0)];
            history.record(&[record]).unwrap();
        }
        let mut unmailed = run("disk", &[result("df", Status::Failed, "b")]);
        unmailed.reason = Some("send: never".into());
        history.record(&[unmailed]).unwrap();
        let recent = history
            .recent(
                &[
                    ("disk".into(), ANOMALY_RUNS),
                    ("other".into(), ANOMALY_RUNS),
                ],
                2,
            )
            .unwrap();
        let disk = &recent["disk"];
        let last = disk.last.as_ref().unwrap();
        assert_eq!(last.reason.as_deref(), Some("send: never"));
        assert_eq!(last.results[0].core.status, Status::Failed);
        let percents: Vec<f64> = disk.disks.iter().map(|r| r.disks[0].percent).collect();
        assert_eq!(percents, [20.0, 30.0], "the newest two, oldest first");
        assert_eq!(disk.disks[1].disks[1], usage("/var", 1.0));
        assert!(recent["other"].last.is_none());
    }

    #[test]
    fn a_first_version_database_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path(), 90);
        let conn = Connection::open(history.path()).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO runs (run_id, job, trigger, started_at, finished_at, status, total, ok,
             failed, timeout, error, duration_ms, interrupted, sent) VALUES
             ('r0', 'disk', 'cron', ?1, ?1, 'ok', 0, 0, 0, 0, 0, 0, 0, 1)",
            [Utc::now().timestamp_millis() - 1000],
        )
        .unwrap();
        drop(conn);
        let old = history.last_run("disk").unwrap().unwrap();
        assert_eq!((old.run_id.as_str(), old.reason), ("r0", None));
        history.record(&[run("disk", &[])]).unwrap();
        assert_eq!(history.runs(None, 10).unwrap().len(), 2);
    }
}
