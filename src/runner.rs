//! A run: every command of every selected job through one pool; each job's report rendered
//! and sent as soon as its own commands are done; the tally of what happened.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::address::AddressSpec;
use crate::command::{self, CommandSpec, Exit, Outcome};
use crate::compose::{Composed, compose, problems_report};
use crate::config::Config;
use crate::digest::{self, Section};
use crate::error::ConfigError;
use crate::exit::Tally;
use crate::facts::{Facts, Scope};
use crate::history::{History, HistoryError, Recent, RunRecord};
use crate::hosts::{self, HostSpec};
use crate::job::Job;
use crate::lock;
use crate::mail;
use crate::mailer::Mailer;
use crate::pool;
use crate::report::{
    Context, DiskSample, HostReport, JobInfo, Placement, PreviousResult, RunInfo, Summary,
    TaskResult, Trigger, mark_changes, millis, rfc3339,
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

/// What a result slot of a job stands for.
struct Slot {
    command: usize,
    text: String,
    /// Run through ssh, whose exit code 255 means the host was not reached.
    remote: bool,
    placement: Placement,
}

/// The result slots of one job, in definition order.
struct JobRun {
    slots: Vec<Slot>,
    outcomes: Vec<Option<Outcome>>,
    remaining: usize,
    started: Instant,
    started_at: SystemTime,
}

/// Quotes `value` for a POSIX shell: one single-quoted word.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The exit code with which ssh reports its own failure (cannot connect, authenticate or
/// verify the host key), as opposed to the remote command's exit code.
const SSH_FAILED: i32 = 255;

/// The tasks of one job in definition order: commands, then hosts, then targets.
fn plan(job: &Job, config: &Config) -> (Vec<Slot>, Vec<CommandSpec>) {
    let local = [HostSpec::Local];
    let job_hosts: &[HostSpec] = if job.hosts.is_empty() {
        &local
    } else {
        &job.hosts
    };
    let targets = hosts::expand_targets(&job.targets);
    let targets: Vec<Option<&str>> = if targets.is_empty() {
        vec![None]
    } else {
        targets.iter().map(|t| Some(t.as_str())).collect()
    };
    let mut slots = Vec::new();
    let mut specs = Vec::new();
    for (index, def) in job.commands.iter().enumerate() {
        for host in job_hosts {
            for target in &targets {
                let text = match target {
                    Some(target) => def.run.replace(hosts::TARGET, &shell_quote(target)),
                    None => def.run.clone(),
                };
                let mut env = job.env.clone();
                if let Some(target) = target {
                    env.push(("REPORTER_TARGET".to_owned(), (*target).to_owned()));
                }
                let (program, args) = match host {
                    HostSpec::Ssh { user, host, port } => (
                        config.ssh.command.clone(),
                        ssh_args(config, user.as_deref(), host, *port, &text),
                    ),
                    HostSpec::Local | HostSpec::Group(_) => (
                        config.shell.clone(),
                        vec![OsString::from("-c"), OsString::from(&text)],
                    ),
                };
                specs.push(CommandSpec {
                    program,
                    args,
                    path: config.path.clone(),
                    env,
                    cwd: job.cwd.clone(),
                    timeout: def.timeout,
                    max_output: job.max_output,
                    user: job.user.clone(),
                });
                slots.push(Slot {
                    command: index,
                    text,
                    remote: matches!(host, HostSpec::Ssh { .. }),
                    placement: Placement {
                        host: (!job.hosts.is_empty()).then(|| host.to_string()),
                        target: target.map(str::to_owned),
                    },
                });
            }
        }
    }
    (slots, specs)
}

/// The arguments of `ssh` running `text` on `host`.
fn ssh_args(
    config: &Config,
    user: Option<&str>,
    host: &str,
    port: Option<u16>,
    text: &str,
) -> Vec<OsString> {
    // ssh keeps the first value it is given for an option, so nothing in the config or in
    // ~/.ssh/config can make it prompt: a prompt would wait on the terminal until the timeout.
    let mut args: Vec<OsString> = vec!["-o".into(), "BatchMode=yes".into()];
    args.extend(config.ssh.options.iter().map(OsString::from));
    if let Some(port) = port {
        args.extend(["-p".into(), port.to_string().into()]);
    }
    let destination = match user {
        Some(user) => format!("{user}@{host}"),
        None => host.to_owned(),
    };
    // The remote sshd hands the command to the user's login shell as `shell -c COMMAND`;
    // as one argument (ssh joins several with spaces) it arrives exactly as written.
    args.extend(["--".into(), destination.into(), text.into()]);
    args
}

/// A remote task whose ssh failed (exit 255) could not run at all: status `error`, with
/// ssh's own message ("Connection refused", "Permission denied (publickey)", ...).
fn unreachable_as_error(outcome: Outcome) -> Outcome {
    if outcome.exit != Exit::Code(SSH_FAILED) || outcome.timed_out || outcome.interrupted {
        return outcome;
    }
    let message = outcome.stderr.trim();
    let reason = if message.is_empty() {
        "ssh failed (exit 255) without a message".to_owned()
    } else {
        message.to_owned()
    };
    Outcome {
        exit: Exit::NotStarted(reason),
        ..outcome
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
    fn quoting_keeps_one_word() {
        assert_eq!(shell_quote("a b; touch /tmp/x"), "'a b; touch /tmp/x'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    fn config(options: &str) -> Config {
        Config::parse(
            &format!("ssh: {{command: /usr/bin/ssh, options: [{options}]}}\n"),
            std::path::Path::new("r.yaml"),
            std::path::Path::new("/etc/r"),
        )
        .unwrap()
    }

    fn job(yaml: &str) -> Job {
        Job::parse("j", std::path::Path::new("j.yaml"), yaml, &config("")).unwrap()
    }

    #[test]
    fn ssh_gets_the_command_as_one_argument_after_the_destination() {
        let job = job(
            "hosts: [admin@db1:2222, localhost]\ntargets: [\"it's\"]\ncommands: ['echo \"$HOME\" {{target}}']\n",
        );
        let (slots, specs) = plan(&job, &config("-F, /etc/r/ssh_config"));
        let remote = &specs[0];
        assert_eq!(remote.program, std::path::Path::new("/usr/bin/ssh"));
        let args: Vec<&str> = remote.args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "-o",
                "BatchMode=yes",
                "-F",
                "/etc/r/ssh_config",
                "-p",
                "2222",
                "--",
                "admin@db1",
                r#"echo "$HOME" 'it'\''s'"#
            ]
        );
        assert!(slots[0].remote);
        assert_eq!(slots[0].placement.host.as_deref(), Some("admin@db1:2222"));
        let local = &specs[1];
        assert_eq!(local.program, std::path::Path::new("/bin/sh"));
        assert!(!slots[1].remote);
        assert_eq!(slots[1].placement.host.as_deref(), Some("localhost"));
        assert!(
            local
                .env
                .contains(&("REPORTER_TARGET".into(), "it's".into()))
        );
    }

    #[test]
    fn tasks_are_commands_then_hosts_then_targets() {
        let job =
            job("hosts: [a, b]\ntargets: [x, y]\ncommands: ['one {{target}}', 'two {{target}}']\n");
        let (slots, _) = plan(&job, &config(""));
        let order: Vec<String> = slots
            .iter()
            .map(|s| format!("{}@{}", s.text, s.placement.host.as_deref().unwrap()))
            .collect();
        assert_eq!(
            order,
            [
                "one 'x'@a",
                "one 'y'@a",
                "one 'x'@b",
                "one 'y'@b",
                "two 'x'@a",
                "two 'y'@a",
                "two 'x'@b",
                "two 'y'@b"
            ]
        );
    }

    #[test]
    fn only_ssh_failures_become_errors() {
        let failed = |code, stderr: &str| Outcome {
            exit: Exit::Code(code),
            stderr: stderr.into(),
            ..Outcome::not_started(String::new())
        };
        let refused = unreachable_as_error(failed(
            255,
            "ssh: connect to host db1 port 22: Connection refused\r\n",
        ));
        assert_eq!(
            refused.exit,
            Exit::NotStarted("ssh: connect to host db1 port 22: Connection refused".into())
        );
        assert_eq!(unreachable_as_error(failed(1, "no")).exit, Exit::Code(1));
        let timed_out = Outcome {
            timed_out: true,
            ..failed(255, "")
        };
        assert_eq!(unreachable_as_error(timed_out).exit, Exit::Code(255));
    }

    #[test]
    fn run_ids_differ() {
        assert_ne!(new_run_id(), new_run_id());
    }
}
