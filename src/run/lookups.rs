//! What a report needs besides its results, read while the commands run: the facts about
//! this machine (its system part only when a template reads it) and the jobs' history.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tracing::error;

use crate::config::Job;
use crate::history::{History, HistoryError, Recent};
use crate::render::{DIGEST_TEMPLATE, Reads, Templates};
use crate::report::expect::ANOMALY_RUNS;
use crate::report::values::TREND_LEN;
use crate::report::{Facts, Scope};
use crate::schedule::Zone;

/// How many earlier runs a report's disk usage history shows.
const DISK_RUNS: usize = 13;

pub struct Lookups {
    /// Per job (in plan order): what its templates read.
    reads: Vec<Reads>,
    /// What the whole run reads: the widest of the jobs' scopes (and the digest's).
    scope: Scope,
    zone: Zone,
    facts: Option<Arc<Facts>>,
    facts_task: Option<JoinHandle<Facts>>,
    recent: Option<HashMap<String, Recent>>,
    recent_task: Option<JoinHandle<Result<HashMap<String, Recent>, HistoryError>>>,
}

impl Lookups {
    /// Starts gathering the facts `jobs` (and the digest, with `digest`) read, and reading
    /// what `history` holds of them, each on a blocking thread.
    pub fn start(
        jobs: &[Job],
        templates: &Templates,
        digest: bool,
        history: Option<&History>,
        zone: Zone,
    ) -> Lookups {
        let reads: Vec<Reads> = jobs
            .iter()
            .map(|job| {
                let reads = templates.reads(job);
                Reads {
                    // A disk forecast needs the disks, whatever the templates read.
                    facts: match job.disk_full_within {
                        Some(_) => Scope::Full,
                        None => reads.facts,
                    },
                    // The digest shows each job's `previous` to its own template.
                    previous: digest || reads.previous,
                }
            })
            .collect();
        let digest_scope = if digest {
            templates.template_scope(DIGEST_TEMPLATE)
        } else {
            Scope::Names
        };
        let scope = reads.iter().map(|r| r.facts).fold(digest_scope, Scope::max);
        // The facts may need a resolver lookup and reading /proc: off the thread that
        // starts commands.
        let facts_task = tokio::task::spawn_blocking(move || Facts::gather(scope, zone));
        let recent_task = history.cloned().map(|history| {
            let wanted: Vec<(String, usize)> = jobs
                .iter()
                .map(|job| (job.name.clone(), value_runs(job)))
                .collect();
            tokio::task::spawn_blocking(move || history.recent(&wanted, DISK_RUNS))
        });
        Lookups {
            reads,
            scope,
            zone,
            facts: None,
            facts_task: Some(facts_task),
            recent: None,
            recent_task,
        }
    }

    /// What the templates of the job at `index` read.
    pub fn reads_of(&self, index: usize) -> Reads {
        self.reads[index]
    }

    /// The facts, waiting for their gathering to finish the first time.
    pub async fn facts(&mut self) -> Arc<Facts> {
        if let Some(facts) = &self.facts {
            return Arc::clone(facts);
        }
        let gathered = match self.facts_task.take() {
            Some(task) => task.await.ok(),
            None => None,
        };
        let gathered = gathered.unwrap_or_else(|| Facts::gather(self.scope, self.zone));
        Arc::clone(self.facts.insert(Arc::new(gathered)))
    }

    /// What the history holds of `job`, waiting for the read to finish the first time. A
    /// history that cannot be read is reported once; the jobs then have no previous run.
    pub async fn recent(&mut self, job: &str) -> Recent {
        if self.recent.is_none() {
            let read = match self.recent_task.take() {
                Some(task) => match task.await {
                    Ok(Ok(read)) => read,
                    Ok(Err(e)) => {
                        error!("{e}");
                        HashMap::new()
                    }
                    Err(_) => HashMap::new(),
                },
                None => HashMap::new(),
            };
            self.recent = Some(read);
        }
        self.recent
            .as_mut()
            .and_then(|recent| recent.remove(job))
            .unwrap_or_default()
    }
}

/// How many of `job`'s newest runs its values are read from (docs/values.md): those an
/// anomaly is judged against when one of its commands has an `anomaly` rule, else those
/// of a trend (the change from the previous value is among them).
fn value_runs(job: &Job) -> usize {
    let anomaly = job
        .commands
        .iter()
        .any(|command| command.expect.iter().any(|rule| rule.anomaly.is_some()));
    if anomaly { ANOMALY_RUNS } else { TREND_LEN - 1 }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn job(text: &str) -> Job {
        let config = Config::parse("", Path::new("r.yaml"), Path::new("/etc/r")).unwrap();
        Job::parse("j", Path::new("jobs/j.yaml"), text, &config).unwrap()
    }

    #[test]
    fn values_are_read_from_100_runs_only_for_an_anomaly_rule() {
        let plain = job("commands: [true]\n");
        assert_eq!(value_runs(&plain), 29);
        let change = job(
            "commands:\n  - run: 'echo 3'\n    values: {n: '(\\d+)'}\n    expect: {n: {change: 50%, max: 9}}\n",
        );
        assert_eq!(value_runs(&change), 29);
        let anomaly = job(
            "commands:\n  - run: 'echo 3'\n  - run: 'echo 4'\n    expect: {duration_ms: {anomaly: 4}}\n",
        );
        assert_eq!(value_runs(&anomaly), 100);
    }
}
