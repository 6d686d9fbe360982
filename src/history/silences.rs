//! Silences (`reporter silence`, docs/silences.md): kept in the history's database, so that
//! cron runs, `run` and the daemon all see the same ones, and a restart loses none. An
//! ended silence (expired, or ended by `unsilence`) is kept for [`KEEP_ENDED_DAYS`] days.

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

use crate::history::{History, HistoryError};

/// How long a silence is kept once it has ended.
pub const KEEP_ENDED_DAYS: i64 = 30;

/// One silence: the jobs it covers (`None`: every job, those added later too), when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    pub id: i64,
    pub jobs: Option<Vec<String>>,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub reason: String,
    /// Who made it.
    pub by: String,
}

/// A silence to make.
#[derive(Debug, Clone)]
pub struct NewSilence {
    pub jobs: Option<Vec<String>>,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub reason: String,
    pub by: String,
}

impl Silence {
    /// Whether it covers job `job` (at whatever time).
    pub fn covers(&self, job: &str) -> bool {
        self.jobs
            .as_ref()
            .is_none_or(|jobs| jobs.iter().any(|j| j == job))
    }

    /// Whether it is in force at `now`.
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.from <= now && now < self.until
    }

    /// `ID: reason`: how a run's `silenced` names it.
    pub fn label(&self) -> String {
        format!("{}: {}", self.id, self.reason)
    }
}

impl History {
    /// Makes a silence; its id. Silences ended more than [`KEEP_ENDED_DAYS`] ago go.
    pub fn add_silence(&self, silence: &NewSilence) -> Result<i64, HistoryError> {
        let jobs = silence.jobs.as_ref().map(|jobs| jobs.join(" "));
        self.write(|tx| {
            prune(tx)?;
            tx.execute(
                "INSERT INTO silences (jobs, from_ms, until_ms, reason, made_by)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![
                    jobs,
                    silence.from.timestamp_millis(),
                    silence.until.timestamp_millis(),
                    silence.reason,
                    silence.by,
                ],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// Ends the silences `ids` (every one that has not ended, with `None`) at `now`: they
    /// are kept as ended ones. Returns the ids that were in force or to come, in order.
    pub fn end_silences(
        &self,
        ids: Option<&[i64]>,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, HistoryError> {
        let now = now.timestamp_millis();
        self.write(|tx| {
            prune(tx)?;
            let mut current =
                tx.prepare_cached("SELECT id FROM silences WHERE until_ms > ?1 ORDER BY id")?;
            let open: Vec<i64> = current
                .query_map([now], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            let ending: Vec<i64> = match ids {
                Some(ids) => open.into_iter().filter(|id| ids.contains(id)).collect(),
                None => open,
            };
            let mut end = tx.prepare_cached(
                "UPDATE silences SET until_ms = ?2, from_ms = min(from_ms, ?2) WHERE id = ?1",
            )?;
            for id in &ending {
                end.execute([*id, now])?;
            }
            Ok(ending)
        })
    }

    /// The silences that have not ended at `now` (in force, or to come), oldest first.
    pub fn silences(&self, now: DateTime<Utc>) -> Result<Vec<Silence>, HistoryError> {
        self.read_keeping(|conn| {
            conn.prepare_cached(
                "SELECT id, jobs, from_ms, until_ms, reason, made_by FROM silences
                 WHERE until_ms > ?1 ORDER BY id",
            )?
            .query_map([now.timestamp_millis()], silence_row)?
            .collect()
        })
        .map(Option::unwrap_or_default)
    }

    /// Silence `id`, ended or not, while it is kept.
    pub fn silence(&self, id: i64) -> Result<Option<Silence>, HistoryError> {
        self.read(|conn| {
            conn.query_row(
                "SELECT id, jobs, from_ms, until_ms, reason, made_by FROM silences WHERE id = ?1",
                [id],
                silence_row,
            )
            .optional()
        })
        .map(Option::flatten)
    }
}

fn silence_row(row: &rusqlite::Row) -> rusqlite::Result<Silence> {
    let time = |index: usize| -> rusqlite::Result<DateTime<Utc>> {
        Ok(DateTime::from_timestamp_millis(row.get(index)?).unwrap_or_default())
    };
    let jobs: Option<String> = row.get(1)?;
    Ok(Silence {
        id: row.get(0)?,
        jobs: jobs.map(|jobs| jobs.split(' ').map(str::to_owned).collect()),
        from: time(2)?,
        until: time(3)?,
        reason: row.get(4)?,
        by: row.get(5)?,
    })
}

/// Forgets the silences that ended more than [`KEEP_ENDED_DAYS`] ago.
fn prune(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    let cutoff = (Utc::now() - chrono::Duration::days(KEEP_ENDED_DAYS)).timestamp_millis();
    tx.prepare_cached("DELETE FROM silences WHERE until_ms < ?1")?
        .execute([cutoff])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn new(jobs: Option<&[&str]>, from: DateTime<Utc>, until: DateTime<Utc>) -> NewSilence {
        NewSilence {
            jobs: jobs.map(|jobs| jobs.iter().map(|j| (*j).to_owned()).collect()),
            from,
            until,
            reason: "patching".into(),
            by: "root".into(),
        }
    }

    #[test]
    fn silences_are_kept_listed_ended_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path(), 90);
        let now = Utc::now();
        assert!(history.silences(now).unwrap().is_empty(), "no database yet");
        let disk = history
            .add_silence(&new(Some(&["disk", "web"]), now, now + Duration::hours(1)))
            .unwrap();
        let all = history
            .add_silence(&new(
                None,
                now + Duration::hours(2),
                now + Duration::hours(3),
            ))
            .unwrap();
        let old = history
            .add_silence(&new(
                None,
                now - Duration::days(40),
                now - Duration::days(31),
            ))
            .unwrap();
        assert!(disk < all && all < old, "ids grow");
        let listed = history.silences(now).unwrap();
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(listed[0].covers("web") && !listed[0].covers("other"));
        assert!(listed[0].active_at(now) && !listed[1].active_at(now));
        assert!(listed[1].covers("anything"));
        assert_eq!(listed[0].label(), format!("{disk}: patching"));
        assert_eq!(history.end_silences(Some(&[all, 999]), now).unwrap(), [all]);
        assert_eq!(
            history.silences(now + Duration::seconds(1)).unwrap().len(),
            1
        );
        let ended = history.silence(all).unwrap().unwrap();
        assert_eq!((ended.from, ended.until), (now.trunc(), now.trunc()));
        assert_eq!(history.end_silences(None, now).unwrap(), [disk]);
        assert!(
            history.silence(disk).unwrap().is_some(),
            "an ended one is kept"
        );
        assert!(
            history.silence(old).unwrap().is_none(),
            "pruned after 30 days"
        );
        let next = history.add_silence(&new(None, now, now)).unwrap();
        assert!(next > old, "an id is never used again");
    }

    trait Millis {
        fn trunc(self) -> Self;
    }

    impl Millis for DateTime<Utc> {
        fn trunc(self) -> Self {
            DateTime::from_timestamp_millis(self.timestamp_millis()).unwrap()
        }
    }
}
