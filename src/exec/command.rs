//! One child process: spawned in a session of its own (so in a process group of its own,
//! and without a controlling terminal) with stdin from `/dev/null` and no other descriptor
//! of reporter's, both output streams read concurrently into bounded captures, and on
//! timeout or interruption the whole group and every other descendant signalled (SIGTERM,
//! then SIGKILL after a grace period); whatever is left when it ends is killed ([`tree`]).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, SystemTime};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use crate::config::account::RunAs;
use crate::exec::capture::Capture;
use crate::exec::descriptors;
use crate::exec::run_as;
use crate::exec::spawn;
use crate::exec::tree::{self, Tracked};

/// How long a group gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(5);
/// How long output is still read after the command itself exited (a background grandchild
/// may hold the pipe open forever).
pub const DRAIN_GRACE: Duration = Duration::from_secs(1);
/// Below glibc's 64 KiB consolidation threshold, so a buffer freed after each command does
/// not make malloc sweep its free lists; reads still drain a pipe in two calls.
const READ_BUFFER: usize = 32 << 10;

/// Everything needed to start one child.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// `PATH` for the child.
    pub path: String,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub timeout: Duration,
    /// Cap per stream (stdout and stderr each).
    pub max_output: u64,
    /// `max_output` is this command's share of its job's output budget, below the job's
    /// `max_output` ([`StreamCap`](crate::exec::capture::StreamCap)): a stream cut at it is fingerprinted as it flows.
    pub shared_output: bool,
    /// Run as this account instead of reporter's own.
    pub user: Option<RunAs>,
    /// The program is the configured ssh client, run by reporter on another host: the
    /// connection master it may leave behind for `ControlPersist` is not killed ([`tree`]).
    pub ssh: bool,
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// It could not be started; the reason.
    NotStarted(String),
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub exit: Exit,
    /// The timeout fired and the group was killed.
    pub timed_out: bool,
    /// The run was interrupted (SIGINT/SIGTERM) and the group was killed.
    pub interrupted: bool,
    pub stdout: String,
    pub stderr: String,
    pub truncated: bool,
    /// stdout itself was cut (`truncated` says either stream was): what is kept of it is
    /// not all it printed, so it is not read as JSON.
    pub stdout_cut: bool,
    pub started_at: SystemTime,
    pub duration: Duration,
    /// How many times the command ran: 1, plus the retries it took ([`super::retry`]).
    pub attempts: u32,
    /// Set when an output was cut at the command's share of its job's output budget.
    pub budget_cut: Option<BudgetCut>,
}

/// An output cut at the command's share of its job's output budget, below `max_output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetCut {
    /// What each stream kept, in bytes.
    pub kept: u64,
    /// The fingerprint of every byte both streams printed, for comparing runs: the text
    /// kept is shorter than `max_output` would have kept.
    pub fingerprint: String,
}

impl Outcome {
    /// A command that ended with `exit` after printing `stdout`, for tests.
    #[cfg(test)]
    pub fn fixture(exit: Exit, stdout: &str) -> Outcome {
        Outcome {
            exit,
            stdout: stdout.into(),
            ..Outcome::not_started(String::new())
        }
    }

    pub fn not_started(reason: String) -> Outcome {
        Outcome {
            exit: Exit::NotStarted(reason),
            timed_out: false,
            interrupted: false,
            stdout: String::new(),
            stderr: String::new(),
            truncated: false,
            stdout_cut: false,
            started_at: SystemTime::now(),
            duration: Duration::ZERO,
            attempts: 1,
            budget_cut: None,
        }
    }
}

enum Phase {
    Running,
    /// SIGTERM sent; SIGKILL at the deadline.
    Terminating,
    /// The command exited (or was killed); output is read until EOF or the deadline.
    Draining,
}

/// Runs `spec` to completion, timeout or cancellation (`cancel` turning true).
pub async fn run(spec: &CommandSpec, mut cancel: watch::Receiver<bool>) -> Outcome {
    let started_at = SystemTime::now();
    let start = Instant::now();
    let (
        Started {
            mut child,
            stdout,
            stderr,
        },
        tree,
    ) = match tree::spawn(|| start_child(spec), spec.ssh) {
        Ok(started) => started,
        Err(e) => return Outcome::not_started(spawn_error(spec, &e)),
    };
    let mut watch = Watch {
        group: child.id().map(|id| Pid::from_raw(id as i32)),
        tree,
        phase: Phase::Running,
        deadline: start + spec.timeout,
        timed_out: false,
        interrupted: false,
    };
    if *cancel.borrow() {
        watch.interrupt();
    }
    let mut out = Stream::new(stdout, spec);
    let mut err = Stream::new(stderr, spec);
    let mut status = None;
    let mut cancel_gone = false;
    while status.is_none() || out.is_open() || err.is_open() {
        tokio::select! {
            () = out.read() => {}
            () = err.read() => {}
            exited = child.wait(), if status.is_none() => {
                status = Some(exited);
                watch.exited();
            }
            changed = cancel.changed(), if !watch.interrupted && !cancel_gone => {
                if changed.is_err() {
                    cancel_gone = true;
                } else if *cancel.borrow() {
                    watch.interrupt();
                }
            }
            () = sleep_until(watch.deadline) => {
                if watch.expire() {
                    // Whoever still holds the pipes is not waited for; what was read is kept.
                    if status.is_none() {
                        status = Some(child.wait().await);
                    }
                    break;
                }
            }
        }
    }
    // Nothing the command started may outlive it, even when it exited on its own.
    watch.signal_group(Signal::SIGKILL);
    watch.tree.finish().await;
    let truncated = out.capture.truncated() || err.capture.truncated();
    let budget_cut = truncated
        .then(|| Capture::stream_fingerprint(&out.capture, &err.capture))
        .flatten()
        .map(|fingerprint| BudgetCut {
            kept: spec.max_output,
            fingerprint,
        });
    Outcome {
        exit: exit_of(status),
        timed_out: watch.timed_out,
        interrupted: watch.interrupted,
        stdout_cut: out.capture.truncated(),
        stdout: out.capture.into_text(),
        stderr: err.capture.into_text(),
        truncated,
        started_at,
        duration: start.elapsed(),
        attempts: 1,
        budget_cut,
    }
}

/// An output pipe of a child, however it was started.
type Pipe = Box<dyn AsyncRead + Unpin + Send>;

/// A started child and its output pipes.
struct Started {
    child: Child,
    stdout: Option<Pipe>,
    stderr: Option<Pipe>,
}

/// A child forked by Tokio, or started with posix_spawn ([`spawn`]).
enum Child {
    Forked(tokio::process::Child),
    Spawned(spawn::Child),
}

impl Child {
    fn id(&self) -> Option<u32> {
        match self {
            Child::Forked(child) => child.id(),
            Child::Spawned(child) => Some(child.id()),
        }
    }

    async fn wait(&mut self) -> io::Result<ExitStatus> {
        match self {
            Child::Forked(child) => child.wait().await,
            Child::Spawned(child) => child.wait().await,
        }
    }
}

/// Starts `spec`, for [`tree::spawn`]: with posix_spawn where that can give the command
/// all it must start with, by forking reporter where something must run in the child
/// first — changing to a `user:` account, giving back a descriptor limit reporter raised
/// for a large pool — or where the program is to be looked up in `PATH`. The two start the
/// command the same way otherwise (docs/security.md).
fn start_child(spec: &CommandSpec) -> io::Result<(Started, Option<u32>)> {
    let looked_up = !spec.program.as_os_str().as_bytes().contains(&b'/');
    let started = if spec.user.is_none()
        && !looked_up
        && !descriptors::limit_raised()
        && spawn::available()
    {
        let spawned = spawn::spawn(&spawn::Request {
            program: &spec.program,
            args: &spec.args,
            env: own_environment(spec),
            cwd: &spec.cwd,
        })?;
        Started {
            child: Child::Spawned(spawned.child),
            stdout: Some(Box::new(spawned.stdout)),
            stderr: Some(Box::new(spawned.stderr)),
        }
    } else {
        let mut child = command(spec).spawn()?;
        Started {
            stdout: child.stdout.take().map(|pipe| Box::new(pipe) as Pipe),
            stderr: child.stderr.take().map(|pipe| Box::new(pipe) as Pipe),
            child: Child::Forked(child),
        }
    };
    let pid = started.child.id();
    Ok((started, pid))
}

/// The environment of a command run as reporter's own account: reporter's, with `PATH`
/// from the config and the job's `env` on top, as [`command`] gives it.
fn own_environment(spec: &CommandSpec) -> Vec<(OsString, OsString)> {
    let mut env: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    env.insert("PATH".into(), spec.path.clone().into());
    env.extend(spec.env.iter().map(|(k, v)| (k.into(), v.into())));
    env.into_iter().collect()
}

/// The child of `spec`, forked: its own session, stdin from `/dev/null`, both outputs
/// piped. A `user:` command starts from a clean environment; one run as reporter's own
/// account inherits reporter's (docs/security.md: the clean one only for other accounts).
/// Both get `PATH` from the config and the job's `env` on top.
fn command(spec: &CommandSpec) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(&spec.program);
    if let Some(user) = &spec.user {
        run_as::apply(&mut command, user);
    }
    command
        .args(&spec.args)
        .env("PATH", &spec.path)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    detach(&mut command);
    command
}

/// Starts the child in a session of its own, as sudo's `use_pty` does: it leads a new
/// process group (whose id is its pid, which the kills below signal) and has no
/// controlling terminal, so it cannot open `/dev/tty` and push input into the terminal
/// of whoever ran reporter (TIOCSTI). Nor can anything it starts join reporter's process
/// group or session, which the sweep relies on ([`tree`]). It keeps only descriptors 0, 1
/// and 2 and gets back the descriptor limit reporter was started with
/// ([`descriptors::ChildLimits`]).
fn detach(command: &mut tokio::process::Command) {
    let limits = descriptors::child_limits();
    // SAFETY: between fork and exec only async-signal-safe system calls run here, on
    // values prepared before the fork.
    unsafe {
        command.pre_exec(move || {
            nix::unistd::setsid()?;
            // Every standard signal back to its default, as on the posix_spawn path
            // ([`spawn`](super::spawn)): nothing reporter was started ignoring is
            // inherited. signal(2) is async-signal-safe; SIGKILL's refusal is harmless.
            for signal in super::spawn::STANDARD_SIGNALS {
                libc::signal(signal, libc::SIG_DFL);
            }
            limits.apply_in_child()
        });
    }
}

/// Where a running command is on its way out, and what it took to get there.
struct Watch {
    group: Option<Pid>,
    /// The command's descendants, in its group or not.
    tree: Tracked,
    phase: Phase,
    deadline: Instant,
    timed_out: bool,
    interrupted: bool,
}

impl Watch {
    fn signal_group(&self, signal: Signal) {
        if let Some(group) = self.group {
            // ESRCH just means the group is already gone.
            let _ = killpg(group, signal);
        }
    }

    /// `signal` to the group and to every other descendant of the command.
    fn signal_all(&mut self, signal: Signal) {
        self.signal_group(signal);
        self.tree.signal_tree(signal);
    }

    /// SIGTERM to the group and the command's other descendants; SIGKILL follows after
    /// [`KILL_GRACE`].
    fn terminate(&mut self) {
        self.signal_all(Signal::SIGTERM);
        self.phase = Phase::Terminating;
        self.deadline = Instant::now() + KILL_GRACE;
    }

    /// The run is interrupted: a running command is stopped.
    fn interrupt(&mut self) {
        if matches!(self.phase, Phase::Running) {
            self.interrupted = true;
            self.terminate();
        }
    }

    /// The command exited: what it wrote is read for [`DRAIN_GRACE`] more.
    fn exited(&mut self) {
        if !matches!(self.phase, Phase::Draining) {
            self.phase = Phase::Draining;
            self.deadline = Instant::now() + DRAIN_GRACE;
        }
    }

    /// The deadline passed: the next step of the way out. `true` when reading is over.
    fn expire(&mut self) -> bool {
        match self.phase {
            Phase::Running => {
                self.timed_out = true;
                self.terminate();
                false
            }
            Phase::Terminating => {
                self.signal_all(Signal::SIGKILL);
                self.phase = Phase::Draining;
                self.deadline = Instant::now() + DRAIN_GRACE;
                false
            }
            Phase::Draining => {
                self.signal_group(Signal::SIGKILL);
                true
            }
        }
    }
}

/// One output pipe of the child, read into its bounded capture until it closes.
struct Stream<R> {
    pipe: Option<R>,
    capture: Capture,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Stream<R> {
    fn new(pipe: Option<R>, spec: &CommandSpec) -> Stream<R> {
        let cap = spec.max_output;
        Stream {
            pipe,
            capture: if spec.shared_output {
                Capture::fingerprinted(cap)
            } else {
                Capture::new(cap)
            },
            // Filled without zeroing first: most commands print a few lines.
            buf: Vec::with_capacity(READ_BUFFER),
        }
    }

    fn is_open(&self) -> bool {
        self.pipe.is_some()
    }

    /// Reads what the pipe has; never completes once it is closed. Once the capture only
    /// keeps a tail, bytes are read straight into its ring.
    async fn read(&mut self) {
        let Stream { pipe, capture, buf } = self;
        let Some(open) = pipe else {
            return std::future::pending().await;
        };
        let read = match capture.ring_space() {
            Some(space) => open.read(space).await.inspect(|&n| capture.ring_filled(n)),
            None => open.read_buf(buf).await.inspect(|_| {
                capture.push(buf);
                buf.clear();
            }),
        };
        if !matches!(read, Ok(n) if n > 0) {
            *pipe = None;
        }
    }
}

fn exit_of(status: Option<io::Result<ExitStatus>>) -> Exit {
    match status {
        Some(Ok(status)) => match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::NotStarted("unknown exit status".to_owned()),
        },
        Some(Err(e)) => Exit::NotStarted(format!("cannot wait for the command: {e}")),
        None => Exit::NotStarted("command state unknown".to_owned()),
    }
}

fn spawn_error(spec: &CommandSpec, error: &io::Error) -> String {
    if error.kind() == io::ErrorKind::NotFound && !spec.cwd.is_dir() {
        return format!(
            "cannot start: working directory `{}` does not exist",
            spec.cwd.display()
        );
    }
    format!("cannot start `{}`: {error}", spec.program.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(script: &str, timeout: Duration) -> CommandSpec {
        CommandSpec {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            path: crate::config::global::DEFAULT_PATH.to_owned(),
            env: vec![("GREETING".into(), "hi".into())],
            cwd: "/".into(),
            timeout,
            max_output: 1 << 20,
            shared_output: false,
            user: None,
            ssh: false,
        }
    }

    fn run_now(spec: &CommandSpec) -> Outcome {
        let runtime = crate::exec::runtime().unwrap();
        let (_keep, cancel) = watch::channel(false);
        runtime.block_on(run(spec, cancel))
    }

    #[test]
    fn captures_both_streams_and_the_exit_code() {
        let outcome = run_now(&spec(
            "echo $GREETING; echo oops >&2; exit 3",
            Duration::from_secs(10),
        ));
        assert_eq!(outcome.exit, Exit::Code(3));
        assert_eq!(outcome.stdout, "hi\n");
        assert_eq!(outcome.stderr, "oops\n");
        assert!(!outcome.timed_out);
    }

    #[test]
    fn timeout_kills_the_group() {
        let outcome = run_now(&spec("echo started; sleep 30", Duration::from_millis(200)));
        assert!(outcome.timed_out);
        assert_eq!(outcome.exit, Exit::Signal(15));
        assert_eq!(outcome.stdout, "started\n");
        assert!(
            outcome.duration < Duration::from_secs(5),
            "{:?}",
            outcome.duration
        );
    }

    #[test]
    fn missing_shell_is_not_started() {
        let mut spec = spec("true", Duration::from_secs(5));
        spec.program = "/nonexistent/sh".into();
        let Exit::NotStarted(reason) = run_now(&spec).exit else {
            panic!("should not start")
        };
        assert!(reason.contains("/nonexistent/sh"), "{reason}");
    }

    #[test]
    fn bad_cwd_is_not_started() {
        let mut spec = spec("true", Duration::from_secs(5));
        spec.cwd = "/nonexistent/dir".into();
        let Exit::NotStarted(reason) = run_now(&spec).exit else {
            panic!("should not start")
        };
        assert!(
            reason.contains("working directory `/nonexistent/dir` does not exist"),
            "{reason}"
        );
    }
}
