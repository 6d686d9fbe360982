//! A run: every command of every selected job through one pool; each job's report rendered
//! and sent as soon as its own commands are done; the tally of what happened.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::address::AddressSpec;
use crate::command::{self, CommandSpec, Outcome};
use crate::compose::{Composed, compose, problems_report};
use crate::config::Config;
use crate::digest::{self, Section};
use crate::error::ConfigError;
use crate::exit::Tally;
use crate::facts::{Facts, Scope};
use crate::history::{History, HistoryError, Recent, RunRecord};
use crate::job::Job;
use crate::lock;
use crate::mail;
use crate::mailer::Mailer;
use crate::plan::{Slot, plan, unreachable_as_error};
use crate::pool;
use crate::report::{
    Context, DiskSample, HostReport, JobInfo, PreviousResult, RunInfo, Summary, TaskResult,
    Trigger, mark_changes, millis, rfc3339,
};
use crate::send::{self, Decision};
use crate::template::Templates;
use crate::transport::DeliveryError;

/// How to run the selected jobs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub pool_size: usize,
    /// `--to`: send every report here instead of the job's recipients.
    pub to: Vec<AddressSpec>,
    /// Print the messages as mbox instead of sending them.
    pub preview: bool,
    /// With `preview`: print only the rendered HTML bodies.
    pub html: bool,
    pub trigger: Trigger,
    /// Problems with the configuration found before the run: mailed to the config's
    /// `mail.to` in a report of their own, so a broken job does not go unnoticed.
    pub problems: Vec<ConfigError>,
    /// Where each job's run is recorded once its mail has gone, and what `previous` and
    /// the send rules compare it with; `None` records nothing and compares with nothing.
    pub history: Option<History>,
    /// `--digest`: one message for all the jobs, a section each.
    pub digest: bool,
}

/// How many earlier runs a report's disk usage history shows.
const DISK_RUNS: usize = 13;

/// One task of the pool: which job, which result slot, what to start.
struct Task {
    job: usize,
    slot: usize,
    spec: CommandSpec,
}

/// The result slots of one job, in definition order.
struct JobRun {
    slots: Vec<Slot>,
    outcomes: Vec<Option<Outcome>>,
    remaining: usize,
    started: Instant,
    started_at: SystemTime,
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

/// Runs `jobs` and sends (or, with `preview`, prints) their reports.
pub fn run(config: &Config, templates: &Templates, jobs: Vec<Job>, options: &RunOptions) -> Tally {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return Tally {
                config_error: true,
                ..Tally::default()
            };
        }
    };
    runtime.block_on(async {
        let (cancel_sender, cancel) = watch::channel(false);
        let mut interrupt = signal(SignalKind::interrupt()).ok();
        let mut terminate = signal(SignalKind::terminate()).ok();
        let execution = execute(config, templates, jobs, options, cancel);
        tokio::pin!(execution);
        let mut caught = None;
        loop {
            tokio::select! {
                mut tally = &mut execution => {
                    tally.interrupted = caught;
                    return tally;
                }
                Some(()) = recv(&mut interrupt) => {
                    warn!("interrupted: stopping the running commands");
                    caught.get_or_insert(libc::SIGINT);
                    let _ = cancel_sender.send(true);
                }
                Some(()) = recv(&mut terminate) => {
                    warn!("terminated: stopping the running commands");
                    caught.get_or_insert(libc::SIGTERM);
                    let _ = cancel_sender.send(true);
                }
            }
        }
    })
}

/// Runs `jobs` to the end inside a Tokio runtime. When `cancel` turns true, running
/// commands' groups are killed, no more start, and the reports go out marked interrupted.
pub async fn execute(
    config: &Config,
    templates: &Templates,
    jobs: Vec<Job>,
    options: &RunOptions,
    cancel: watch::Receiver<bool>,
) -> Tally {
    let run_id = new_run_id();
    let mut tally = Tally::default();

    // Held until every report of this run is out; a preview sends nothing and takes none.
    let mut locks = Vec::new();
    let jobs: Vec<Job> = if options.preview {
        jobs
    } else {
        jobs.into_iter()
            .filter(|job| match lock::try_lock(&config.state_dir, &job.name) {
                Ok(Some(held)) => {
                    locks.push(held);
                    true
                }
                Ok(None) => {
                    warn!("{}: skipped: another run holds its lock", job.name);
                    false
                }
                Err(e) => {
                    let path = lock::path(&config.state_dir, &job.name);
                    warn!(
                        "{}: cannot lock `{}` ({e}); running it anyway",
                        job.name,
                        path.display()
                    );
                    true
                }
            })
            .collect()
    };

    let mut tasks = Vec::new();
    let mut runs = Vec::new();
    for (index, job) in jobs.iter().enumerate() {
        let (slots, specs) = plan(job, config);
        tasks.extend(specs.into_iter().enumerate().map(|(slot, spec)| Task {
            job: index,
            slot,
            spec,
        }));
        runs.push(JobRun {
            outcomes: slots.iter().map(|_| None).collect(),
            remaining: slots.len(),
            slots,
            started: Instant::now(),
            started_at: SystemTime::now(),
        });
    }

    let mut results = {
        let cancel = cancel.clone();
        pool::spawn(tasks, options.pool_size, move |task: Task| {
            let cancel = cancel.clone();
            async move {
                let outcome = if *cancel.borrow() {
                    Outcome {
                        interrupted: true,
                        ..Outcome::not_started("not started: the run was interrupted".into())
                    }
                } else {
                    command::run(&task.spec, cancel).await
                };
                (task.job, task.slot, outcome)
            }
        })
    };
    // The facts may need a resolver lookup and reading /proc: gather them while the
    // commands run, and the system part only when a template reads it.
    let scopes: Vec<Scope> = jobs.iter().map(|job| templates.facts_scope(job)).collect();
    let digest_scope = if options.digest {
        templates.template_scope(digest::TEMPLATE)
    } else {
        Scope::Names
    };
    let scope = scopes.iter().copied().fold(digest_scope, Scope::max);
    let zone = config.timezone;
    let facts_task = tokio::task::spawn_blocking(move || Facts::gather(scope, zone));
    // What the send rules and `previous` compare with, read while the commands run.
    let recent_task = options.history.clone().map(|history| {
        let names: Vec<String> = jobs.iter().map(|job| job.name.clone()).collect();
        tokio::task::spawn_blocking(move || history.recent(&names, DISK_RUNS))
    });

    let mut facts: Option<Arc<Facts>> = None;
    let mut facts_task = Some(facts_task);
    let mut recent: Option<HashMap<String, Recent>> = None;
    let mut recent_task = recent_task;
    let mut pending: Vec<usize> = runs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.remaining == 0)
        .map(|(i, _)| i)
        .collect();
    let mut out = Outbox {
        mailer: (!options.preview).then(|| Arc::new(Mailer::new(config))),
        deliveries: JoinSet::new(),
        previews: Vec::new(),
    };
    // What earlier runs could not deliver goes out first, while the commands run.
    let flush = out.mailer.as_ref().map(|mailer| {
        let (mailer, waiting) = (Arc::clone(mailer), mailer.spool().list());
        tokio::spawn(async move { mailer.flush(waiting).await })
    });
    let mut records: Vec<RunRecord> = Vec::new();
    let mut sections: Vec<(usize, Section)> = Vec::new();
    let digest_started = SystemTime::now();

    loop {
        for index in pending.drain(..) {
            let facts = facts_of(&mut facts, &mut facts_task, scope, config).await;
            let recent = recent_of(&mut recent, &mut recent_task)
                .await
                .remove(&jobs[index].name)
                .unwrap_or_default();
            let job = &jobs[index];
            let job_run = &mut runs[index];
            let mut results: Vec<TaskResult> = job_run
                .slots
                .drain(..)
                .zip(job_run.outcomes.drain(..))
                .map(|(slot, outcome)| {
                    let outcome = outcome.expect("every slot has an outcome when the job is done");
                    let outcome = if slot.remote {
                        unreachable_as_error(outcome)
                    } else {
                        outcome
                    };
                    TaskResult::new(
                        &job.commands[slot.command],
                        slot.text,
                        slot.placement,
                        outcome,
                        config.timezone,
                    )
                })
                .collect();
            let previous = recent.last.as_ref();
            mark_changes(&mut results, previous);
            let summary = Summary::of(&results, millis(job_run.started.elapsed()));
            let decision = send::decide(job.send, &summary, &results, previous);
            let hosts = HostReport::group(&results, summary.duration_ms);
            tally.command_failed |= !summary.all_ok;
            let context = Context {
                job: JobInfo::of(job),
                host: &facts,
                summary,
                run: RunInfo {
                    id: run_id.clone(),
                    started_at: rfc3339(job_run.started_at, config.timezone),
                    finished_at: rfc3339(SystemTime::now(), config.timezone),
                    trigger: options.trigger,
                    interrupted: *cancel.borrow(),
                    recovered: decision.recovered(),
                },
                results,
                hosts,
                previous: previous.map(|run| run.results.iter().map(PreviousResult::of).collect()),
                disk_history: disk_history(&facts, &recent, config),
                node: None,
            };
            let mut record = (options.history.is_some() && !options.preview).then(|| {
                let mut record = RunRecord::finished(
                    &run_id,
                    &job.name,
                    options.trigger,
                    job_run.started_at,
                    &context.summary,
                    &context.results,
                    context.run.interrupted,
                );
                if scopes[index] == Scope::Full
                    && let Some(system) = &facts.system
                {
                    record.disks = system
                        .disks
                        .iter()
                        .map(|d| (d.mount.clone(), d.percent))
                        .collect();
                }
                record
            });
            if let Decision::Skip(reason) = decision {
                if options.preview {
                    warn!("{}: run would not mail this report ({reason})", job.name);
                } else {
                    info!("{}: not mailed ({reason})", job.name);
                }
                if let Some(mut record) = record {
                    record.reason = Some(reason);
                    records.push(record);
                }
                continue;
            }
            if options.digest {
                sections.push((index, Section::of(job, &context, jobs.len())));
                if let Some(mut record) = record {
                    record.sent = true;
                    records.push(record);
                }
                continue;
            }
            let (messages, render_failed) =
                compose(job, &context, templates, config, &options.to, &run_id);
            tally.config_error |= render_failed;
            if let Some(mut record) = record.take() {
                record.sent = !messages.is_empty();
                records.push(record);
            }
            for composed in messages {
                let expected = (
                    templates.has_html(&job.mail.template),
                    templates.html_path(&job.mail.template),
                    job.path.as_path(),
                );
                tally.config_error |=
                    !out.dispatch(composed, index, vec![job.name.clone()], options, expected);
            }
        }

        let Some((job, slot, outcome)) = results.recv().await else {
            break;
        };
        let job_run = &mut runs[job];
        job_run.outcomes[slot] = Some(outcome);
        job_run.remaining -= 1;
        if job_run.remaining == 0 {
            pending.push(job);
        }
    }

    if options.digest {
        if sections.is_empty() {
            info!("digest: no job's send rule asks for its report; nothing to send");
        } else {
            sections.sort_by_key(|(index, _)| *index);
            let names: Vec<String> = sections.iter().map(|(_, s)| s.job.name.clone()).collect();
            let facts = facts_of(&mut facts, &mut facts_task, scope, config).await;
            let run = RunInfo {
                id: run_id.clone(),
                started_at: rfc3339(digest_started, config.timezone),
                finished_at: rfc3339(SystemTime::now(), config.timezone),
                trigger: options.trigger,
                interrupted: *cancel.borrow(),
                recovered: false,
            };
            let sections = sections.into_iter().map(|(_, s)| s).collect();
            let (composed, render_failed) =
                digest::compose(sections, &facts, &run, templates, config, &options.to);
            tally.config_error |= render_failed;
            match composed {
                Some(composed) => {
                    let expected = (
                        templates.has_html(digest::TEMPLATE),
                        templates.html_path(digest::TEMPLATE),
                        config.templates_dir.as_path(),
                    );
                    tally.config_error |= !out.dispatch(composed, 0, names, options, expected);
                }
                None => {
                    for record in records.iter_mut().filter(|r| names.contains(&r.job)) {
                        record.sent = false;
                    }
                }
            }
        }
    }

    if let Some(mailer) = &out.mailer
        && !options.problems.is_empty()
    {
        let facts = facts_of(&mut facts, &mut facts_task, scope, config).await;
        if let Some(report) = problems_report(&options.problems, config, templates, &facts, &run_id)
        {
            let mailer = Arc::clone(mailer);
            out.deliveries.spawn(async move {
                let result = mailer
                    .deliver("reporter", &report.name, &report.message)
                    .await;
                (Vec::new(), result)
            });
        }
    }
    while let Some(delivery) = out.deliveries.join_next().await {
        // The mailer has said what went wrong; here it only counts, and the history notes
        // which jobs' mail did not go out.
        match delivery {
            Ok((_, Ok(()))) => {}
            Ok((jobs, Err(_))) => {
                tally.undelivered = true;
                records
                    .iter_mut()
                    .filter(|r| jobs.contains(&r.job))
                    .for_each(|r| r.sent = false);
            }
            Err(_) => tally.undelivered = true,
        }
    }
    if let Some(flush) = flush {
        let _ = flush.await;
    }
    drop(locks);

    // The history records what happened; failing to write it must not fail the run.
    if let Some(history) = &options.history
        && !records.is_empty()
        && let Err(e) = history.record(&records)
    {
        error!("{e}");
    }

    if options.preview {
        let mut previews = out.previews;
        previews.sort_by_key(|(index, _)| *index);
        let mut stdout = std::io::stdout().lock();
        for (_, mbox) in previews {
            if let Err(e) = stdout.write_all(&mbox) {
                error!("cannot write the preview: {e}");
                tally.config_error = true;
                break;
            }
        }
        let _ = stdout.flush();
    }
    tally
}

/// Where the composed messages go: printed for a preview, else delivered.
struct Outbox {
    mailer: Option<Arc<Mailer>>,
    deliveries: JoinSet<(Vec<String>, Result<(), DeliveryError>)>,
    /// The printed messages, by the selection order of their jobs.
    previews: Vec<(usize, Vec<u8>)>,
}

impl Outbox {
    /// Prints `composed` (a preview, placed by `order`) or starts delivering it on behalf of
    /// `jobs`. `expected` is whether its HTML template exists, where it would be, and the
    /// file to blame when `preview --html` has none: false for that configuration error.
    fn dispatch(
        &mut self,
        composed: Composed,
        order: usize,
        jobs: Vec<String>,
        options: &RunOptions,
        expected: (bool, PathBuf, &Path),
    ) -> bool {
        if options.preview && options.html {
            let (has_html, html_path, blame) = expected;
            match composed.html {
                Some(mut html) => {
                    if !html.ends_with('\n') {
                        html.push('\n');
                    }
                    self.previews.push((order, html.into_bytes()));
                }
                // A template that failed to render has been reported already.
                None if has_html => {}
                None => {
                    error!(
                        "{}: no HTML template to preview (expected `{}`)",
                        blame.display(),
                        html_path.display()
                    );
                    return false;
                }
            }
            return true;
        }
        if options.preview {
            let mut out = Vec::new();
            let sender = composed
                .message
                .envelope()
                .from()
                .map_or_else(|| "MAILER-DAEMON".to_owned(), ToString::to_string);
            mail::write_mbox(
                &mut out,
                &composed.message.formatted(),
                &sender,
                composed.date,
            );
            self.previews.push((order, out));
            return true;
        }
        let mailer = Arc::clone(self.mailer.as_ref().expect("a run has a mailer"));
        self.deliveries.spawn(async move {
            let label = jobs.join(", ");
            let result = mailer
                .deliver(&label, &composed.name, &composed.message)
                .await;
            (jobs, result)
        });
        true
    }
}

/// Each current disk's used percentage in the job's earlier runs, by mount.
fn disk_history(
    facts: &Facts,
    recent: &Recent,
    config: &Config,
) -> BTreeMap<String, Vec<DiskSample>> {
    let Some(system) = &facts.system else {
        return BTreeMap::new();
    };
    system
        .disks
        .iter()
        .map(|disk| {
            let samples = recent
                .disks
                .iter()
                .filter_map(|run| {
                    let (_, percent) = run.disks.iter().find(|(mount, _)| *mount == disk.mount)?;
                    Some(DiskSample {
                        percent: *percent,
                        at: rfc3339(run.started_at.into(), config.timezone),
                    })
                })
                .collect();
            (disk.mount.clone(), samples)
        })
        .collect()
}

/// The history's view of the jobs, waiting for the read to finish the first time. A
/// history that cannot be read is reported once; the jobs then have no previous run.
async fn recent_of<'a>(
    recent: &'a mut Option<HashMap<String, Recent>>,
    task: &mut Option<tokio::task::JoinHandle<Result<HashMap<String, Recent>, HistoryError>>>,
) -> &'a mut HashMap<String, Recent> {
    if recent.is_none() {
        let read = match task.take() {
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
        *recent = Some(read);
    }
    recent.get_or_insert_with(HashMap::new)
}

/// The facts, waiting for their gathering to finish the first time.
async fn facts_of(
    facts: &mut Option<Arc<Facts>>,
    task: &mut Option<tokio::task::JoinHandle<Facts>>,
    scope: Scope,
    config: &Config,
) -> Arc<Facts> {
    if let Some(facts) = facts {
        return Arc::clone(facts);
    }
    let gathered = match task.take() {
        Some(task) => task
            .await
            .unwrap_or_else(|_| Facts::gather(scope, config.timezone)),
        None => Facts::gather(scope, config.timezone),
    };
    Arc::clone(facts.insert(Arc::new(gathered)))
}

async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
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
