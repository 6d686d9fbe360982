//! The processes a command starts, found through the process tree, so that none outlives
//! it: not even one that left the command's process group with `setsid()` or `setpgid()`.
//!
//! reporter is a child subreaper ([`become_subreaper`]): a process whose parent dies is
//! adopted by reporter instead of init, so it stays in reporter's tree. Two cases:
//!
//! - While a command runs, its descendants hang below its pid. On timeout and interruption
//!   they are found by walking `/proc` from it ([`Tracked::signal_tree`]) and remembered, so
//!   that those still alive after the command itself died are killed as well.
//! - A process whose parent died was adopted by reporter (an "orphan"), and which command
//!   it came from is no longer written anywhere. It is killed, with everything below it, as
//!   soon as no command that was already running when it started is still running
//!   ([`sweep`], after each command). With one command at a time that is when it ends;
//!   with a pool, a process one command detached may live until the commands that were
//!   running beside it have ended, never longer, and never dies while they run.
//!
//! Orphans are reaped with `waitpid` on their own pid, never `waitpid(-1)`, which would
//! take the exit status of a child Tokio waits for. Processes in reporter's own process
//! group are not orphans of commands (commands run in groups of their own): a transport
//! reporter itself started, such as `sendmail`, is left alone. So is an `ssh` client that
//! ssh detached for itself (a `ControlPersist` master that other tasks share).

use std::collections::HashSet;
use std::io;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{Pid, getpgrp, getpid};
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::{Instant, timeout_at};

/// How long a sweep waits for the processes it killed to die and be reaped; those that take
/// longer (stuck in the kernel) are reaped by a later sweep.
const REAP_WAIT: Duration = Duration::from_secs(1);

/// Makes reporter adopt the processes its commands leave without a parent. The attribute
/// is not inherited across `fork`, so it is set where the runtime starts, after the daemon
/// has detached.
pub fn become_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)
}

/// A process as `/proc/PID/stat` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    pid: i32,
    ppid: i32,
    pgid: i32,
    zombie: bool,
    /// Clock ticks after boot; with the pid, names one process even when pids are reused.
    start: u64,
}

impl Stat {
    fn read(pid: i32) -> Option<Stat> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        Stat::parse(pid, &text)
    }

    /// `pid (comm) state ppid pgrp session ...`: the name may hold spaces and parentheses,
    /// so the fields are counted after the last `)`.
    fn parse(pid: i32, text: &str) -> Option<Stat> {
        let mut fields = text.get(text.rfind(')')? + 1..)?.split_whitespace();
        let state = fields.next()?;
        let ppid = fields.next()?.parse().ok()?;
        let pgid = fields.next()?.parse().ok()?;
        // starttime is field 22; `state` was field 3.
        let start = fields.nth(22 - 6)?.parse().ok()?;
        Some(Stat {
            pid,
            ppid,
            pgid,
            zombie: state == "Z" || state == "X",
            start,
        })
    }

    /// The same process, whatever its parent and group are now.
    fn same(&self, other: &Stat) -> bool {
        self.pid == other.pid && self.start == other.start
    }
}

/// The process table, read at most once per look (a scan of `/proc` costs about 10 µs a
/// process); where the kernel offers `/proc/PID/task/TID/children`, children are read from
/// there without a scan.
#[derive(Default)]
struct Table {
    scanned: Option<Vec<Stat>>,
}

impl Table {
    fn children(&mut self, parent: i32) -> Vec<i32> {
        if children_files() {
            return children_from_files(parent);
        }
        self.scanned
            .get_or_insert_with(scan)
            .iter()
            .filter(|stat| stat.ppid == parent)
            .map(|stat| stat.pid)
            .collect()
    }

    /// `roots` and everything below them, each once, parents before children.
    fn subtree(&mut self, roots: &[i32]) -> Vec<Stat> {
        let mut seen: HashSet<i32> = HashSet::new();
        let mut queue: Vec<i32> = roots.to_vec();
        let mut found = Vec::new();
        while let Some(pid) = queue.pop() {
            if !seen.insert(pid) {
                continue;
            }
            if let Some(stat) = Stat::read(pid) {
                found.push(stat);
                queue.extend(self.children(pid));
            }
        }
        found
    }
}

fn children_files() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| std::path::Path::new("/proc/thread-self/children").exists())
}

/// The children of every thread of `parent` (an adopted process is the child of whichever
/// thread the kernel picked).
fn children_from_files(parent: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

fn scan() -> Vec<Stat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(Stat::read)
        .collect()
}

/// The commands running now: reporter's own children, which are not orphans.
static RUNNING: Mutex<Vec<Stat>> = Mutex::new(Vec::new());

fn running() -> MutexGuard<'static, Vec<Stat>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// A command started through [`spawn`], until [`Tracked::finish`].
#[derive(Debug)]
pub struct Tracked {
    command: Option<Stat>,
    /// Its descendants seen when it was signalled, with the processes they started since.
    descendants: Vec<Stat>,
}

/// Starts `command` and registers it as running, in one step: a sweep running at the same
/// time must not take the new child for an orphan.
pub fn spawn(
    command: &mut tokio::process::Command,
) -> io::Result<(tokio::process::Child, Tracked)> {
    let mut running = running();
    let child = command.spawn()?;
    let command = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .map(|pid| {
            // Unreadable only on a strange /proc: then no orphan counts as older than it.
            Stat::read(pid).unwrap_or(Stat {
                pid,
                ppid: getpid().as_raw(),
                pgid: pid,
                zombie: false,
                start: 0,
            })
        });
    if let Some(stat) = command {
        running.push(stat);
    }
    Ok((
        child,
        Tracked {
            command,
            descendants: Vec::new(),
        },
    ))
}

impl Tracked {
    /// Sends `signal` to every descendant of the command (not to the command itself, whose
    /// group the caller signals), remembering them for [`Tracked::finish`].
    pub fn signal_tree(&mut self, signal: Signal) {
        let Some(command) = self.command else { return };
        // Only processes that are still the ones seen: a pid may have been reused since.
        let roots: Vec<i32> = std::iter::once(&command)
            .chain(&self.descendants)
            .filter(|seen| Stat::read(seen.pid).is_some_and(|now| now.start == seen.start))
            .map(|seen| seen.pid)
            .collect();
        let found: Vec<Stat> = Table::default()
            .subtree(&roots)
            .into_iter()
            .filter(|stat| stat.pid != command.pid && !stat.zombie)
            .collect();
        for stat in found {
            let _ = kill(Pid::from_raw(stat.pid), signal);
            if !self.descendants.iter().any(|seen| seen.same(&stat)) {
                self.descendants.push(stat);
            }
        }
    }

    /// The command has exited and been waited for: whatever it left behind is killed.
    pub async fn finish(mut self) {
        let Some(command) = self.command else { return };
        if !self.descendants.is_empty() {
            self.signal_tree(Signal::SIGKILL);
        }
        let oldest = {
            let mut running = running();
            running.retain(|stat| *stat != command);
            running.iter().map(|stat| stat.start).min()
        };
        // Only the end of the oldest running command can make an orphan killable.
        if !self.descendants.is_empty() || oldest.is_none_or(|oldest| oldest >= command.start) {
            sweep(&self.descendants).await;
        }
    }
}

/// Kills and reaps the orphans no running command can have started, and any in `known`
/// (descendants of the command that just ended); waits up to [`REAP_WAIT`] for them.
async fn sweep(known: &[Stat]) {
    if sweep_once(known) == 0 {
        return;
    }
    let Ok(mut deaths) = signal(SignalKind::child()) else {
        return;
    };
    let deadline = Instant::now() + REAP_WAIT;
    // Looking again once listening, so that no death goes unnoticed.
    while sweep_once(known) > 0 {
        if timeout_at(deadline, deaths.recv()).await.is_err() {
            return;
        }
    }
}

/// One look at reporter's children: zombies are reaped, killable orphans are killed with
/// everything below them. Returns how many are still to be reaped.
fn sweep_once(known: &[Stat]) -> usize {
    let running = running();
    let oldest = running.iter().map(|stat| stat.start).min();
    let me = getpid().as_raw();
    let own_group = getpgrp().as_raw();
    let mut table = Table::default();
    let mut pending = 0;
    for pid in table.children(me) {
        let Some(orphan) = Stat::read(pid) else {
            continue;
        };
        if running.iter().any(|stat| stat.pid == pid) || orphan.pgid == own_group {
            continue;
        }
        if orphan.zombie {
            match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(nix::sys::wait::WaitStatus::StillAlive) => pending += 1,
                Ok(_) | Err(Errno::ECHILD) => {}
                Err(_) => pending += 1,
            }
            continue;
        }
        let killable = known.iter().any(|seen| seen.same(&orphan))
            || oldest.is_none_or(|oldest| orphan.start < oldest);
        if !killable || is_ssh(pid) {
            continue;
        }
        for stat in table.subtree(&[pid]) {
            let _ = kill(Pid::from_raw(stat.pid), Signal::SIGKILL);
        }
        pending += 1;
    }
    pending
}

/// An ssh client: one that ssh detached to keep a shared connection (`ControlPersist`)
/// serves other tasks too, and ends by itself.
fn is_ssh(pid: i32) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .is_ok_and(|exe| exe.file_name().is_some_and(|name| name == "ssh"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        let text =
            "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 101 0 0 0 0 0 0 0 20 0 1 0 987654 1 2 3\n";
        assert_eq!(
            Stat::parse(4242, text),
            Some(Stat {
                pid: 4242,
                ppid: 1,
                pgid: 4242,
                zombie: false,
                start: 987654,
            })
        );
        assert_eq!(Stat::parse(1, "1 (x"), None);
    }

    #[test]
    fn own_process_is_found_in_the_table() {
        let me = getpid().as_raw();
        let stat = Stat::read(me).expect("own stat");
        assert!(!stat.zombie && stat.same(&Stat::read(me).unwrap()));
        let parent = nix::unistd::getppid().as_raw();
        assert!(Table::default().children(parent).contains(&me));
    }
}
