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
//! Looking costs little: reporter's children are read from the kernel's children lists,
//! or, where it has none, from the few pids handed out since the command started. Orphans
//! are reaped with `waitpid` on their own pid, never `waitpid(-1)`, which would take the
//! exit status of a child Tokio waits for.
//!
//! Two kinds of process are left alone. What reporter starts for itself, such as a
//! `sendmail` transport and what that leaves in the background, stays in reporter's own
//! session, and nothing else can be in it: every command starts a session of its own
//! ([`super::command`]), a process can only join a process group of its own session
//! (`setpgid` into reporter's group fails with EPERM), and a new session's id is its
//! leader's pid, which the kernel never hands out while reporter's session uses it. So
//! the sweep looks at everything in other sessions, whatever its process group. And the
//! connection master an ssh task of reporter's detached for `ControlPersist`, which other
//! tasks share and which ends by itself, is known by pid ([`super::master`]), never by
//! its program's name.

use std::collections::HashSet;
use std::io;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::{Pid, getpid, getsid};
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::{Instant, timeout_at};

use crate::exec::master;

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
    session: i32,
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
        let session = fields.next()?.parse().ok()?;
        // starttime is field 22; `state` was field 3.
        let start = fields.nth(22 - 7)?.parse().ok()?;
        Some(Stat {
            pid,
            ppid,
            pgid,
            session,
            zombie: state == "Z" || state == "X",
            start,
        })
    }

    /// Which of two processes started first: the start tick, then (within one tick) the
    /// pid, as pids are handed out in increasing order.
    fn age(&self) -> (u64, i32) {
        (self.start, self.pid)
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
    /// As registered in [`RUNNING`], with the tick before it was spawned as its start.
    command: Option<Stat>,
    /// As `/proc` showed it when it was first signalled (its real start, to tell it from
    /// a process that got its pid later).
    seen: Option<Stat>,
    /// Its descendants seen when it was signalled, with the processes they started since.
    descendants: Vec<Stat>,
    /// It is reporter's ssh client, whose connection master is left alone.
    ssh: bool,
}

/// Starts a command with `start`, which returns it with its pid; the command makes itself
/// a session leader. It is registered as running in the same step: a sweep running at the
/// same time must not take the new child for an orphan. `ssh`: it is reporter's ssh client
/// ([`super::master`]).
pub fn spawn<C>(
    start: impl FnOnce() -> io::Result<(C, Option<u32>)>,
    ssh: bool,
) -> io::Result<(C, Tracked)> {
    let mut running = running();
    // Taken before the child starts, so that everything it starts counts as younger; read
    // from the clock /proc's start times come from, which spares reading the child's.
    let ticks = ticks_since_boot();
    let (child, pid) = start()?;
    let start = ticks;
    let command = pid.and_then(|pid| i32::try_from(pid).ok()).map(|pid| Stat {
        pid,
        ppid: getpid().as_raw(),
        pgid: pid,
        session: pid,
        zombie: false,
        start,
    });
    if let Some(stat) = command {
        running.push(stat);
    }
    Ok((
        child,
        Tracked {
            command,
            seen: None,
            descendants: Vec::new(),
            ssh,
        },
    ))
}

/// Now, in the clock ticks `/proc/PID/stat` counts start times in (`CLOCK_BOOTTIME`
/// divided by `USER_HZ`); 0 if the clock cannot be read, which makes every orphan count
/// as younger than the command: kept, never killed too early.
fn ticks_since_boot() -> u64 {
    static PER_SECOND: OnceLock<u64> = OnceLock::new();
    let per_second = *PER_SECOND.get_or_init(|| {
        nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .and_then(|hz| u64::try_from(hz).ok())
            .filter(|&hz| hz > 0)
            .unwrap_or(100)
    });
    let Ok(now) = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME) else {
        return 0;
    };
    let nanos = u128::try_from(now.tv_sec()).unwrap_or(0) * 1_000_000_000
        + u128::try_from(now.tv_nsec()).unwrap_or(0);
    u64::try_from(nanos * u128::from(per_second) / 1_000_000_000).unwrap_or(u64::MAX)
}

impl Tracked {
    /// Sends `signal` to every descendant of the command (not to the command itself, whose
    /// group the caller signals), remembering them for [`Tracked::finish`].
    pub fn signal_tree(&mut self, signal: Signal) {
        let Some(command) = self.command else { return };
        if self.seen.is_none() {
            self.seen = Stat::read(command.pid);
        }
        // Only processes that are still the ones seen: a pid may have been reused since.
        let roots: Vec<i32> = self
            .seen
            .iter()
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
        if self.ssh {
            // While the command still counts as running: a sweep that runs meanwhile (as
            // another command ends) must not take its master for an orphan to kill.
            adopt_masters(&command).await;
        }
        let oldest = {
            let mut running = running();
            running.retain(|stat| *stat != command);
            running.iter().map(Stat::age).min()
        };
        // Only the end of the oldest running command can make an orphan killable.
        if !self.descendants.is_empty() || oldest.is_none_or(|oldest| oldest > command.age()) {
            sweep(&self.descendants, command.pid).await;
        }
    }
}

impl Drop for Tracked {
    /// A command given up on without [`Tracked::finish`] (its task dropped) must not count
    /// as running forever: no orphan would ever be old enough to be killed.
    fn drop(&mut self) {
        if let Some(command) = self.command {
            running().retain(|stat| *stat != command);
        }
    }
}

/// Looks for the connection master the ssh client `command`, which has just ended, may
/// have detached: an orphan that started after it, in another session than reporter's.
async fn adopt_masters(command: &Stat) {
    let me = getpid().as_raw();
    let own_session = own_session();
    let adopted: Vec<(i32, u64)> = {
        let running = running();
        orphan_candidates(&mut Table::default(), me, command.pid, &running)
            .into_iter()
            .filter(|stat| {
                stat.ppid == me
                    && !stat.zombie
                    && stat.session != own_session
                    && stat.start >= command.start
            })
            .map(|stat| (stat.pid, stat.start))
            .collect()
    };
    if !adopted.is_empty() {
        master::adopt(&adopted, command.pid, |pid| {
            Stat::read(pid).map(|stat| stat.start)
        })
        .await;
    }
}

/// reporter's session: what is in it, reporter started for itself.
fn own_session() -> i32 {
    getsid(None).map_or(0, Pid::as_raw)
}

/// Kills and reaps the orphans no running command can have started, and any in `known`
/// (descendants of the command that just ended, whose pid was `since`); waits up to
/// [`REAP_WAIT`] for them.
async fn sweep(known: &[Stat], since: i32) {
    if sweep_once(known, since) == 0 {
        return;
    }
    let Ok(mut deaths) = signal(SignalKind::child()) else {
        return;
    };
    let deadline = Instant::now() + REAP_WAIT;
    // Looking again once listening, so that no death goes unnoticed.
    while sweep_once(known, since) > 0 {
        if timeout_at(deadline, deaths.recv()).await.is_err() {
            return;
        }
    }
}

/// One look at reporter's children: zombies are reaped, killable orphans are killed with
/// everything below them. Returns how many are still to be reaped.
fn sweep_once(known: &[Stat], since: i32) -> usize {
    let running = running();
    let oldest = running.iter().map(Stat::age).min();
    let me = getpid().as_raw();
    let own_session = own_session();
    let ours =
        |stat: &Stat| running.iter().any(|r| r.pid == stat.pid) || stat.session == own_session;
    reap_zombies(&ours);
    let mut table = Table::default();
    let mut pending = 0;
    for orphan in orphan_candidates(&mut table, me, since, &running) {
        if orphan.ppid != me || ours(&orphan) {
            continue;
        }
        if orphan.zombie {
            match waitpid(Pid::from_raw(orphan.pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => pending += 1,
                Ok(_) | Err(Errno::ECHILD) => {}
                Err(_) => pending += 1,
            }
            continue;
        }
        let killable = known.iter().any(|seen| seen.same(&orphan))
            || oldest.is_none_or(|oldest| orphan.age() < oldest);
        if !killable || master::is_master(orphan.pid, orphan.start) {
            continue;
        }
        for stat in table.subtree(&[orphan.pid]) {
            let _ = kill(Pid::from_raw(stat.pid), Signal::SIGKILL);
        }
        pending += 1;
    }
    pending
}

/// Reaps reporter's dead children that are neither running commands nor `ours` (Tokio
/// waits for those), wherever their pids are: an orphan left alone (an ssh master) that
/// has exited since.
fn reap_zombies(ours: &dyn Fn(&Stat) -> bool) {
    let peek = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    while let Ok(status) = waitid(Id::All, peek) {
        let Some(pid) = status.pid() else { return };
        // The first dead child is Tokio's: the others wait for the next sweep.
        if Stat::read(pid.as_raw()).is_none_or(|stat| ours(&stat)) {
            return;
        }
        if waitpid(pid, Some(WaitPidFlag::WNOHANG)).is_err() {
            return;
        }
    }
}

/// The processes that may be orphans left by commands: reporter's children other than the
/// running commands. The kernel gives an adopted process to the first living thread, the
/// main one, so its children list is enough. Without such lists, a scan of all of `/proc`
/// after every command would cost more than the command; what a command started got a pid
/// after its own (pids are handed out in increasing order), so the pids handed out since
/// `since` are looked at, unless they wrapped around or are too many.
fn orphan_candidates(table: &mut Table, me: i32, since: i32, running: &[Stat]) -> Vec<Stat> {
    let pids: Vec<i32> = if children_files() {
        std::fs::read_to_string(format!("/proc/{me}/task/{me}/children"))
            .map(|list| {
                list.split_whitespace()
                    .filter_map(|pid| pid.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    } else if let Some(window) = pids_since(since) {
        window
    } else {
        table.children(me)
    };
    pids.into_iter()
        .filter(|pid| !running.iter().any(|stat| stat.pid == *pid))
        .filter_map(Stat::read)
        .collect()
}

/// The pids handed out after `since`, if they are few and did not wrap around.
fn pids_since(since: i32) -> Option<Vec<i32>> {
    let last = last_pid()?;
    (last >= since && last - since <= WINDOW).then(|| (since + 1..=last).collect())
}

/// How many pids handed out since a command started are looked at one by one; beyond, the
/// whole process table is read.
const WINDOW: i32 = 1024;

/// The pid handed out last in reporter's pid namespace (the last field of `/proc/loadavg`).
fn last_pid() -> Option<i32> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .nth(4)?
        .parse()
        .ok()
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
                session: 4242,
                zombie: false,
                start: 987654,
            })
        );
        assert_eq!(Stat::parse(1, "1 (x"), None);
    }

    #[test]
    fn pids_handed_out_since_a_process_include_its_children() {
        let child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let since = pids_since(pid - 1).expect("few pids handed out since");
        assert!(since.contains(&pid), "{since:?}");
        let _ = child.wait_with_output();
    }

    #[test]
    fn ticks_count_like_start_times() {
        let before = ticks_since_boot();
        let child = std::process::Command::new("sleep")
            .arg("1")
            .spawn()
            .unwrap();
        let stat = Stat::read(child.id() as i32).expect("child's stat");
        let after = ticks_since_boot();
        let _ = nix::sys::signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
        let _ = child.wait_with_output();
        assert!(
            before <= stat.start && stat.start <= after,
            "{before} {stat:?} {after}"
        );
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
