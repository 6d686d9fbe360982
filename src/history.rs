//! The run history: every run of every job in `state_dir/history.sqlite3` (SPEC §10).
//!
//! Cron, the daemon and people at a shell may all run reporter at once, so every
//! operation opens its own connection, works in one short transaction and closes it:
//! WAL lets readers and one writer proceed together and the busy timeout queues writers.
//! The history is a convenience next to the mail: a missing or corrupt database is
//! reported, moved aside and started afresh, and never stops a report from going out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior};
use tracing::error;

use crate::report::{Status, Summary, TaskResult, Trigger};

pub const FILE_NAME: &str = "history.sqlite3";

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Schema versions, in order; `PRAGMA user_version` says how many have been applied.
/// Never edit a released step: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: runs and their results.
    "CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        job TEXT NOT NULL,
        trigger TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER NOT NULL,
        status TEXT NOT NULL,
        total INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        timeout INTEGER NOT NULL,
        error INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        interrupted INTEGER NOT NULL,
        sent INTEGER NOT NULL,
        note TEXT
    );
    CREATE INDEX runs_by_job ON runs (job, started_at);
    CREATE INDEX runs_by_start ON runs (started_at);
    CREATE TABLE results (
        run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        command TEXT NOT NULL,
        host TEXT,
        target TEXT,
        status TEXT NOT NULL,
        exit_code INTEGER,
        signal INTEGER,
        duration_ms INTEGER NOT NULL,
        truncated INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        digest TEXT NOT NULL,
        PRIMARY KEY (run, position)
    );",
    // 2: why a run was not mailed (its send rule), and the disks' usage per run for the
    // usage history in reports.
    "ALTER TABLE runs ADD COLUMN reason TEXT;
    CREATE TABLE disks (
        run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        mount TEXT NOT NULL,
        percent REAL NOT NULL,
        PRIMARY KEY (run, mount)
    );",
];

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history `{path}`: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
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

/// How a recorded run ended: the worst result status, or skipped because the job was
/// still running from its previous fire time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Finished(Status),
    Skipped,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Finished(status) => status.as_str(),
            RunStatus::Skipped => "skipped",
        }
    }

    fn parse(text: &str) -> RunStatus {
        match text {
            "ok" => RunStatus::Finished(Status::Ok),
            "failed" => RunStatus::Finished(Status::Failed),
            "timeout" => RunStatus::Finished(Status::Timeout),
            "skipped" => RunStatus::Skipped,
            _ => RunStatus::Finished(Status::Error),
        }
    }
}

/// One result of a recorded run: what `results` held, with the output reduced to a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedResult {
    pub name: String,
    pub command: String,
    pub host: Option<String>,
    pub target: Option<String>,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration_ms: u64,
    pub truncated: bool,
    pub started_at: String,
    /// [`digest`] of stdout and stderr: equal digests mean equal output.
    pub digest: String,
}

impl RecordedResult {
    pub fn of(result: &TaskResult) -> RecordedResult {
        RecordedResult {
            name: result.name.clone(),
            command: result.command.clone(),
            host: result.host.clone(),
            target: result.target.clone(),
            status: result.status,
            exit_code: result.exit_code,
            signal: result.signal,
            duration_ms: result.duration_ms,
            truncated: result.truncated,
            started_at: result.started_at.clone(),
            digest: digest(&result.stdout, &result.stderr),
        }
    }
}

/// One run of one job.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub run_id: String,
    pub job: String,
    pub trigger: Trigger,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub status: RunStatus,
    pub summary: Summary,
    pub interrupted: bool,
    /// Every message of the run reached the relay (or the mail folder).
    pub sent: bool,
    /// Why a run was skipped.
    pub note: Option<String>,
    /// Why the run's report was not mailed: its send rule (`None` when it was mailed, or
    /// meant to be).
    pub reason: Option<String>,
    /// Empty for skipped runs, and in listings ([`History::runs`]).
    pub results: Vec<RecordedResult>,
    /// Each disk's used percentage when the run's report read the facts (mount order).
    pub disks: Vec<(String, f64)>,
}

/// One earlier run's disk usage, for the usage history of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskRun {
    pub started_at: DateTime<Utc>,
    pub disks: Vec<(String, f64)>,
}

/// What a new run of a job is compared with: its last finished run, and the disk usage of
/// its recent runs, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Recent {
    pub last: Option<RunRecord>,
    pub disks: Vec<DiskRun>,
}

impl RunRecord {
    /// A run whose commands finished; `sent` is settled once its mail has gone.
    pub fn finished(
        run_id: &str,
        job: &str,
        trigger: Trigger,
        started_at: SystemTime,
        summary: &Summary,
        results: &[TaskResult],
        interrupted: bool,
    ) -> RunRecord {
        RunRecord {
            run_id: run_id.to_owned(),
            job: job.to_owned(),
            trigger,
            started_at: started_at.into(),
            finished_at: Utc::now(),
            status: RunStatus::Finished(summary.status),
            summary: summary.clone(),
            interrupted,
            sent: false,
            note: None,
            reason: None,
            results: results.iter().map(RecordedResult::of).collect(),
            disks: Vec::new(),
        }
    }

    /// A fire time at which the job did not start, and why.
    pub fn skipped(run_id: &str, job: &str, trigger: Trigger, note: String) -> RunRecord {
        let now = Utc::now();
        RunRecord {
            run_id: run_id.to_owned(),
            job: job.to_owned(),
            trigger,
            started_at: now,
            finished_at: now,
            status: RunStatus::Skipped,
            summary: Summary::of(&[], 0),
            interrupted: false,
            sent: false,
            note: Some(note),
            reason: None,
            results: Vec::new(),
            disks: Vec::new(),
        }
    }
}

/// A stable digest of a command's output (SipHash-1-3, 128 bits, fixed keys), so that
/// runs can be compared without storing what they printed.
pub fn digest(stdout: &str, stderr: &str) -> String {
    use std::hash::Hasher;
    let mut hasher = siphasher::sip128::SipHasher13::new();
    hasher.write_u64(stdout.len() as u64);
    hasher.write(stdout.as_bytes());
    hasher.write(stderr.as_bytes());
    format!(
        "{:032x}",
        siphasher::sip128::Hasher128::finish128(&hasher).as_u128()
    )
}

/// The history database of one state folder.
#[derive(Debug, Clone)]
pub struct History {
    path: PathBuf,
    keep: chrono::Duration,
}

impl History {
    pub fn new(state_dir: &Path, history_days: u32) -> History {
        History {
            path: state_dir.join(FILE_NAME),
            keep: chrono::Duration::days(i64::from(history_days)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records `runs` in one transaction and prunes what is older than `history_days`.
    pub fn record(&self, runs: &[RunRecord]) -> Result<(), HistoryError> {
        self.write(|tx| {
            for run in runs {
                insert(tx, run)?;
            }
            let cutoff = (Utc::now() - self.keep).timestamp_millis();
            tx.execute("DELETE FROM runs WHERE started_at < ?1", [cutoff])?;
            Ok(())
        })
    }

    /// The last finished run of `job`, with its results: what `previous` and the send
    /// rules compare a new run with. Skipped fire times are not runs here.
    pub fn last_run(&self, job: &str) -> Result<Option<RunRecord>, HistoryError> {
        self.read(|conn| last_run(conn, job)).map(Option::flatten)
    }

    /// For each of `jobs`, its last finished run and the disk usage of its newest
    /// `disk_runs` runs: one connection for a whole run's jobs.
    pub fn recent(
        &self,
        jobs: &[String],
        disk_runs: usize,
    ) -> Result<HashMap<String, Recent>, HistoryError> {
        self.read(|conn| {
            let mut recent = HashMap::new();
            let mut statement = conn.prepare_cached(
                "SELECT runs.id, runs.started_at, disks.mount, disks.percent
                 FROM (SELECT id, started_at FROM runs
                       WHERE job = ?1 AND EXISTS (SELECT 1 FROM disks WHERE run = runs.id)
                       ORDER BY started_at DESC, id DESC LIMIT ?2) AS runs
                 JOIN disks ON disks.run = runs.id
                 ORDER BY runs.started_at, runs.id, disks.rowid",
            )?;
            for job in jobs {
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
                        run.disks.push((row.get(2)?, row.get(3)?));
                    }
                }
                let entry = Recent {
                    last: last_run(conn, job)?,
                    disks: disks.into_iter().map(|(_, run)| run).collect(),
                };
                recent.insert(job.clone(), entry);
            }
            Ok(recent)
        })
        .map(Option::unwrap_or_default)
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

    /// The newest `limit` runs (of `job`, or of every job), newest first, without results.
    pub fn runs(&self, job: Option<&str>, limit: usize) -> Result<Vec<RunRecord>, HistoryError> {
        self.read(|conn| {
            let mut statement = conn.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE ?1 IS NULL OR job = ?1
                 ORDER BY started_at DESC, id DESC LIMIT ?2"
            ))?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let runs = statement
                .query_map(rusqlite::params![job, limit], run_row)?
                .map(|row| row.map(|(_, run)| run))
                .collect::<Result<_, _>>()?;
            Ok(runs)
        })
        .map(Option::unwrap_or_default)
    }

    /// Runs `work` in a write transaction, recreating a corrupt database once.
    fn write<T>(
        &self,
        work: impl Fn(&Transaction) -> rusqlite::Result<T>,
    ) -> Result<T, HistoryError> {
        let attempt = || -> Result<T, HistoryError> {
            let mut conn = self.connect()?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| self.error(e))?;
            let value = work(&tx).map_err(|e| self.error(e))?;
            tx.commit().map_err(|e| self.error(e))?;
            Ok(value)
        };
        match attempt() {
            Err(HistoryError::Sqlite { source, .. }) if is_corrupt(&source) => {
                self.quarantine(&source);
                attempt()
            }
            other => other,
        }
    }

    /// Runs `work` on the database if there is one; `Ok(None)` when there is none yet.
    fn read<T>(
        &self,
        work: impl Fn(&Connection) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, HistoryError> {
        if !self.path.exists() {
            return Ok(None);
        }
        let conn = self.connect()?;
        work(&conn).map(Some).map_err(|e| self.error(e))
    }

    fn connect(&self) -> Result<Connection, HistoryError> {
        if let Some(folder) = self.path.parent() {
            std::fs::create_dir_all(folder).map_err(|source| HistoryError::Folder {
                path: self.path.clone(),
                source,
            })?;
        }
        let open = || -> rusqlite::Result<Connection> {
            let conn = Connection::open(&self.path)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            use_wal(&conn)?;
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
        self.migrate(&mut conn)?;
        Ok(conn)
    }

    fn migrate(&self, conn: &mut Connection) -> Result<(), HistoryError> {
        let version = |conn: &Connection| -> rusqlite::Result<i64> {
            conn.pragma_query_value(None, "user_version", |row| row.get(0))
        };
        let known = MIGRATIONS.len();
        let current = version(conn).map_err(|e| self.error(e))?;
        if current == known as i64 {
            return Ok(());
        }
        // Another process may be migrating too: decide inside the write lock.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error(e))?;
        let current = version(&tx).map_err(|e| self.error(e))?;
        if current > known as i64 {
            return Err(HistoryError::Newer {
                path: self.path.clone(),
                found: current,
                known,
            });
        }
        for step in &MIGRATIONS[current as usize..] {
            tx.execute_batch(step).map_err(|e| self.error(e))?;
        }
        tx.pragma_update(None, "user_version", known as i64)
            .map_err(|e| self.error(e))?;
        tx.commit().map_err(|e| self.error(e))
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

fn is_corrupt(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
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
                truncated, started_at, digest
         FROM results WHERE run = ?1 ORDER BY position",
    )?;
    run.results = statement
        .query_map([id], |row| {
            Ok(RecordedResult {
                name: row.get(0)?,
                command: row.get(1)?,
                host: row.get(2)?,
                target: row.get(3)?,
                status: match RunStatus::parse(&row.get::<_, String>(4)?) {
                    RunStatus::Finished(status) => status,
                    RunStatus::Skipped => Status::Error,
                },
                exit_code: row.get(5)?,
                signal: row.get(6)?,
                duration_ms: unsigned(row, 7)?,
                truncated: row.get(8)?,
                started_at: row.get(9)?,
                digest: row.get(10)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some(run))
}

const RUN_COLUMNS: &str = "id, run_id, job, trigger, started_at, finished_at, status, total, ok, \
    failed, timeout, error, duration_ms, interrupted, sent, note, reason";

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
    };
    let trigger = match row.get::<_, String>(3)?.as_str() {
        "cron" => Trigger::Cron,
        "daemon" => Trigger::Daemon,
        _ => Trigger::Manual,
    };
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

/// Switches the database to WAL (a setting kept in the file, so once). The switch needs the
/// file to itself and SQLite does not wait for that: two processes creating the database at
/// once would see "database is locked", so a busy switch is retried for a while.
fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
    let mode = |conn: &Connection| {
        conn.pragma_query_value(None, "journal_mode", |row| row.get::<_, String>(0))
    };
    let mut tries = 0;
    loop {
        match mode(conn) {
            Ok(current) if current.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(_) => match conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
            {
                Ok(_) => return Ok(()),
                Err(e) if is_busy(&e) && tries < 100 => {}
                Err(e) => return Err(e),
            },
            Err(e) if is_busy(&e) && tries < 100 => {}
            Err(e) => return Err(e),
        }
        tries += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn insert(tx: &Transaction, run: &RunRecord) -> rusqlite::Result<()> {
    let trigger = match run.trigger {
        Trigger::Manual => "manual",
        Trigger::Cron => "cron",
        Trigger::Daemon => "daemon",
    };
    let s = &run.summary;
    tx.execute(
        "INSERT INTO runs (run_id, job, trigger, started_at, finished_at, status, total, ok,
                           failed, timeout, error, duration_ms, interrupted, sent, note, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        rusqlite::params![
            run.run_id,
            run.job,
            trigger,
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
        ],
    )?;
    let id = tx.last_insert_rowid();
    let mut statement = tx.prepare_cached(
        "INSERT INTO results (run, position, name, command, host, target, status, exit_code,
                              signal, duration_ms, truncated, started_at, digest)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    for (position, r) in run.results.iter().enumerate() {
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
            r.digest,
        ])?;
    }
    let mut statement =
        tx.prepare_cached("INSERT OR IGNORE INTO disks (run, mount, percent) VALUES (?1, ?2, ?3)")?;
    for (mount, percent) in &run.disks {
        statement.execute(rusqlite::params![id, mount, percent])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, status: Status, stdout: &str) -> TaskResult {
        TaskResult::fixture(name, status, stdout, "")
    }

    fn run(job: &str, results: &[TaskResult]) -> RunRecord {
        let summary = Summary::of(results, 7);
        RunRecord::finished(
            "r1",
            job,
            Trigger::Manual,
            SystemTime::now(),
            &summary,
            results,
            false,
        )
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
        assert_eq!(last.results[0].digest, digest("b", ""));
        assert_eq!(last.results[1].status, Status::Failed);
        let runs = history.runs(None, 10).unwrap();
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[0].status, RunStatus::Skipped, "newest first");
        assert_eq!(history.runs(Some("other"), 10).unwrap().len(), 0);
        assert_eq!(history.runs(Some("disk"), 1).unwrap().len(), 1);
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
            err.contains("written by a newer reporter (schema 99, this one knows 2)"),
            "{err}"
        );
    }

    #[test]
    fn recent_runs_bring_their_disks_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path(), 90);
        for (i, percent) in [10.0, 20.0, 30.0].into_iter().enumerate() {
            let mut record = run("disk", &[result("df", Status::Ok, "a")]);
            record.started_at = Utc::now() - chrono::Duration::minutes(10 - i as i64);
            record.disks = vec![("/".into(), percent), ("/var".into(), 1.0)];
            history.record(&[record]).unwrap();
        }
        let mut unmailed = run("disk", &[result("df", Status::Failed, "b")]);
        unmailed.reason = Some("send: never".into());
        history.record(&[unmailed]).unwrap();
        let recent = history.recent(&["disk".into(), "other".into()], 2).unwrap();
        let disk = &recent["disk"];
        let last = disk.last.as_ref().unwrap();
        assert_eq!(last.reason.as_deref(), Some("send: never"));
        assert_eq!(last.results[0].status, Status::Failed);
        let percents: Vec<f64> = disk.disks.iter().map(|r| r.disks[0].1).collect();
        assert_eq!(percents, [20.0, 30.0], "the newest two, oldest first");
        assert_eq!(disk.disks[1].disks[1], ("/var".to_owned(), 1.0));
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

    #[test]
    fn digests_tell_outputs_apart() {
        assert_eq!(digest("a", "b"), digest("a", "b"));
        assert_ne!(digest("ab", ""), digest("a", "b"));
        assert_eq!(digest("", "").len(), 32);
    }
}
