//! `reporter daemon`: runs each scheduled job at its fire times until SIGTERM (SPEC §7).
//!
//! One task sleeps until the earliest next fire time (no polling: nothing wakes the
//! process between fire times), starts the jobs that are due, and otherwise waits for
//! jobs to finish and for signals. SIGHUP reloads; SIGTERM/SIGINT stop starting jobs,
//! give the running ones 30 s, then kill their process groups, let their reports go
//! out, and exit 0.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use crate::app;
use crate::cli::DaemonArgs;
use crate::config::{self, Config};
use crate::error::ConfigError;
use crate::exit::{self, Tally};
use crate::history::{History, RunRecord};
use crate::job::{self, Job};
use crate::mailer::{FlushReport, Mailer};
use crate::report::Trigger;
use crate::runner::{self, RunOptions};
use crate::spool::Spool;
use crate::template::Templates;

/// How long running jobs may take to finish after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// Retries of undelivered mail: after a minute, then twice as long each time, at most hourly.
const FLUSH_BACKOFF_MIN: Duration = Duration::from_secs(60);
const FLUSH_BACKOFF_MAX: Duration = Duration::from_secs(3600);

/// What the daemon runs from: one loaded configuration.
struct Loaded {
    config: Arc<Config>,
    templates: Arc<Templates>,
    /// The jobs with a schedule, by name.
    jobs: HashMap<String, Job>,
}

impl Loaded {
    fn history(&self) -> Option<History> {
        app::history_store(&self.config)
    }
}

/// Loads the config, templates and jobs. A broken config is fatal; a broken job file
/// leaves that job out (or, on reload, keeps its previous version from `old`).
fn load(path: Option<&Path>, old: Option<&Loaded>) -> Result<Loaded, Vec<ConfigError>> {
    let config = Config::load(path)?;
    let mut errors = Vec::new();
    let templates = app::load_templates(&config, &mut errors);
    let (jobs, mut problems) = job::load_all(&config.jobs_dir, &config);
    let mut jobs = app::with_templates(jobs, &templates, &mut problems);
    if let Some(old) = old {
        for problem in &problems {
            let name = problem
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(job::job_name);
            if let Some(previous) = name.and_then(|n| old.jobs.get(n))
                && !jobs.iter().any(|j| j.name == previous.name)
            {
                warn!("{}: keeping the previous version of the job", previous.name);
                jobs.push(previous.clone());
            }
        }
    }
    errors.append(&mut problems);
    for error in &errors {
        error!("{error}");
    }
    let jobs = jobs
        .into_iter()
        .filter(|j| j.schedule.is_some())
        .map(|j| (j.name.clone(), j))
        .collect();
    Ok(Loaded {
        config: Arc::new(config),
        templates: Arc::new(templates),
        jobs,
    })
}

pub fn main(config: Option<&Path>, args: DaemonArgs) -> i32 {
    // The daemon may chdir to / and reloads later: pin every path now.
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let config_path = config::discover(config).map(|p| absolute(&p));
    let pidfile = args.pidfile.as_deref().map(absolute);
    let log_file = args.log_file.as_deref().map(absolute);

    let loaded = match load(config_path.as_deref(), None) {
        Ok(loaded) => loaded,
        Err(errors) => {
            app::report(&errors);
            return exit::USAGE;
        }
    };
    if let Some(pidfile) = &pidfile
        && let Some(pid) = running_pid(pidfile)
    {
        tracing::error!(
            "{}: a daemon is already running as process {pid}",
            pidfile.display()
        );
        return exit::USAGE;
    }
    let log = match log_file.as_deref().map(open_log).transpose() {
        Ok(log) => log,
        Err(e) => {
            tracing::error!("{e}");
            return exit::USAGE;
        }
    };
    let ready = if args.detach {
        match detach() {
            Ok(ready) => Some(ready),
            Err(e) => {
                tracing::error!("cannot detach: {e}");
                return exit::USAGE;
            }
        }
    } else {
        None
    };
    if let Some(pidfile) = &pidfile
        && let Err(e) = write_pidfile(pidfile)
    {
        tracing::error!("{}: {e}", pidfile.display());
        return exit::USAGE;
    }
    if let Some(log) = &log {
        redirect_output(log, args.detach);
    }

    let code = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, serve(loaded, config_path, log_file, ready));
            exit::OK
        }
        Err(e) => {
            error!("cannot start the runtime: {e}");
            exit::USAGE
        }
    };
    if let Some(pidfile) = &pidfile {
        remove_pidfile(pidfile);
    }
    code
}

/// The daemon's life: schedule, run, reload, stop. `ready` is told once signals are
/// handled, so that an init script's reload right after start cannot kill the daemon.
async fn serve(
    mut loaded: Loaded,
    config_path: Option<PathBuf>,
    log_file: Option<PathBuf>,
    ready: Option<File>,
) {
    let (mut hangup, mut terminate, mut interrupt) = match (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(h), Ok(t), Ok(i)) => (h, t, i),
        _ => {
            error!("cannot install the signal handlers");
            return;
        }
    };
    if let Some(mut ready) = ready {
        // The first process exits 0 only now that the daemon is set up.
        let _ = ready.write_all(b"1");
    }
    let (cancel_sender, cancel) = watch::channel(false);
    let mut running: HashSet<String> = HashSet::new();
    let mut tasks: JoinSet<(String, Instant, Tally)> = JoinSet::new();
    let now = Utc::now();
    let mut next: HashMap<String, DateTime<Utc>> = next_fire_times(&loaded, &HashMap::new(), None);
    info!(
        "daemon started (process {}): {} scheduled job{} from `{}`",
        std::process::id(),
        loaded.jobs.len(),
        if loaded.jobs.len() == 1 { "" } else { "s" },
        loaded.config.display_path().display()
    );

    // catch_up: a fire time that passed since the job last came due (while the daemon
    // was down) runs once now.
    if let Some(history) = loaded.history() {
        let mut names: Vec<&String> = loaded.jobs.keys().collect();
        names.sort();
        for name in names {
            let job = &loaded.jobs[name];
            let Some(schedule) = job.schedule.as_ref().filter(|_| job.catch_up) else {
                continue;
            };
            match history.last_started(name) {
                Ok(Some(last))
                    if schedule
                        .next_after(last, loaded.config.timezone)
                        .is_some_and(|missed| missed <= now) =>
                {
                    info!("{name}: catching up on a run missed while the daemon was down");
                    start(&loaded, job, &cancel, &mut running, &mut tasks);
                }
                Ok(_) => {}
                Err(e) => error!("{e}"),
            }
        }
    }

    // Mail the spool still holds is retried with backoff, and only while there is some.
    let mut flushes: JoinSet<FlushReport> = JoinSet::new();
    let mut backoff = FLUSH_BACKOFF_MIN;
    let mut retry_at = (!Spool::new(&loaded.config.state_dir).list().is_empty()).then(Instant::now);

    loop {
        let retry = async {
            match retry_at {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let earliest = next.values().min().copied();
        let sleep = async {
            match earliest {
                Some(at) => {
                    tokio::time::sleep((at - Utc::now()).to_std().unwrap_or_default()).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {
                let now = Utc::now();
                let mut due: Vec<String> =
                    next.iter().filter(|(_, at)| **at <= now).map(|(n, _)| n.clone()).collect();
                due.sort();
                for name in due {
                    let job = &loaded.jobs[&name];
                    let fire = next[&name];
                    if running.contains(&name) {
                        let note = format!(
                            "still running from an earlier start: the run due at {} was skipped",
                            stamp(fire, &loaded.config)
                        );
                        warn!("{name}: {note}");
                        if let Some(history) = loaded.history()
                            && let Err(e) = history.record(&[RunRecord::skipped(
                                &runner::new_run_id(),
                                &name,
                                Trigger::Daemon,
                                note,
                            )])
                        {
                            error!("{e}");
                        }
                    } else {
                        start(&loaded, job, &cancel, &mut running, &mut tasks);
                    }
                    advance(&loaded, &mut next, &name, now);
                }
            }
            Some(done) = tasks.join_next() => {
                finished(done, &mut running);
                if retry_at.is_none() && flushes.is_empty() && !Spool::new(&loaded.config.state_dir).list().is_empty() {
                    retry_at = Some(Instant::now() + backoff);
                }
            }
            () = retry, if flushes.is_empty() => {
                retry_at = None;
                let mailer = Mailer::new(&loaded.config);
                flushes.spawn_local(async move { mailer.flush(mailer.spool().list()).await });
            }
            Some(flushed) = flushes.join_next() => {
                let report = flushed.unwrap_or(FlushReport { kept: 1, ..FlushReport::default() });
                if report.sent > 0 || report.buried > 0 {
                    info!("spool: {} sent, {} moved to the dead letters, {} waiting", report.sent, report.buried, report.kept);
                }
                if report.kept > 0 {
                    backoff = (backoff * 2).min(FLUSH_BACKOFF_MAX);
                    retry_at = Some(Instant::now() + backoff);
                } else {
                    backoff = FLUSH_BACKOFF_MIN;
                }
            }
            Some(()) = hangup.recv() => {
                info!("SIGHUP: reloading the configuration and jobs");
                if let Some(path) = &log_file {
                    match open_log(path) {
                        Ok(log) => redirect_output(&log, false),
                        Err(e) => error!("{e}"),
                    }
                }
                match load(config_path.as_deref(), Some(&loaded)) {
                    Ok(fresh) => {
                        next = next_fire_times(&fresh, &next, Some(&loaded));
                        loaded = fresh;
                        info!(
                            "reloaded: {} scheduled job{}",
                            loaded.jobs.len(),
                            if loaded.jobs.len() == 1 { "" } else { "s" }
                        );
                    }
                    Err(errors) => {
                        for e in &errors {
                            error!("{e}");
                        }
                        error!("reload failed: keeping the previous configuration");
                    }
                }
            }
            Some(()) = terminate.recv() => { info!("SIGTERM: stopping"); break; }
            Some(()) = interrupt.recv() => { info!("SIGINT: stopping"); break; }
        }
    }

    if !tasks.is_empty() {
        info!(
            "waiting up to {} s for {} running job{}",
            STOP_GRACE.as_secs(),
            tasks.len(),
            if tasks.len() == 1 { "" } else { "s" }
        );
        let deadline = tokio::time::sleep(STOP_GRACE);
        tokio::pin!(deadline);
        let mut cancelled = false;
        loop {
            tokio::select! {
                done = tasks.join_next() => match done {
                    Some(done) => finished(done, &mut running),
                    None => break,
                },
                () = &mut deadline, if !cancelled => {
                    warn!("killing the commands still running; their reports go out marked interrupted");
                    cancelled = true;
                    let _ = cancel_sender.send(true);
                }
                Some(()) = terminate.recv(), if !cancelled => {
                    warn!("SIGTERM again: killing the commands still running");
                    cancelled = true;
                    let _ = cancel_sender.send(true);
                }
                Some(()) = interrupt.recv(), if !cancelled => {
                    warn!("SIGINT again: killing the commands still running");
                    cancelled = true;
                    let _ = cancel_sender.send(true);
                }
            }
        }
    }
    info!("daemon stopped");
}

/// Each job's next fire time after now, keeping the pending one of a job whose schedule
/// and time zone did not change across a reload (so a reload never loses a due run).
fn next_fire_times(
    loaded: &Loaded,
    pending: &HashMap<String, DateTime<Utc>>,
    old: Option<&Loaded>,
) -> HashMap<String, DateTime<Utc>> {
    let now = Utc::now();
    loaded
        .jobs
        .values()
        .filter_map(|job| {
            let schedule = job.schedule.as_ref()?;
            let unchanged = old.is_some_and(|old| {
                old.config.timezone == loaded.config.timezone
                    && old.jobs.get(&job.name).and_then(|j| j.schedule.as_ref()) == Some(schedule)
            });
            let at = match pending.get(&job.name) {
                Some(at) if unchanged => *at,
                _ => schedule.next_after(now, loaded.config.timezone)?,
            };
            debug!("{}: next run at {}", job.name, stamp(at, &loaded.config));
            Some((job.name.clone(), at))
        })
        .collect()
}

fn advance(
    loaded: &Loaded,
    next: &mut HashMap<String, DateTime<Utc>>,
    name: &str,
    now: DateTime<Utc>,
) {
    let job = &loaded.jobs[name];
    match job
        .schedule
        .as_ref()
        .and_then(|s| s.next_after(now, loaded.config.timezone))
    {
        Some(at) => {
            debug!("{name}: next run at {}", stamp(at, &loaded.config));
            next.insert(name.to_owned(), at);
        }
        None => {
            next.remove(name);
        }
    }
}

fn start(
    loaded: &Loaded,
    job: &Job,
    cancel: &watch::Receiver<bool>,
    running: &mut HashSet<String>,
    tasks: &mut JoinSet<(String, Instant, Tally)>,
) {
    info!("{}: started", job.name);
    running.insert(job.name.clone());
    let config = Arc::clone(&loaded.config);
    let templates = Arc::clone(&loaded.templates);
    let options = RunOptions {
        pool_size: config.pool_size,
        to: Vec::new(),
        preview: false,
        html: false,
        trigger: Trigger::Daemon,
        history: app::history_store(&config),
        digest: false,
        // The daemon logs broken job files when it loads them.
        problems: Vec::new(),
    };
    let (job, cancel) = (job.clone(), cancel.clone());
    tasks.spawn_local(async move {
        let name = job.name.clone();
        let started = Instant::now();
        let tally = runner::execute(&config, &templates, vec![job], &options, cancel).await;
        (name, started, tally)
    });
}

fn finished(
    done: Result<(String, Instant, Tally), tokio::task::JoinError>,
    running: &mut HashSet<String>,
) {
    match done {
        Ok((name, started, tally)) => {
            running.remove(&name);
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
        Err(e) => error!("a job's task failed: {e}"),
    }
}

fn stamp(at: DateTime<Utc>, config: &Config) -> String {
    config
        .timezone
        .at(at)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn open_log(path: &Path) -> Result<File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .map_err(|e| format!("{}: cannot open the log file: {e}", path.display()))
}

/// Sends stderr (and, once detached, stdout) to `log`.
fn redirect_output(log: &File, stdout_too: bool) {
    let fd = log.as_raw_fd();
    // SAFETY: dup2 on descriptors this process owns; `log` stays open for the call.
    unsafe {
        libc::dup2(fd, libc::STDERR_FILENO);
        if stdout_too {
            libc::dup2(fd, libc::STDOUT_FILENO);
        }
    }
}

/// Double fork and setsid, so that the daemon is no process group leader, has no
/// controlling terminal and is adopted by init. Returns, in the daemon only, the pipe
/// on which it tells the waiting first process that start-up succeeded.
fn detach() -> Result<File, String> {
    use nix::unistd::{ForkResult, fork, setsid};
    let (reader, writer) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    // SAFETY: no other thread exists yet (the runtime starts after this), so the child
    // may run arbitrary code.
    match unsafe { fork() }.map_err(|e| e.to_string())? {
        ForkResult::Parent { .. } => {
            drop(writer);
            let mut byte = [0u8; 1];
            let ok = File::from(reader).read_exact(&mut byte).is_ok() && byte == *b"1";
            std::process::exit(if ok { exit::OK } else { exit::USAGE });
        }
        ForkResult::Child => {}
    }
    drop(reader);
    setsid().map_err(|e| e.to_string())?;
    // SAFETY: as above, still single-threaded.
    match unsafe { fork() }.map_err(|e| e.to_string())? {
        ForkResult::Parent { .. } => std::process::exit(exit::OK),
        ForkResult::Child => {}
    }
    std::env::set_current_dir("/").map_err(|e| e.to_string())?;
    let null = File::open("/dev/null").map_err(|e| e.to_string())?;
    // SAFETY: dup2 on descriptors this process owns.
    unsafe {
        libc::dup2(null.as_raw_fd(), libc::STDIN_FILENO);
    }
    Ok(File::from(writer))
}

/// The process a pidfile names, if it is still alive.
fn running_pid(pidfile: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    (alive && pid != std::process::id() as i32).then_some(pid)
}

fn write_pidfile(pidfile: &Path) -> std::io::Result<()> {
    let temp = pidfile.with_extension("pid.tmp");
    std::fs::write(&temp, format!("{}\n", std::process::id()))?;
    std::fs::rename(&temp, pidfile)
}

fn remove_pidfile(pidfile: &Path) {
    let ours = std::fs::read_to_string(pidfile)
        .is_ok_and(|text| text.trim() == std::process::id().to_string());
    if ours {
        let _ = std::fs::remove_file(pidfile);
    }
}
