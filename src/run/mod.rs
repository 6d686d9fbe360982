//! One run, as stages: [`plan`] (lock the jobs, lay out their tasks) → the pool runs them
//! → [`finish`] each job as soon as its own tasks are done (results, context, send rule)
//! → the [`outbox`] composes and delivers (or prints) → [`record`] writes each job's
//! history as soon as its report is delivered or spooled.
//! [`lookups`] reads the facts and the history while the commands run; [`load`] is how
//! `run`, `preview` and the daemon get their jobs and templates. A sending run also pings
//! each job's dead man's switch around its commands and rewrites the metrics file and the
//! status page at the end ([`crate::monitor`]). [`fleet`] asks other hosts for their status
//! through the same pool and ssh command lines.

pub mod finish;
pub mod fleet;
pub mod load;
pub mod lookups;
pub mod options;
pub mod outbox;
pub mod plan;
pub mod record;
pub mod window;

use std::time::SystemTime;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, warn};

use crate::config::job::DEFAULT_TEMPLATE;
use crate::config::{Config, ConfigError, Job};
use crate::deliver::Stop;
use crate::exec::Pool;
use crate::exit::Tally;
use crate::history::History;
use crate::history::silenced::Silenced;
use crate::mail::Composer;
use crate::monitor::outcome::JobOutcome;
use crate::monitor::{metrics, ping::Pinger};
use crate::render::Templates;
use crate::report::{Context, Facts, Scope, Status, TaskResult};
use crate::run::finish::{RunMeta, finish_job};
use crate::run::lookups::Lookups;
use crate::run::outbox::Outbox;
use crate::run::plan::{Done, Plan};
use crate::run::record::Recorder;

pub use options::{Mode, Outcome, Reports, RunOptions};

/// How a run went: its exit status, and each job's outcome (for `run --json`).
pub struct Ran {
    pub run_id: String,
    pub tally: Tally,
    pub jobs: Vec<JobOutcome>,
}

impl Ran {
    /// A run that had nothing to do, with the exit status `tally`.
    fn empty(tally: Tally) -> Ran {
        Ran {
            run_id: new_run_id(),
            tally,
            jobs: Vec::new(),
        }
    }
}

/// Runs `jobs` through a pool of `pool_size` commands on a runtime of its own, and sends
/// (or prints) their reports; returns when they are out. SIGINT and SIGTERM stop the
/// commands; the reports still go out, marked interrupted, but every delivery (mail,
/// webhooks, pings) then gets at most a second more ([`Stop`]): what is not out by then
/// waits in the spool. With no jobs and no problems to report, nothing starts.
pub fn execute_blocking(
    config: &Config,
    templates: &Templates,
    jobs: Vec<Job>,
    options: &RunOptions,
    pool_size: usize,
) -> Ran {
    if jobs.is_empty() && options.problems.is_empty() {
        return Ran::empty(Tally::default());
    }
    let runtime = match crate::exec::runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return Ran::empty(Tally {
                config_error: true,
                ..Tally::default()
            });
        }
    };
    runtime.block_on(async {
        let (cancel_sender, cancel) = watch::channel(false);
        let (stop_sender, stop) = Stop::channel();
        let mut interrupt = signal(SignalKind::interrupt()).ok();
        let mut terminate = signal(SignalKind::terminate()).ok();
        let pool = Pool::new(pool_size);
        let execution = execute(config, templates, jobs, options, &pool, cancel, &stop);
        tokio::pin!(execution);
        let mut caught = None;
        loop {
            tokio::select! {
                mut ran = &mut execution => {
                    ran.tally.interrupted = caught;
                    return ran;
                }
                Some(()) = recv(&mut interrupt) => {
                    warn!("interrupted: stopping the running commands");
                    caught.get_or_insert(libc::SIGINT);
                    let _ = cancel_sender.send(true);
                    stop_sender.ask();
                }
                Some(()) = recv(&mut terminate) => {
                    warn!("terminated: stopping the running commands");
                    caught.get_or_insert(libc::SIGTERM);
                    let _ = cancel_sender.send(true);
                    stop_sender.ask();
                }
            }
        }
    })
}

/// Runs `jobs` to the end inside a Tokio runtime, their tasks in `pool`. When `cancel`
/// turns true, running commands' groups are killed, no more start, and the reports go out
/// marked interrupted. Once `stop` is asked, deliveries are cut short ([`Stop::bound`]).
pub async fn execute(
    config: &Config,
    templates: &Templates,
    jobs: Vec<Job>,
    options: &RunOptions,
    pool: &Pool,
    cancel: watch::Receiver<bool>,
    stop: &Stop,
) -> Ran {
    let run_id = new_run_id();
    let sending = options.mode == Mode::Send;
    let mut plan = Plan::new(jobs, config, sending, options.history.as_ref());
    let pingers = if sending {
        start_pings(&plan.jobs, templates, config, stop).await
    } else {
        Vec::new()
    };
    let mut progress = plan.start(pool, &cancel);
    // The commands start first: what their reports need besides the results (the scans of
    // the templates, the facts, the history) is looked up while they run.
    tokio::task::yield_now().await;
    let silenced = silenced_now(config, options.history.as_ref()).await;
    let recorder = Recorder::new(options.history.clone().filter(|_| sending));
    let composer = Composer {
        templates,
        config,
        to: &options.to,
        run_id: &run_id,
    };
    let mut finishing = Finishing {
        lookups: Lookups::start(
            &plan.jobs,
            templates,
            options.reports.is_digest(),
            options.history.as_ref(),
            config.timezone,
        ),
        outbox: Outbox::open(
            composer,
            options.mode,
            options.reports.is_digest(),
            plan.jobs.len(),
            options.outcome == Outcome::Json,
            stop,
        ),
        meta: RunMeta {
            run_id: &run_id,
            trigger: options.trigger,
            zone: config.timezone,
            cancel: &cancel,
            recording: recorder.is_on(),
            silenced: &silenced,
        },
        recorder,
        jobs: &plan.jobs,
        templates,
        pingers,
        pinged: Vec::new(),
        failures: Failures::default(),
        command_failed: false,
    };
    while let Some(done) = progress.next().await {
        finishing.job(done).await;
    }
    let (tally, failures, jobs) = finishing.close(&options.problems).await;
    if sending {
        metrics::update(config);
        crate::monitor::status::page::update(config);
    }
    failures.report();
    drop(plan);
    Ran {
        run_id,
        tally,
        jobs,
    }
}

/// A run's jobs finished one by one as their tasks complete, each report handed to the
/// outbox at once.
struct Finishing<'a> {
    jobs: &'a [Job],
    templates: &'a Templates,
    lookups: Lookups,
    outbox: Outbox<'a>,
    recorder: Recorder,
    meta: RunMeta<'a>,
    /// By job index: the dead man's switch of each job with `ping:`, until it finishes.
    pingers: Vec<Option<Pinger>>,
    /// The finishing pings, awaited before the run ends.
    pinged: Vec<JoinHandle<()>>,
    failures: Failures,
    command_failed: bool,
}

impl Finishing<'_> {
    /// Finishes the job whose tasks are `done`: its report, its ping, its mail.
    async fn job(&mut self, done: Done) {
        let (index, job) = (done.index, &self.jobs[done.index]);
        let facts = self.lookups.facts().await;
        let recent = self.lookups.recent(&job.name).await;
        let reads = self.lookups.reads_of(index);
        let finished = finish_job(job, done, &facts, recent, reads, &self.meta);
        self.command_failed |= !finished.context.summary.all_ok;
        // A silenced job's failures are expected: the line cron mails leaves them out.
        if finished.silenced.is_none() {
            self.failures
                .add(index, &job.name, &finished.context.results);
        }
        if let Some(pinger) = self.pingers.get_mut(index).and_then(Option::take) {
            let report = text_report(self.templates, job, &finished.context);
            self.pinged
                .push(pinger.finish(finished.context.summary.all_ok, report));
        }
        self.outbox.take(index, job, finished, &self.recorder);
    }

    /// Once every job is finished: the digest and the report of `problems` go out, the
    /// outbox closes and the pings are answered. The run's status, the failures to name,
    /// and each job's outcome (when they are kept).
    async fn close(mut self, problems: &[ConfigError]) -> (Tally, Failures, Vec<JobOutcome>) {
        let facts = self.lookups.facts().await;
        self.outbox
            .send_digest(&facts, &self.meta, &self.recorder)
            .await;
        self.outbox.send_problems(problems, &facts);
        let closed = self.outbox.close(self.meta.cancel).await;
        for ping in self.pinged {
            let _ = ping.await;
        }
        let tally = Tally {
            command_failed: self.command_failed,
            undelivered: closed.undelivered,
            config_error: closed.broken,
            interrupted: None,
        };
        (tally, self.failures, closed.outcomes)
    }
}

/// The silences and maintenance windows in force now, read off the runtime's thread
/// (through `history`, the connection the run's windows were read with, when it has one).
async fn silenced_now(config: &Config, history: Option<&History>) -> Silenced {
    let (config, history) = (config.clone(), history.cloned());
    let now = chrono::Utc::now();
    tokio::task::spawn_blocking(move || Silenced::at(&config, history.as_ref(), now))
        .await
        .unwrap_or_default()
}

/// Sends the `/start` ping of every job with `ping:` and waits until each is answered or
/// given up (within its timeout), so that it arrives before the job's first command.
/// By job index; `None` for a job without a ping.
async fn start_pings(
    jobs: &[Job],
    templates: &Templates,
    config: &Config,
    stop: &Stop,
) -> Vec<Option<Pinger>> {
    if jobs.iter().all(|job| job.ping.is_none()) {
        return Vec::new();
    }
    // A ping URL may name the host; the other facts come later, while the commands run.
    let zone = config.timezone;
    let host = tokio::task::spawn_blocking(move || Facts::gather(Scope::Names, zone))
        .await
        .unwrap_or_else(|_| Facts::gather(Scope::Names, zone));
    let mut pingers: Vec<Option<Pinger>> = jobs
        .iter()
        .map(|job| Pinger::start(job, templates, &host, stop))
        .collect();
    for pinger in pingers.iter_mut().flatten() {
        pinger.started().await;
    }
    pingers
}

/// The plain-text report a ping carries: the job's text template, or the built-in one
/// when that fails (the mail says why).
fn text_report(templates: &Templates, job: &Job, context: &Context<'_>) -> Vec<u8> {
    templates
        .render_text(&job.mail.template, context)
        .or_else(|_| templates.render_text(DEFAULT_TEMPLATE, context))
        .unwrap_or_default()
        .into_bytes()
}

/// The results that were not ok, by job, for one line on stderr at the end of a run that
/// exits 1: cron mails stderr, and the line says which jobs and commands to look at.
#[derive(Default)]
struct Failures {
    /// Job index, then `JOB: NAME (STATUS), ...`.
    jobs: Vec<(usize, String)>,
}

impl Failures {
    /// The most results a job's entry names; the rest are counted.
    const NAMED: usize = 3;

    fn add(&mut self, index: usize, job: &str, results: &[TaskResult]) {
        let failed: Vec<&TaskResult> = results
            .iter()
            .filter(|r| r.core.status != Status::Ok)
            .collect();
        if failed.is_empty() {
            return;
        }
        let mut named: Vec<String> = failed
            .iter()
            .take(Self::NAMED)
            .map(|r| {
                let core = &r.core;
                let place = match (&core.host, &core.target) {
                    (Some(host), Some(target)) => format!(" on {host} for {target}"),
                    (Some(host), None) => format!(" on {host}"),
                    (None, Some(target)) => format!(" for {target}"),
                    (None, None) => String::new(),
                };
                format!("{}{place} ({})", core.name, core.status.as_str())
            })
            .collect();
        if failed.len() > Self::NAMED {
            named.push(format!("{} more", failed.len() - Self::NAMED));
        }
        self.jobs
            .push((index, format!("{job}: {}", named.join(", "))));
    }

    fn report(mut self) {
        if self.jobs.is_empty() {
            return;
        }
        // In the order of the command line or the jobs folder, not of completion.
        self.jobs.sort_by_key(|(index, _)| *index);
        let jobs: Vec<String> = self.jobs.into_iter().map(|(_, text)| text).collect();
        warn!("not ok: {}", jobs.join("; "));
    }
}

/// A unique id for this run: time, pid and a few random bits.
pub fn new_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!(
        "{}.{}.{:06x}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        std::process::id(),
        hasher.finish() & 0xff_ffff
    )
}

async fn recv(signal: &mut Option<Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_differ() {
        assert_ne!(new_run_id(), new_run_id());
    }
}
