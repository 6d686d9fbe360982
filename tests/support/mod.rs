//! The test harness: a temporary installation (config, jobs, templates, state), the real
//! binary run against it, and a real SMTP server on loopback.

pub mod exim;
pub mod http;
pub mod run;
pub mod smtp;
pub mod sshd;
pub mod tls;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use run::{Run, Running};
pub use smtp::{Behaviour, SmtpServer};

/// The checkout, for the shipped examples.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub smtp: SmtpServer,
}

impl Env {
    /// A fresh installation whose config mails to a new loopback SMTP server; `extra`
    /// is appended to the config.
    pub fn new(extra: &str) -> Env {
        Env::with_smtp(Behaviour::Accept, extra)
    }

    /// Like [`Env::new`], with a relay that behaves as told.
    pub fn with_smtp(behaviour: Behaviour, extra: &str) -> Env {
        Env::with_server(SmtpServer::start(behaviour), extra)
    }

    /// Like [`Env::new`], with `smtp` as the relay.
    pub fn with_server(smtp: SmtpServer, extra: &str) -> Env {
        let env = Env {
            dir: tempfile::tempdir().expect("temp dir"),
            smtp,
        };
        std::fs::create_dir_all(env.path("jobs")).unwrap();
        std::fs::create_dir_all(env.path("templates")).unwrap();
        env.write_config(extra);
        env
    }

    /// An installation whose relay refuses connections (nothing listens on its port).
    pub fn refusing() -> Env {
        let env = Env::new("");
        env.write_config_for(smtp::closed_port(), "");
        env
    }

    /// An installation that uses the checkout's shipped jobs and templates.
    pub fn shipped() -> Env {
        let repo = repo();
        Env::new(&format!(
            "jobs_dir: {}\ntemplates_dir: {}\n",
            repo.join("jobs").display(),
            repo.join("templates").display()
        ))
    }

    pub fn write_config(&self, extra: &str) {
        self.write_config_for(self.smtp.port, extra);
    }

    /// The config, with mail going to the relay on loopback `port`.
    pub fn write_config_for(&self, port: u16, extra: &str) {
        let config = format!(
            "state_dir: state\nmail:\n  from: reporter@test.example\n  to: [admin@test.example]\n  smtp: {{host: 127.0.0.1, port: {port}, timeout: 5s}}\n{extra}"
        );
        self.write("reporter.yaml", &config);
    }

    /// The files waiting in the spool (or in `spool/dead`), sorted.
    pub fn spooled(&self, folder: &str) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.path(folder)) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "msg"))
            .collect();
        files.sort();
        files
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// A `sendmail` that never ends, nor lets its output go (a child holding it, both
    /// running `marker`), made the mail transport with `timeout`; its path.
    pub fn sendmail_that_never_ends(&self, marker: &str, timeout: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let fake = self.write(
            "bin/sendmail",
            &format!("#!/bin/sh\n{marker} &\nexec {marker}\n"),
        );
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        self.write(
            "reporter.yaml",
            &format!(
                "state_dir: state\nmail:\n  to: [admin@test.example]\n  from: r@test.example\n  transport: sendmail\n  sendmail: {{path: {}, timeout: {timeout}}}\n",
                fake.display()
            ),
        );
        fake
    }

    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn job(&self, name: &str, yaml: &str) -> PathBuf {
        self.write(&format!("jobs/{name}.yaml"), yaml)
    }

    pub fn template(&self, file: &str, text: &str) -> PathBuf {
        self.write(&format!("templates/{file}"), text)
    }

    /// Copies the checkout's shipped partials (`disks`, `usage-bar`, ...) into
    /// `templates/partials/`.
    pub fn shipped_partials(&self) {
        let shipped = repo().join("templates/partials");
        for entry in std::fs::read_dir(&shipped).unwrap() {
            let from = entry.unwrap().path();
            let name = from.file_name().unwrap().to_str().unwrap();
            self.template(&format!("partials/{name}"), &read(&from));
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_reporter"));
        command
            .args(["--config", self.path("reporter.yaml").to_str().unwrap()])
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("REPORTER_CONFIG")
            .stdin(Stdio::null());
        command
    }

    /// The binary as the user `nobody` (through `setpriv`), for tests run as root. The
    /// installation's folder is opened to others so that `nobody` can read it.
    fn command_as_nobody(&self, args: &[&str]) -> Command {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut command = Command::new(tool("setpriv", "util-linux"));
        command
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_reporter"))
            .args(["--config", self.path("reporter.yaml").to_str().unwrap()])
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("REPORTER_CONFIG")
            .env("HOME", "/nonexistent")
            .stdin(Stdio::null());
        command
    }

    /// Like [`Env::start`], as the user `nobody`.
    #[must_use = "wait for it and check its exit code and stderr"]
    pub fn start_as_nobody(&self, args: &[&str]) -> Running {
        let what = format!("{} (as nobody)", describe(args));
        self.spawn(self.command_as_nobody(args), what)
    }

    /// Like [`Env::run`], as the user `nobody`.
    #[track_caller]
    #[must_use = "check the run's exit code and stderr"]
    pub fn run_as_nobody(&self, args: &[&str]) -> Run {
        let output = self.command_as_nobody(args).output().expect("run reporter");
        Run::new(format!("{} (as nobody)", describe(args)), output)
    }

    /// Runs the binary through another program (`prlimit`, `script`, a shell): `wrap` turns
    /// the binary's command line for `args` into the one to run.
    #[track_caller]
    #[must_use = "check the run's exit code and stderr"]
    pub fn run_through(&self, wrap: impl FnOnce(Vec<String>) -> Vec<String>, args: &[&str]) -> Run {
        let reporter = self.command(args);
        let argv: Vec<String> = std::iter::once(reporter.get_program())
            .chain(reporter.get_args())
            .map(|word| word.to_str().expect("a UTF-8 argument").to_owned())
            .collect();
        let full = wrap(argv);
        let output = Command::new(&full[0])
            .args(&full[1..])
            .current_dir(self.dir.path())
            .env_remove("REPORTER_CONFIG")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", full[0]));
        Run::new(full.join(" "), output)
    }

    /// Like [`Env::run`], with the process's umask set to `umask` (the tests' own stays).
    #[track_caller]
    #[must_use = "check the run's exit code and stderr"]
    pub fn run_with_umask(&self, umask: u32, args: &[&str]) -> Run {
        use std::os::unix::process::CommandExt;
        let mut command = self.command(args);
        let mask = nix::sys::stat::Mode::from_bits_truncate(umask);
        // SAFETY: umask(2) is async-signal-safe and touches nothing but this process.
        unsafe {
            command.pre_exec(move || {
                nix::sys::stat::umask(mask);
                Ok(())
            });
        }
        let output = command.output().expect("run reporter");
        Run::new(format!("{} (umask {umask:03o})", describe(args)), output)
    }

    /// Starts the binary in the background; [`Running::wait`] gives its [`Run`].
    #[must_use = "wait for it and check its exit code and stderr"]
    pub fn start(&self, args: &[&str]) -> Running {
        self.spawn(self.command(args), describe(args))
    }

    /// Like [`Env::start`], with `vars` added to the environment.
    #[must_use = "wait for it and check its exit code and stderr"]
    pub fn start_with_env(&self, vars: &[(&str, &str)], args: &[&str]) -> Running {
        let mut command = self.command(args);
        command.envs(vars.iter().copied());
        self.spawn(command, describe_with(vars, args))
    }

    fn spawn(&self, mut command: Command, what: String) -> Running {
        let stdout = tempfile::NamedTempFile::new().unwrap();
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let child = command
            .stdout(stdout.reopen().unwrap())
            .stderr(stderr.reopen().unwrap())
            .spawn()
            .expect("start reporter");
        Running::new(what, child, stdout, stderr)
    }

    /// Runs the binary with its standard output a pipe whose reader has gone (as in
    /// `reporter history | head -0`): every write to it fails with EPIPE.
    #[track_caller]
    #[must_use = "check the run's exit code and stderr"]
    pub fn run_into_closed_pipe(&self, args: &[&str]) -> Run {
        let (reader, writer) = nix::unistd::pipe().expect("a pipe");
        drop(reader);
        let output = self
            .command(args)
            .stdout(writer)
            .output()
            .expect("run reporter");
        Run::new(format!("{} | (closed)", describe(args)), output)
    }

    /// Like [`Env::run`], with `vars` added to the environment.
    #[track_caller]
    #[must_use = "check the run's exit code and stderr"]
    pub fn run_with_env(&self, vars: &[(&str, &str)], args: &[&str]) -> Run {
        let mut command = self.command(args);
        command.envs(vars.iter().copied());
        let output = command.output().expect("run reporter");
        Run::new(describe_with(vars, args), output)
    }

    /// Runs the binary to completion. Its exit code and stderr must be checked.
    #[track_caller]
    #[must_use = "check the run's exit code and stderr"]
    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run reporter");
        Run::new(describe(args), output)
    }

    /// Runs the binary to its end like [`Env::run`], also giving the highest peak resident
    /// memory (`VmHWM`, KiB) seen while it ran. (Its rusage would not do: a child started by
    /// vfork inherits the test process's peak.)
    pub fn run_measured(&self, args: &[&str]) -> (Run, u64) {
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let mut child = self
            .command(args)
            .stdout(Stdio::null())
            .stderr(stderr.reopen().unwrap())
            .spawn()
            .unwrap();
        let status_file = format!("/proc/{}/status", child.id());
        let mut peak = 0;
        let mut status = None;
        assert!(
            wait_up_to(Duration::from_secs(90), || {
                let hwm = std::fs::read_to_string(&status_file).ok().and_then(|s| {
                    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_owned();
                    line.split_whitespace().nth(1)?.parse::<u64>().ok()
                });
                peak = peak.max(hwm.unwrap_or(0));
                status = child.try_wait().unwrap();
                status.is_some()
            }),
            "reporter did not exit"
        );
        let output = std::process::Output {
            status: status.unwrap(),
            stdout: Vec::new(),
            stderr: std::fs::read(stderr.path()).unwrap(),
        };
        (Run::new(describe(args), output), peak)
    }

    /// The recorded runs `reporter history --json ARGS` prints, newest first.
    #[track_caller]
    pub fn history_json(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut all = vec!["history", "--json"];
        all.extend_from_slice(args);
        let stdout = self.run(&all).code(0).stderr_empty().into_stdout();
        match serde_json::from_str(&stdout) {
            Ok(serde_json::Value::Array(runs)) => runs,
            other => panic!("not a JSON array ({other:?}):\n{stdout}"),
        }
    }
}

/// A run's command line, for messages.
fn describe(args: &[&str]) -> String {
    format!("reporter {}", args.join(" "))
}

/// The same, with the variables added to its environment in front.
fn describe_with(vars: &[(&str, &str)], args: &[&str]) -> String {
    let vars: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{} {}", vars.join(" "), describe(args))
}

/// This machine's host name, as reports name it (`host.hostname`).
pub fn hostname() -> String {
    nix::unistd::gethostname().unwrap().into_string().unwrap()
}

pub fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

/// A running process: its id and command line (arguments joined by spaces).
pub struct Process {
    pub pid: u32,
    pub cmdline: String,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.pid, self.cmdline)
    }
}

/// `prefix` made unique to this run of the tests (its process id, padded so that no id is a
/// prefix of another), for markers in command lines: another test suite running on the
/// same machine at the same time has processes of its own.
/// Kills the processes whose command line holds the marker when the test ends, passed or
/// not, so that a failing test leaves nothing behind.
pub struct Reap(pub String);

impl Drop for Reap {
    fn drop(&mut self) {
        for process in processes_matching(&self.0) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(process.pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{:07}", std::process::id())
}

/// Processes (other than the tests') whose command line contains `marker`, to prove nothing
/// was left behind or to see a command start.
pub fn processes_matching(marker: &str) -> Vec<Process> {
    let own = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (pid != own && cmdline.contains(marker)).then_some(Process { pid, cmdline })
        })
        .collect()
}

/// Waits until `condition` holds; false if it still does not after a generous bound (which
/// only catches hangs).
pub fn wait_until(condition: impl FnMut() -> bool) -> bool {
    wait_up_to(Duration::from_secs(30), condition)
}

/// Waits until `condition` holds, for at most `limit`.
pub fn wait_up_to(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

/// The path of the tool `name` a test needs; fails the test, saying which Debian package
/// provides it, when it is not installed.
#[track_caller]
/// Asserts that the real `promtool check metrics` accepts the metrics file at `path`.
pub fn promtool_accepts(path: &Path) {
    let promtool = tool("promtool", "prometheus");
    let check = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(path).unwrap())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool: {}{}\n{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr),
        std::fs::read_to_string(path).unwrap_or_default()
    );
}

pub fn tool(name: &str, package: &str) -> PathBuf {
    // Daemons such as sshd live in sbin, often not on PATH; sshd needs an absolute path.
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "this test needs `{name}`, which is not installed: run ./test.sh as root, \
                 which installs it (Debian/Ubuntu package {package})"
            )
        })
}

/// For the tests only built to run as root (`reporter_tests_as_root`, set by build.rs):
/// fails when they run as another user than the one they were built by.
#[track_caller]
pub fn require_root() {
    let uid = nix::unistd::geteuid();
    assert!(
        uid.is_root(),
        "this test needs root and was built by root, but runs as uid {uid}: \
         rebuild as this user (cargo clean -p reporter) to have it skipped"
    );
}

/// Runs headless Chromium on the file `page` in a `width` × `height` window, with `args`
/// (`--dump-dom`, `--screenshot=FILE`), without network or a profile of its own.
pub fn chromium(page: &Path, (width, height): (u32, u32), args: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    Command::new(tool("chromium", "chromium"))
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("cannot run chromium: {e}"))
}
