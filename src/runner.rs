//! A run: every command of every selected job through one pool; each job's report rendered
//! and sent as soon as its own commands are done; the tally of what happened.

use std::ffi::OsString;
use std::io::Write;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::address::AddressSpec;
use crate::command::{self, CommandSpec, Outcome};
use crate::compose::{Composed, compose};
use crate::config::Config;
use crate::exit::Tally;
use crate::facts::{Facts, Scope};
use crate::hosts::{HostSpec, TargetSpec};
use crate::job::Job;
use crate::mail;
use crate::pool;
use crate::report::{
    Context, JobInfo, Placement, RunInfo, Summary, TaskResult, Trigger, millis, rfc3339,
};
use crate::template::Templates;
use crate::transport::{DeliveryError, Transport};

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
}

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

/// Every address of every `targets:` entry, in order.
fn expand_targets(targets: &[TargetSpec]) -> Vec<String> {
    let mut out = Vec::new();
    for target in targets {
        match target {
            TargetSpec::Value(value) => out.push(value.clone()),
            TargetSpec::Range { network, .. } => {
                let count = target.count();
                match network {
                    std::net::IpAddr::V4(a) => {
                        let base = u32::from(*a);
                        out.extend(
                            (0..count as u32)
                                .map(|i| std::net::Ipv4Addr::from(base + i).to_string()),
                        );
                    }
                    std::net::IpAddr::V6(a) => {
                        let base = u128::from(*a);
                        out.extend(
                            (0..count).map(|i| std::net::Ipv6Addr::from(base + i).to_string()),
                        );
                    }
                }
            }
        }
    }
    out
}

/// The tasks of one job in definition order: commands, then hosts, then targets.
fn plan(job: &Job, config: &Config) -> (Vec<Slot>, Vec<CommandSpec>) {
    let local = [HostSpec::Local];
    let hosts: &[HostSpec] = if job.hosts.is_empty() {
        &local
    } else {
        &job.hosts
    };
    let targets = expand_targets(&job.targets);
    let targets: Vec<Option<&str>> = if targets.is_empty() {
        vec![None]
    } else {
        targets.iter().map(|t| Some(t.as_str())).collect()
    };
    let mut slots = Vec::new();
    let mut specs = Vec::new();
    for (index, def) in job.commands.iter().enumerate() {
        for host in hosts {
            for target in &targets {
                let text = match target {
                    Some(target) => def.run.replace("{{target}}", &shell_quote(target)),
                    None => def.run.clone(),
                };
                let mut env = job.env.clone();
                if let Some(target) = target {
                    env.push(("REPORTER_TARGET".to_owned(), (*target).to_owned()));
                }
                let (program, args) = match host {
                    HostSpec::Ssh { user, host, port } => {
                        let mut args: Vec<OsString> =
                            config.ssh.options.iter().map(OsString::from).collect();
                        if let Some(port) = port {
                            args.extend(["-p".into(), port.to_string().into()]);
                        }
                        let destination = match user {
                            Some(user) => format!("{user}@{host}"),
                            None => host.clone(),
                        };
                        args.extend(["--".into(), destination.into(), text.clone().into()]);
                        (config.ssh.command.clone(), args)
                    }
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
                });
                slots.push(Slot {
                    command: index,
                    text,
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
    let scope = jobs
        .iter()
        .map(|job| templates.facts_scope(job))
        .max()
        .unwrap_or(Scope::Names);
    let zone = config.timezone;
    let facts_task = tokio::task::spawn_blocking(move || Facts::gather(scope, zone));

    let mut facts: Option<Arc<Facts>> = None;
    let mut facts_task = Some(facts_task);
    let mut pending: Vec<usize> = runs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.remaining == 0)
        .map(|(i, _)| i)
        .collect();
    let mut deliveries = JoinSet::new();
    let mut previews: Vec<(usize, Vec<u8>)> = Vec::new();
    let transport = if options.preview {
        None
    } else {
        Some(Arc::new(
            tokio::sync::OnceCell::<Result<Transport, String>>::new(),
        ))
    };

    loop {
        for index in pending.drain(..) {
            let facts = match &facts {
                Some(facts) => Arc::clone(facts),
                None => {
                    let task = facts_task.take().expect("facts are gathered once");
                    let gathered = Arc::new(
                        task.await
                            .unwrap_or_else(|_| Facts::gather(scope, config.timezone)),
                    );
                    facts = Some(Arc::clone(&gathered));
                    gathered
                }
            };
            let job = &jobs[index];
            let job_run = &mut runs[index];
            let results: Vec<TaskResult> = job_run
                .slots
                .drain(..)
                .zip(job_run.outcomes.drain(..))
                .map(|(slot, outcome)| {
                    let outcome = outcome.expect("every slot has an outcome when the job is done");
                    TaskResult::new(
                        &job.commands[slot.command],
                        slot.text,
                        slot.placement,
                        outcome,
                        config.timezone,
                    )
                })
                .collect();
            let summary = Summary::of(&results, millis(job_run.started.elapsed()));
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
                },
                results,
                previous: None,
                node: None,
            };
            let (messages, render_failed) =
                compose(job, &context, templates, config, &options.to, &run_id);
            tally.config_error |= render_failed;
            for composed in messages {
                if options.preview && options.html {
                    match composed.html {
                        Some(mut html) => {
                            if !html.ends_with('\n') {
                                html.push('\n');
                            }
                            previews.push((index, html.into_bytes()));
                        }
                        // A template that failed to render has been reported already.
                        None if templates.has_html(&job.mail.template) => {}
                        None => {
                            error!(
                                "{}: no HTML template to preview (expected `{}`)",
                                job.path.display(),
                                templates.html_path(&job.mail.template).display()
                            );
                            tally.config_error = true;
                        }
                    }
                    continue;
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
                    previews.push((index, out));
                    continue;
                }
                let transport = Arc::clone(transport.as_ref().expect("a run has a transport"));
                let (job_name, hello) = (job.name.clone(), facts.fqdn.clone());
                let Composed {
                    message,
                    name: file_name,
                    ..
                } = composed;
                let transport_config = config.mail.transport.clone();
                deliveries.spawn(async move {
                    let transport = transport
                        .get_or_init(|| async { Transport::new(&transport_config, &hello) })
                        .await;
                    let result = match transport {
                        Ok(transport) => transport.send(&message, &file_name).await,
                        Err(e) => Err(DeliveryError {
                            permanent: false,
                            message: e.clone(),
                        }),
                    };
                    (job_name, result)
                });
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

    while let Some(delivery) = deliveries.join_next().await {
        match delivery {
            Ok((job, Ok(()))) => info!("{job}: report delivered"),
            Ok((job, Err(e))) => {
                error!("{job}: report not delivered: {e}");
                tally.undelivered = true;
            }
            Err(e) => {
                error!("a delivery failed: {e}");
                tally.undelivered = true;
            }
        }
    }

    if options.preview {
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

    #[test]
    fn ranges_expand_in_order() {
        let targets = vec![
            "db".parse().unwrap(),
            "10.0.0.254/31".parse().unwrap(),
            "fd00::/127".parse().unwrap(),
        ];
        assert_eq!(
            expand_targets(&targets),
            ["db", "10.0.0.254", "10.0.0.255", "fd00::", "fd00::1"]
        );
    }

    #[test]
    fn run_ids_differ() {
        assert_ne!(new_run_id(), new_run_id());
    }
}
