//! What a run of the binary did, and the expectations a test states about it.
//!
//! Every run must have its exit code and its stderr checked: `.code(0).stderr_empty()`,
//! `.code(2).stderr_contains("...")`. A [`Run`] dropped with either unchecked fails the
//! test, so a new test cannot forget them. Each check is `#[track_caller]`, so a failure
//! points at the test's line, and shows the exit code, stdout and stderr.

use std::panic::Location;
use std::path::Path;
use std::process::{Child, Output};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::NamedTempFile;

/// How long a started run may take to exit once waited for: a bound against hangs only.
const HANG: Duration = Duration::from_secs(90);

/// A finished run of the binary. Check its code and stderr, then read what else it printed.
pub struct Run {
    /// The exit code, or -1 when a signal killed it.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The signal that killed it, if one did.
    signal: Option<i32>,
    /// The command line, for messages.
    what: String,
    /// Where the test ran it.
    at: &'static Location<'static>,
    code_checked: bool,
    stderr_checked: bool,
}

impl Run {
    #[track_caller]
    #[must_use = "check the run's exit code and stderr"]
    pub fn new(what: impl Into<String>, output: Output) -> Run {
        use std::os::unix::process::ExitStatusExt;
        Run {
            code: output.status.code().unwrap_or(-1),
            signal: output.status.signal(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            what: what.into(),
            at: Location::caller(),
            code_checked: false,
            stderr_checked: false,
        }
    }

    /// The exit code is `expected`.
    #[track_caller]
    pub fn code(mut self, expected: i32) -> Run {
        self.code_checked = true;
        if self.signal.is_some() || self.code != expected {
            self.fail(&format!("expected exit code {expected}"));
        }
        self
    }

    /// The exit code is one of `expected`: for what really depends on the machine.
    #[track_caller]
    pub fn code_in(mut self, expected: &[i32]) -> Run {
        self.code_checked = true;
        if self.signal.is_some() || !expected.contains(&self.code) {
            self.fail(&format!("expected an exit code in {expected:?}"));
        }
        self
    }

    /// A signal killed it (it did not exit).
    #[track_caller]
    pub fn killed_by(mut self, signal: Signal) -> Run {
        self.code_checked = true;
        if self.signal != Some(signal as i32) {
            self.fail(&format!("expected to be killed by {signal}"));
        }
        self
    }

    /// Stderr is exactly `expected`.
    #[track_caller]
    pub fn stderr_is(mut self, expected: &str) -> Run {
        self.stderr_checked = true;
        if self.stderr != expected {
            self.fail(&format!("expected stderr to be exactly:\n{expected}"));
        }
        self
    }

    /// Nothing on stderr.
    #[track_caller]
    pub fn stderr_empty(mut self) -> Run {
        self.stderr_checked = true;
        if !self.stderr.is_empty() {
            self.fail("expected nothing on stderr");
        }
        self
    }

    /// Stderr is the one line a run that exits 1 ends with, naming what was not ok
    /// (`reporter: warning: not ok: JOB: COMMAND (STATUS), ...`), and nothing else.
    #[track_caller]
    pub fn stderr_only_not_ok(mut self) -> Run {
        self.stderr_checked = true;
        let lines: Vec<&str> = self.stderr.lines().collect();
        if lines.len() != 1 || !lines[0].starts_with("reporter: warning: not ok: ") {
            self.fail("expected stderr to be one `reporter: warning: not ok: ...` line");
        }
        self
    }

    /// What a run says when all went as its exit code tells: nothing on stderr, except,
    /// when it exits 1, the one line naming what was not ok.
    #[track_caller]
    pub fn stderr_quiet(self) -> Run {
        if self.code == 1 {
            self.stderr_only_not_ok()
        } else {
            self.stderr_empty()
        }
    }

    /// Stderr contains `expected`.
    #[track_caller]
    pub fn stderr_contains(mut self, expected: &str) -> Run {
        self.stderr_checked = true;
        if !self.stderr.contains(expected) {
            self.fail(&format!("expected stderr to contain:\n{expected}"));
        }
        self
    }

    /// Stderr does not contain `unexpected`. Says too little to count as checking stderr.
    #[track_caller]
    pub fn stderr_lacks(self, unexpected: &str) -> Run {
        if self.stderr.contains(unexpected) {
            self.fail(&format!("expected stderr not to contain:\n{unexpected}"));
        }
        self
    }

    /// Stdout is exactly `expected`.
    #[track_caller]
    pub fn stdout_is(self, expected: &str) -> Run {
        if self.stdout != expected {
            self.fail(&format!("expected stdout to be exactly:\n{expected}"));
        }
        self
    }

    /// Nothing on stdout.
    #[track_caller]
    pub fn stdout_empty(self) -> Run {
        if !self.stdout.is_empty() {
            self.fail("expected nothing on stdout");
        }
        self
    }

    /// Stdout contains `expected`.
    #[track_caller]
    pub fn stdout_contains(self, expected: &str) -> Run {
        if !self.stdout.contains(expected) {
            self.fail(&format!("expected stdout to contain:\n{expected}"));
        }
        self
    }

    /// What it printed on stdout, once its code and stderr are checked.
    pub fn into_stdout(mut self) -> String {
        std::mem::take(&mut self.stdout)
    }

    #[track_caller]
    fn fail(&self, expectation: &str) -> ! {
        panic!("{}\n{expectation}\n{}", self.title(), self.details())
    }

    fn title(&self) -> String {
        format!("`{}` (run at {})", self.what, self.at)
    }

    fn details(&self) -> String {
        let status = match self.signal {
            Some(signal) => format!("killed by signal {signal}"),
            None => format!("exit code {}", self.code),
        };
        format!(
            "--- {status}\n--- stdout ({} bytes):\n{}\n--- stderr ({} bytes):\n{}\n---",
            self.stdout.len(),
            excerpt(&self.stdout),
            self.stderr.len(),
            excerpt(&self.stderr)
        )
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let unchecked = match (self.code_checked, self.stderr_checked) {
            (true, true) => return,
            (false, false) => "exit code and stderr",
            (false, true) => "exit code",
            (true, false) => "stderr",
        };
        panic!(
            "{}\nthe test never checked its {unchecked}: every run must state both \
             (e.g. `.code(0).stderr_empty()`)\n{}",
            self.title(),
            self.details()
        );
    }
}

/// Long outputs (mbox previews, floods) shown by their head and tail.
fn excerpt(text: &str) -> String {
    const HEAD: usize = 3000;
    const TAIL: usize = 1000;
    if text.len() <= HEAD + TAIL {
        return text.to_owned();
    }
    let mut head = HEAD;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - TAIL;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}\n[... {} bytes left out ...]\n{}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
}

/// The binary running in the background; [`Running::wait`] gives its [`Run`].
pub struct Running {
    child: Option<Child>,
    what: String,
    stdout: NamedTempFile,
    stderr: NamedTempFile,
}

impl Running {
    pub fn new(
        what: String,
        child: Child,
        stdout: NamedTempFile,
        stderr: NamedTempFile,
    ) -> Running {
        Running {
            child: Some(child),
            what,
            stdout,
            stderr,
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("running").id() as i32)
    }

    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).unwrap();
    }

    /// What it has written to stderr so far (a daemon's log).
    pub fn stderr_so_far(&self) -> String {
        read_lossy(self.stderr.path())
    }

    /// Waits for it to exit (failing the test if it hangs).
    #[track_caller]
    #[must_use = "check the run's exit code and stderr"]
    pub fn wait(mut self) -> Run {
        let mut child = self.child.take().expect("waited for once");
        let mut status = None;
        if !super::wait_up_to(HANG, || {
            status = child.try_wait().unwrap();
            status.is_some()
        }) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`{}` did not exit within {HANG:?}; stderr so far:\n{}",
                self.what,
                self.stderr_so_far()
            );
        }
        let status = status.expect("exited");
        let output = Output {
            status,
            stdout: std::fs::read(self.stdout.path()).unwrap(),
            stderr: std::fs::read(self.stderr.path()).unwrap(),
        };
        Run::new(std::mem::take(&mut self.what), output)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = child.kill();
        let _ = child.wait();
        if !std::thread::panicking() {
            panic!(
                "`{}` was started but never waited for: its exit code and stderr went unchecked",
                self.what
            );
        }
    }
}

fn read_lossy(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned()
}
