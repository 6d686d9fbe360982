//! The first stage of a run: the selected jobs locked, and turned into the tasks of the
//! pool (every command on every host for every target, in definition order, each with
//! its command line, local shell or ssh); then the pool's results gathered back per job,
//! so that each job is handed on as soon as its own last task is done.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::config::hosts::{self, HostSpec};
use crate::config::{CommandDef, Config, Job};
use crate::exec::capture::StreamCap;
use crate::exec::lock::{self, JobLock};
use crate::exec::retry::{self, RetryPolicy};
use crate::exec::{CommandSpec, Exit, Outcome, Pool};
use crate::history::History;
use crate::report::{Placement, Status};
use crate::run::window::{self, Since};
use crate::state::jobs;

/// The locked jobs of a run and their tasks.
pub struct Plan {
    pub jobs: Vec<Job>,
    /// Held until every report of the run is out.
    pub locks: Vec<JobLock>,
    tasks: Vec<Task>,
    runs: Vec<JobRun>,
}

/// One task of the pool: which job, which result slot, what to start, and what its
/// command accepts as ok (a result that is not ok is retried, docs/jobs.md).
struct Task {
    job: usize,
    slot: usize,
    spec: CommandSpec,
    def: Arc<CommandDef>,
    /// The job's name, for the log.
    job_name: Arc<str>,
}

/// The result slots of one job, in definition order, filled as its tasks finish.
struct JobRun {
    slots: Vec<Slot>,
    outcomes: Vec<Option<Outcome>>,
    remaining: usize,
    started: Instant,
    started_at: SystemTime,
    since: Since,
    /// Its tasks, until they are handed to the plan.
    tasks: Vec<Task>,
}

impl JobRun {
    /// `job`'s result slots and the tasks that fill them (their `job` index still to be
    /// set), each with the variables of its window and its state folder. When the folder
    /// cannot be made ready, no command starts: every result is that error.
    fn of(job: &Job, config: &Config, since: Since, started_at: SystemTime) -> JobRun {
        let owner = job.user.as_ref().map(|user| (user.uid, user.gid));
        let state = jobs::prepare(&config.state_dir, &job.name, owner);
        let mut env = since.env().to_vec();
        if let Ok(folder) = &state {
            env.push((
                "REPORTER_JOB_STATE".to_owned(),
                folder.display().to_string(),
            ));
        }
        let (slots, specs) = tasks_of(job, config, &env);
        let mut run = JobRun {
            outcomes: slots.iter().map(|_| None).collect(),
            remaining: slots.len(),
            slots,
            tasks: Vec::new(),
            started: Instant::now(),
            started_at,
            since,
        };
        if let Err(e) = state {
            warn!("{}: {e}", job.name);
            let outcome = Outcome::not_started(e.to_string());
            run.outcomes = run.slots.iter().map(|_| Some(outcome.clone())).collect();
            run.remaining = 0;
            return run;
        }
        let defs: Vec<Arc<CommandDef>> = job.commands.iter().cloned().map(Arc::new).collect();
        let job_name: Arc<str> = Arc::from(job.name.as_str());
        run.tasks = specs
            .into_iter()
            .zip(&run.slots)
            .enumerate()
            .map(|(slot, (spec, s))| Task {
                job: 0,
                slot,
                spec,
                def: Arc::clone(&defs[s.command]),
                job_name: Arc::clone(&job_name),
            })
            .collect();
        run
    }
}

/// A job all of whose tasks are done: its slots with their outcomes, in definition order.
pub struct Done {
    pub index: usize,
    pub outcomes: Vec<(Slot, Outcome)>,
    pub started: Instant,
    pub started_at: SystemTime,
    /// Where the window the job's run covers starts.
    pub since: Since,
}

impl Plan {
    /// Takes the lock of each job (`lock`: not for a preview, which sends nothing) and
    /// lays out their tasks, each knowing where its job's window starts (read from
    /// `history`). A job another run holds the lock of is left out.
    pub fn new(jobs: Vec<Job>, config: &Config, lock: bool, history: Option<&History>) -> Plan {
        let mut locks = Vec::new();
        let jobs: Vec<Job> = if lock {
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
                        warn!("{}: not locked: {e}; running it anyway", job.name);
                        true
                    }
                })
                .collect()
        } else {
            jobs
        };
        let started_at = SystemTime::now();
        let windows = window::windows(&jobs, history, started_at);
        let mut tasks = Vec::new();
        let runs = jobs
            .iter()
            .zip(windows)
            .enumerate()
            .map(|(index, (job, since))| {
                let mut run = JobRun::of(job, config, since, started_at);
                tasks.extend(run.tasks.drain(..).map(|mut task| {
                    task.job = index;
                    task
                }));
                run
            })
            .collect();
        Plan {
            jobs,
            locks,
            tasks,
            runs,
        }
    }

    /// Starts every task in `pool`. When `cancel` turns true, running commands' groups are
    /// killed and the tasks not yet started are reported as not started.
    pub fn start(&mut self, pool: &Pool, cancel: &watch::Receiver<bool>) -> Progress {
        let tasks = std::mem::take(&mut self.tasks);
        let cancel = cancel.clone();
        let results = pool.run(tasks, move |task: Task| {
            let cancel = cancel.clone();
            async move {
                let outcome = if *cancel.borrow() {
                    Outcome {
                        interrupted: true,
                        ..Outcome::not_started("not started: the run was interrupted".into())
                    }
                } else {
                    let policy = RetryPolicy {
                        retries: task.def.retries,
                        delay: task.def.retry_delay,
                    };
                    // Within this task's pool slot: the permit is held until it returns.
                    let is_ok =
                        |outcome: &Outcome| Status::classify(&task.def, outcome) == Status::Ok;
                    let before_retry = |retry: u32, wait: std::time::Duration| {
                        info!(
                            "{}: `{}` is not ok: retry {retry} of {} in {} ms",
                            task.job_name,
                            task.def.name,
                            task.def.retries,
                            wait.as_millis()
                        );
                    };
                    retry::run(&task.spec, policy, cancel, is_ok, before_retry).await
                };
                (task.job, task.slot, outcome)
            }
        });
        let runs = std::mem::take(&mut self.runs);
        let ready = (0..runs.len())
            .filter(|&i| runs[i].remaining == 0)
            .collect();
        Progress {
            results,
            runs,
            ready,
        }
    }
}

/// The pool's results, gathered per job.
pub struct Progress {
    results: mpsc::UnboundedReceiver<(usize, usize, Outcome)>,
    runs: Vec<JobRun>,
    /// Jobs done and not yet handed on (those without commands are done at once).
    ready: VecDeque<usize>,
}

impl Progress {
    /// The next job whose last task finished; `None` once every job has been handed on.
    pub async fn next(&mut self) -> Option<Done> {
        loop {
            if let Some(index) = self.ready.pop_front() {
                let run = &mut self.runs[index];
                let outcomes = run
                    .slots
                    .drain(..)
                    .zip(run.outcomes.drain(..))
                    .map(|(slot, outcome)| {
                        let outcome =
                            outcome.expect("every slot has an outcome when the job is done");
                        let outcome = if slot.remote {
                            unreachable_as_error(outcome)
                        } else {
                            outcome
                        };
                        (slot, outcome)
                    })
                    .collect();
                return Some(Done {
                    index,
                    outcomes,
                    started: run.started,
                    started_at: run.started_at,
                    since: run.since,
                });
            }
            let (job, slot, outcome) = self.results.recv().await?;
            let run = &mut self.runs[job];
            run.outcomes[slot] = Some(outcome);
            run.remaining -= 1;
            if run.remaining == 0 {
                self.ready.push_back(job);
            }
        }
    }
}

/// What a result slot of a job stands for.
pub struct Slot {
    pub command: usize,
    pub text: String,
    /// Run through ssh, whose exit code 255 means the host was not reached.
    pub remote: bool,
    pub placement: Placement,
}

/// Quotes `value` for a POSIX shell: one single-quoted word.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The exit code with which ssh reports its own failure (cannot connect, authenticate or
/// verify the host key), as opposed to the remote command's exit code.
const SSH_FAILED: i32 = 255;

/// The tasks of one job in definition order: commands, then hosts, then targets.
fn tasks_of(
    job: &Job,
    config: &Config,
    extra: &[(String, String)],
) -> (Vec<Slot>, Vec<CommandSpec>) {
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
    let cap = StreamCap::of(
        job.max_output,
        job.commands.len() * job_hosts.len() * targets.len(),
    );
    for (index, def) in job.commands.iter().enumerate() {
        for host in job_hosts {
            for target in &targets {
                let text = match target {
                    Some(target) => def.run.replace(hosts::TARGET, &shell_quote(target)),
                    None => def.run.clone(),
                };
                let mut env = job.env.clone();
                env.extend_from_slice(extra);
                if let Some(target) = target {
                    env.push(("REPORTER_TARGET".to_owned(), (*target).to_owned()));
                }
                let (program, args) = match host {
                    HostSpec::Ssh {
                        user, host, port, ..
                    } => (
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
                    max_output: cap.bytes,
                    shared_output: cap.shared,
                    user: job.user.clone(),
                    ssh: matches!(host, HostSpec::Ssh { .. }),
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
pub fn ssh_args(
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
pub fn unreachable_as_error(outcome: Outcome) -> Outcome {
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

    fn since(job: &Job) -> Vec<(String, String)> {
        window::windows(std::slice::from_ref(job), None, SystemTime::now())[0]
            .env()
            .to_vec()
    }

    fn job(yaml: &str) -> Job {
        Job::parse("j", std::path::Path::new("j.yaml"), yaml, &config("")).unwrap()
    }

    #[test]
    fn ssh_gets_the_command_as_one_argument_after_the_destination() {
        let job = job(
            "hosts: [admin@db1:2222, localhost]\ntargets: [\"it's\"]\ncommands: ['echo \"$HOME\" {{target}}']\n",
        );
        let (slots, specs) = tasks_of(&job, &config("-F, /etc/r/ssh_config"), &since(&job));
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
        let (slots, _) = tasks_of(&job, &config(""), &since(&job));
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
}
