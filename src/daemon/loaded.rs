//! What the daemon runs from: one loaded configuration, its templates and its scheduled
//! jobs, and each job's next fire time; reloaded on SIGHUP without losing a due run.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::{debug, error, info, warn};

use crate::config::job::job_name;
use crate::config::{Config, ConfigError, Job};
use crate::render::Templates;
use crate::run::load::Workload;

#[derive(Clone)]
pub struct Loaded {
    pub config: Arc<Config>,
    pub templates: Arc<Templates>,
    /// The enabled jobs with a schedule, by name.
    pub jobs: HashMap<String, Job>,
    /// This machine's name, from which each job's `random_delay` offset is derived.
    pub hostname: String,
}

impl Loaded {
    /// Loads the config, templates and jobs. A broken config is fatal; a broken job file
    /// leaves that job out (or, on reload, keeps its previous version from `old`).
    pub fn load(path: Option<&Path>, old: Option<&Loaded>) -> Result<Loaded, Vec<ConfigError>> {
        let mut config = Config::load(path)?;
        if let Some(problem) = crate::run::load::state_dir_problem(&config) {
            return Err(vec![problem]);
        }
        config.load_inventory();
        let Workload {
            mut jobs,
            templates,
            problems,
        } = Workload::everything(&config);
        if let Some(old) = old {
            for problem in &problems {
                let name = problem
                    .path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(job_name);
                if let Some(previous) = name.and_then(|n| old.jobs.get(n))
                    && !jobs.iter().any(|j| j.name == previous.name)
                {
                    warn!("{}: keeping the previous version of the job", previous.name);
                    jobs.push(previous.clone());
                }
            }
        }
        for problem in &problems {
            error!("{problem}");
        }
        let jobs = jobs
            .into_iter()
            .filter(|j| j.schedule.is_some() && j.enabled)
            .map(|j| (j.name.clone(), j))
            .collect();
        Ok(Loaded {
            config: Arc::new(config),
            templates: Arc::new(templates),
            jobs,
            hostname: crate::report::facts::hostname(),
        })
    }

    /// Each job's next fire time after now (shifted by its `random_delay` offset), keeping
    /// the pending one of a job whose schedule, delay and time zone did not change since
    /// `old` (so a reload never loses a due run).
    pub fn fire_times(
        &self,
        pending: &HashMap<String, DateTime<Utc>>,
        old: Option<&Loaded>,
    ) -> HashMap<String, DateTime<Utc>> {
        let now = Utc::now();
        self.jobs
            .values()
            .filter_map(|job| {
                let schedule = job.schedule.as_ref()?;
                let unchanged = old.is_some_and(|old| {
                    old.config.timezone == self.config.timezone
                        && old.hostname == self.hostname
                        && old.jobs.get(&job.name).is_some_and(|j| {
                            j.schedule.as_ref() == Some(schedule)
                                && j.random_delay == job.random_delay
                        })
                });
                if !job.random_delay.is_zero() {
                    info!(
                        "{}: {}",
                        job.name,
                        crate::schedule::delay::describe(
                            job.delay_on(&self.hostname),
                            job.random_delay,
                            &self.hostname
                        )
                    );
                }
                let at = match pending.get(&job.name) {
                    Some(at) if unchanged => *at,
                    _ => job.next_run(now, self.config.timezone, &self.hostname)?,
                };
                self.log_next(job, at);
                Some((job.name.clone(), at))
            })
            .collect()
    }

    /// The fire time of `name` after `now`, if it has one.
    pub fn next_after(&self, name: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let job = self.jobs.get(name)?;
        let at = job.next_run(now, self.config.timezone, &self.hostname)?;
        self.log_next(job, at);
        Some(at)
    }

    /// The fire time of `job` after its last start `last` (when it came due, shifted).
    pub fn next_after_start(&self, job: &Job, last: DateTime<Utc>) -> Option<DateTime<Utc>> {
        job.next_run(last, self.config.timezone, &self.hostname)
    }

    fn log_next(&self, job: &Job, at: DateTime<Utc>) {
        debug!(
            "{}: next run at {}",
            job.name,
            self.config.timezone.rfc3339(at)
        );
    }
}
