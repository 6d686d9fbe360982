//! The history's schema and how a database file is brought up to it: numbered migrations
//! recorded in `PRAGMA user_version`, and WAL mode for concurrent readers and one writer.

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

/// Schema versions, in order; `PRAGMA user_version` says how many have been applied.
/// Never edit a released step: add a new one.
pub const MIGRATIONS: &[&str] = &[
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
    // 3: the outputs of each job's last run, for `previous` and `diff` (older runs' are
    // set to NULL as a new run is recorded), and the disks' bytes, for `days_to_full`.
    "ALTER TABLE results ADD COLUMN stdout TEXT;
    ALTER TABLE results ADD COLUMN stderr TEXT;
    ALTER TABLE disks ADD COLUMN used INTEGER;
    ALTER TABLE disks ADD COLUMN total INTEGER;",
    // 4: the results that still hold outputs (each job's last run), so that recording a run
    // finds the previous one's without reading every result the job ever had.
    "CREATE INDEX results_with_output ON results (run)
        WHERE stdout IS NOT NULL OR stderr IS NOT NULL;",
    // 5: each result's values (docs/values.md): a JSON object of the numbers its command's
    // `values:` read, NULL when none did (`duration_ms` has its own column).
    "ALTER TABLE results ADD COLUMN numbers TEXT;",
    // 6: silences (`reporter silence`; ids never reused, so a run's `silenced` names one
    // for good; `jobs` is space-separated, NULL for every job), and the silence or
    // maintenance window each run was in.
    "CREATE TABLE silences (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        jobs TEXT,
        from_ms INTEGER NOT NULL,
        until_ms INTEGER NOT NULL,
        reason TEXT NOT NULL,
        made_by TEXT NOT NULL
    );
    CREATE INDEX silences_by_end ON silences (until_ms);
    ALTER TABLE runs ADD COLUMN silenced TEXT;",
    // 7: each job's runs by status, so that `status` finds where a job's last status began,
    // and its last ok run, with a lookup per status instead of a walk through its runs; and
    // the results that hold values, so that it reads their series without visiting the
    // results that hold none.
    "CREATE INDEX runs_by_status ON runs (job, status, started_at);
    CREATE INDEX results_with_numbers ON results (run) WHERE numbers IS NOT NULL;",
    // 8: both indexes of a job's runs hold what `status` reads of them, so that it reads
    // the indexes' pages and never the table's.
    "DROP INDEX runs_by_job;
    CREATE INDEX runs_by_job ON runs (job, started_at, status, finished_at, duration_ms);
    DROP INDEX runs_by_status;
    CREATE INDEX runs_by_status ON runs (job, status, started_at, finished_at);",
    // 9: the values of each job that were read as sizes, so that `status` shows them as
    // sizes: a row per job and name, not a mark per result.
    "CREATE TABLE value_sizes (
        job TEXT NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (job, name)
    ) WITHOUT ROWID;",
];

/// Why a database could not be brought up to the schema.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("written by a newer reporter (schema {found}, this one knows {known}); left alone")]
    Newer { found: i64, known: usize },
}

/// Applies the migrations `conn`'s database has not had yet.
pub fn migrate(conn: &mut Connection) -> Result<(), SchemaError> {
    let version = |conn: &Connection| -> rusqlite::Result<i64> {
        conn.pragma_query_value(None, "user_version", |row| row.get(0))
    };
    let known = MIGRATIONS.len();
    if version(conn)? == known as i64 {
        return Ok(());
    }
    // Another process may be migrating too: decide inside the write lock.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = version(&tx)?;
    if current > known as i64 {
        return Err(SchemaError::Newer {
            found: current,
            known,
        });
    }
    for step in &MIGRATIONS[current as usize..] {
        tx.execute_batch(step)?;
    }
    tx.pragma_update(None, "user_version", known as i64)?;
    tx.commit()?;
    Ok(())
}

/// Switches the database to WAL (a setting kept in the file, so once). The switch needs the
/// file to itself and SQLite does not wait for that: two processes creating the database at
/// once would see "database is locked", so a busy switch is retried for a while.
pub fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
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
