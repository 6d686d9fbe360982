//! The scheduling loop. One task sleeps until the earliest next fire time (no polling:
//! nothing wakes the process between fire times), starts the jobs that are due, and
//! otherwise waits for jobs to finish, for the spool's retry and for signals. Every job it
//! starts runs its commands in the one shared pool, so jobs that fire together never run
//! more than `pool_size` commands in all (docs/jobs.md). A reload reads the configuration
//! (and runs the inventory) on a thread of its own, so the schedule keeps its time
//! meanwhile; a stop cuts the deliveries under way short ([`Stop`]).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::config::{ConfigError, Job};
use crate::daemon::loaded::Loaded;
use crate::daemon::process::{open_log, redirect_output};
use crate::deliver::spool::Spool;
use crate::deliver::{FlushReport, Mailer, Stop, StopSender};
use crate::exec::Pool;
use crate::exit::{self, Tally};
use crate::history::RunRecord;
use crate::report::Trigger;
use crate::run::load::history_store;
use crate::run::{self, Mode, RunOptions};

/// How long running jobs may take to finish after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// Retries of undelivered mail: after a minute, then twice as long each time, at most hourly.
const FLUSH_BACKOFF_MIN: Duration = Duration::from_secs(60);
const FLUSH_BACKOFF_MAX: Duration = Duration::from_secs(3600);

/// Where the daemon reads its configuration and writes its log, for reloads.
pub struct Paths {
    pub config: Option<PathBuf>,
    pub log_file: Option<PathBuf>,
}

/// A job run the daemon started: its name, when, and how it went.
type Started = (String, Instant, Tally);
/// What a reload read: the fresh configuration and jobs, or why they did not load.
type Reloaded = Result<Loaded, Vec<ConfigError>>;

struct Daemon {
    loaded: Loaded,
    paths: Paths,
    /// Every job's commands run here.
    pool: Pool,
    cancel_sender: watch::Sender<bool>,
    cancel: watch::Receiver<bool>,
    /// Asked when the daemon stops: deliveries under way get a second more.
    stop_sender: StopSender,
    stop: Stop,
    next: HashMap<String, DateTime<Utc>>,
    running: HashSet<String>,
    tasks: JoinSet<Started>,
    flushes: JoinSet<FlushReport>,
    backoff: Duration,
    retry_at: Option<Instant>,
    /// The reload under way, if any (at most one at a time).
    reloads: JoinSet<Reloaded>,
    /// A SIGHUP came during a reload: another one follows it.
    reload_again: bool,
}

struct Signals {
    hangup: Signal,
    terminate: Signal,
    interrupt: Signal,
}

/// The daemon's life: schedule, run, reload, stop. `ready` is told once signals are
/// handled, so that an init script's reload right after start cannot kill the daemon.
pub async fn serve(loaded: Loaded, paths: Paths, ready: Option<File>) {
    let (Ok(hangup), Ok(terminate), Ok(interrupt)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        error!("cannot install the signal handlers");
        return;
    };
    let mut signals = Signals {
        hangup,
        terminate,
        interrupt,
    };
    if let Some(mut ready) = ready {
        // The first process exits 0 only now that the daemon is set up.
        let _ = ready.write_all(b"1");
    }
    let mut daemon = Daemon::new(loaded, paths);
    daemon.catch_up();
    loop {
        let earliest = daemon.next.values().min().copied();
        let retry_at = daemon.retry_at;
        tokio::select! {
            () = sleep_until(earliest) => daemon.fire_due(),
            Some(done) = daemon.tasks.join_next() => {
                daemon.finished(done);
                daemon.retry_soon();
            }
            () = wake_at(retry_at), if daemon.flushes.is_empty() => daemon.flush(),
            Some(flushed) = daemon.flushes.join_next() => daemon.flushed(flushed),
            Some(()) = signals.hangup.recv() => daemon.reload(),
            Some(reloaded) = daemon.reloads.join_next() => daemon.reloaded(reloaded),
            Some(()) = signals.terminate.recv() => { info!("SIGTERM: stopping"); break; }
            Some(()) = signals.interrupt.recv() => { info!("SIGINT: stopping"); break; }
        }
    }
    daemon.stop(&mut signals).await;
    info!("daemon stopped");
}

impl Daemon {
    fn new(loaded: Loaded, paths: Paths) -> Daemon {
        let (cancel_sender, cancel) = watch::channel(false);
        let (stop_sender, stop) = Stop::channel();
        let next = loaded.fire_times(&HashMap::new(), None);
        info!(
            "daemon started (process {}): {} scheduled job{} from `{}`",
            std::process::id(),
            loaded.jobs.len(),
            plural(loaded.jobs.len()),
            loaded.config.display_path().display()
        );
        // Mail the spool still holds is retried with backoff, and only while there is some.
        let waiting = !Spool::new(&loaded.config.state_dir).list().is_empty();
        Daemon {
            pool: Pool::new(loaded.config.pool_size),
            loaded,
            paths,
            cancel_sender,
            cancel,
            stop_sender,
            stop,
            next,
            running: HashSet::new(),
            tasks: JoinSet::new(),
            flushes: JoinSet::new(),
            backoff: FLUSH_BACKOFF_MIN,
            retry_at: waiting.then(Instant::now),
            reloads: JoinSet::new(),
            reload_again: false,
        }
    }

    /// `catch_up`: a fire time that passed since the job last came due (while the daemon
    /// was down) runs once now.
    fn catch_up(&mut self) {
        let Some(history) = history_store(&self.loaded.config) else {
            return;
        };
        let now = Utc::now();
        let mut names: Vec<String> = self.loaded.jobs.keys().cloned().collect();
        names.sort();
        for name in names {
            let job = &self.loaded.jobs[&name];
            if job.schedule.is_none() || !job.catch_up {
                continue;
            }
            // Fire times are shifted by the job's `random_delay` offset, and so was the
            // last start: the missed one is the next shifted fire time after it.
            match history.last_started(&name) {
                Ok(Some(last))
                    if self
                        .loaded
                        .next_after_start(job, last)
                        .is_some_and(|missed| missed <= now) =>
                {
                    info!("{name}: catching up on a run missed while the daemon was down");
                    self.start(&name);
                }
                Ok(_) => {}
                Err(e) => error!("{e}"),
            }
        }
    }

    /// Starts the jobs whose fire time has come (a job still running skips its turn) and
    /// moves each to its next fire time.
    fn fire_due(&mut self) {
        let now = Utc::now();
        let mut due: Vec<String> = self
            .next
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(name, _)| name.clone())
            .collect();
        due.sort();
        for name in due {
            if self.running.contains(&name) {
                self.skip(&name, self.next[&name]);
            } else {
                self.start(&name);
            }
            match self.loaded.next_after(&name, now) {
                Some(at) => self.next.insert(name, at),
                None => self.next.remove(&name),
            };
        }
    }

    /// Records that `name` did not start at `fire` because its last run is still going.
    fn skip(&self, name: &str, fire: DateTime<Utc>) {
        let note = format!(
            "still running from an earlier start: the run due at {} was skipped",
            self.loaded.config.timezone.rfc3339(fire)
        );
        warn!("{name}: {note}");
        if let Some(history) = history_store(&self.loaded.config) {
            let record = RunRecord::skipped(&run::new_run_id(), name, Trigger::Daemon, note);
            if let Err(e) = history.record(&[record]) {
                error!("{e}");
            }
        }
    }

    fn start(&mut self, name: &str) {
        let Some(job) = self.loaded.jobs.get(name) else {
            return;
        };
        info!("{name}: started");
        self.running.insert(name.to_owned());
        let job: Job = job.clone();
        let config = std::sync::Arc::clone(&self.loaded.config);
        let templates = std::sync::Arc::clone(&self.loaded.templates);
        let (pool, cancel, stop) = (self.pool.clone(), self.cancel.clone(), self.stop.clone());
        let options = RunOptions {
            mode: Mode::Send,
            reports: run::Reports::Each,
            to: Vec::new(),
            trigger: Trigger::Daemon,
            // The daemon logs broken job files when it loads them.
            problems: Vec::new(),
            history: history_store(&config),
            outcome: run::Outcome::Code,
        };
        self.tasks.spawn_local(async move {
            let started = Instant::now();
            let name = job.name.clone();
            let ran = run::execute(
                &config,
                &templates,
                vec![job],
                &options,
                &pool,
                cancel,
                &stop,
            )
            .await;
            (name, started, ran.tally)
        });
    }

    fn finished(&mut self, done: Result<Started, tokio::task::JoinError>) {
        let (name, started, tally) = match done {
            Ok(done) => done,
            Err(e) => {
                error!("a job's task failed: {e}");
                return;
            }
        };
        self.running.remove(&name);
        let outcome = match tally.code() {
            exit::OK => "ok",
            exit::FAILED => "a command failed",
            exit::TEMPFAIL => "the report was not delivered",
            _ => "a template or configuration problem",
        };
        info!(
            "{name}: finished in {} ms: {outcome}",
            started.elapsed().as_millis()
        );
    }

    /// After a run: when it left mail in the spool, a retry is due after the backoff.
    fn retry_soon(&mut self) {
        if self.retry_at.is_none()
            && self.flushes.is_empty()
            && !Spool::new(&self.loaded.config.state_dir).list().is_empty()
        {
            self.retry_at = Some(Instant::now() + self.backoff);
        }
    }

    fn flush(&mut self) {
        self.retry_at = None;
        let mailer = Mailer::new(&self.loaded.config).stopping_on(self.stop.clone());
        self.flushes.spawn_local(async move {
            let report = mailer.flush(mailer.spool().list()).await;
            mailer.close().await;
            report
        });
    }

    fn flushed(&mut self, flushed: Result<FlushReport, tokio::task::JoinError>) {
        let report = flushed.unwrap_or(FlushReport {
            kept: 1,
            ..FlushReport::default()
        });
        crate::monitor::metrics::update(&self.loaded.config);
        if report.sent > 0 || report.buried > 0 {
            info!(
                "spool: {} sent, {} moved to the dead letters, {} waiting",
                report.sent, report.buried, report.kept
            );
        }
        if report.kept > 0 {
            self.backoff = (self.backoff * 2).min(FLUSH_BACKOFF_MAX);
            self.retry_at = Some(Instant::now() + self.backoff);
        } else {
            self.backoff = FLUSH_BACKOFF_MIN;
        }
    }

    /// SIGHUP: reopens the log file (a log file refused or missing is reported and the
    /// old one kept) and starts reading the configuration and jobs again, off the
    /// scheduling loop: the inventory command may take up to its timeout, and the jobs due
    /// meanwhile start on time, from the configuration in force.
    fn reload(&mut self) {
        info!("SIGHUP: reloading the configuration and jobs");
        if let Some(path) = &self.paths.log_file {
            match open_log(path) {
                Ok(log) => redirect_output(&log, false),
                Err(e) => error!("{e}; logging on to the file opened before"),
            }
        }
        if !self.reloads.is_empty() {
            info!("a reload is under way; reloading again once it is done");
            self.reload_again = true;
            return;
        }
        self.start_reload();
    }

    /// Reads the configuration and jobs on a thread of its own; [`Daemon::reloaded`]
    /// takes them.
    fn start_reload(&mut self) {
        let path = self.paths.config.clone();
        let old = self.loaded.clone();
        self.reloads
            .spawn_blocking(move || Loaded::load(path.as_deref(), Some(&old)));
    }

    /// A reload has read the configuration: the fresh one replaces the old, or, when it
    /// no longer loads, is reported and the old one kept.
    fn reloaded(&mut self, reloaded: Result<Reloaded, tokio::task::JoinError>) {
        let config = self.loaded.config.display_path();
        let reloaded = reloaded.unwrap_or_else(|e| {
            Err(vec![ConfigError::new(
                config,
                format!("cannot reload: {e}"),
            )])
        });
        match reloaded {
            Ok(fresh) => {
                self.next = fresh.fire_times(&self.next, Some(&self.loaded));
                if fresh.config.pool_size != self.pool.asked() {
                    // Jobs already running finish in the pool they started in.
                    self.pool = Pool::new(fresh.config.pool_size);
                }
                self.loaded = fresh;
                let count = self.loaded.jobs.len();
                info!("reloaded: {count} scheduled job{}", plural(count));
            }
            Err(errors) => {
                for e in &errors {
                    error!("{e}");
                }
                error!("reload failed: keeping the previous configuration");
            }
        }
        if std::mem::take(&mut self.reload_again) {
            self.start_reload();
        }
    }

    /// Gives the running jobs [`STOP_GRACE`] (or until a second signal) to finish, then
    /// kills their commands; their reports still go out, marked interrupted.
    async fn stop(mut self, signals: &mut Signals) {
        self.stop_sender.ask();
        if self.tasks.is_empty() {
            return;
        }
        let count = self.tasks.len();
        info!(
            "waiting up to {} s for {count} running job{}",
            STOP_GRACE.as_secs(),
            plural(count)
        );
        let deadline = tokio::time::sleep(STOP_GRACE);
        tokio::pin!(deadline);
        let mut cancelled = false;
        loop {
            let why = tokio::select! {
                done = self.tasks.join_next() => match done {
                    Some(done) => {
                        self.finished(done);
                        continue;
                    }
                    None => break,
                },
                () = &mut deadline, if !cancelled => {
                    "killing the commands still running; their reports go out marked interrupted"
                }
                Some(()) = signals.terminate.recv(), if !cancelled => {
                    "SIGTERM again: killing the commands still running"
                }
                Some(()) = signals.interrupt.recv(), if !cancelled => {
                    "SIGINT again: killing the commands still running"
                }
            };
            warn!("{why}");
            cancelled = true;
            let _ = self.cancel_sender.send(true);
        }
    }
}

/// Sleeps until `at` by the monotonic clock; forever when there is nothing to wait for.
async fn sleep_until(at: Option<DateTime<Utc>>) {
    match at {
        Some(at) => tokio::time::sleep((at - Utc::now()).to_std().unwrap_or_default()).await,
        None => std::future::pending().await,
    }
}

async fn wake_at(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}
