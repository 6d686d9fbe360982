//! File descriptors: reporter's own limit on them, raised only when a pool needs more than
//! it was started with; the pool size that limit still allows; and what a command gets of
//! them — descriptors 0, 1 and 2 only, and the soft limit reporter itself was started with
//! (docs/security.md, docs/performance.md).

use std::os::fd::RawFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use tracing::warn;

/// What one running command holds open in reporter: its stdout and stderr pipes and the
/// descriptor its exit is waited for through, with one to spare.
pub const PER_COMMAND: u64 = 4;
/// What reporter holds besides its commands: the runtime, the history, the spool, the
/// relay, the log and the libraries' own.
pub const RESERVED: u64 = 64;

/// `RLIMIT_NOFILE` as reporter found it, (soft, hard), before [`pool_size`] raised it;
/// `None` if it could not be read (nor raised).
static INHERITED: OnceLock<Option<(u64, u64)>> = OnceLock::new();

/// Readies reporter's descriptors for running commands, once per process: the limit it was
/// started with is noted, and every descriptor reporter inherited beyond 0, 1 and 2 is
/// marked close-on-exec, so that no child — a command, `sendmail`, ssh — gets one.
pub fn prepare() {
    INHERITED.get_or_init(|| {
        seal_inherited();
        getrlimit(Resource::RLIMIT_NOFILE).ok()
    });
}

/// Raises the soft limit to the hard one when `needed` descriptors are more than it allows
/// now. Only then: a command can be started without forking reporter only while the limit
/// is the one reporter was started with ([`limit_raised`]).
fn raise_limit_for(needed: u64) {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft < needed && soft < hard {
        // Refused only where the hard limit is above what the kernel allows (`nr_open`);
        // the pool is then capped to the soft limit ([`pool_size`]).
        if setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
            RAISED.store(true, Ordering::Relaxed);
        }
    }
}

/// Set once reporter has raised its limit ([`raise_limit_for`]), the only way it changes:
/// read for every command, so a flag rather than a system call.
static RAISED: AtomicBool = AtomicBool::new(false);

/// Whether reporter's descriptor limit is no longer the one it was started with, which a
/// command must then get back before it executes ([`ChildLimits`]).
pub fn limit_raised() -> bool {
    child_limits().inherited.is_some()
}

/// Marks every open descriptor from 3 up close-on-exec. Whatever reporter opens itself is
/// opened so already (Rust, Tokio and SQLite all do); what the process that started
/// reporter left open (`reporter run X 7<secret`) is not, and would reach every command.
fn seal_inherited() {
    // close_range(2) with CLOSE_RANGE_CLOEXEC, Linux 5.11 and later: one call.
    let first = 3;
    // SAFETY: a plain system call on integers.
    let sealed = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    } == 0;
    if sealed {
        return;
    }
    let Ok(open) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = open
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd >= first as RawFd)
        .collect();
    for fd in fds {
        // The listing's own descriptor is closed by now: EBADF, nothing to do.
        let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
}

/// What a command gets back before it executes: run in the child between `fork` and
/// `exec`, so only async-signal-safe system calls on values prepared before the fork.
#[derive(Debug, Clone, Copy)]
pub struct ChildLimits {
    /// The soft and hard `RLIMIT_NOFILE` reporter was started with, when it raised them:
    /// a program using select(2) breaks with descriptors above 1024.
    inherited: Option<(u64, u64)>,
}

/// The limits a command is to start with, read before the fork.
pub fn child_limits() -> ChildLimits {
    ChildLimits {
        inherited: INHERITED
            .get()
            .copied()
            .flatten()
            .filter(|_| RAISED.load(Ordering::Relaxed)),
    }
}

impl ChildLimits {
    /// In the child: every descriptor above 2 closed at `exec` and the soft limit put back.
    /// Only 0, 1 and 2 are left to the command: the inherited ones were sealed as
    /// reporter started ([`prepare`]); this catches any a library opened since without
    /// close-on-exec. Where close_range(2) cannot mark them (before Linux 5.11) that
    /// sealing is what holds, as no loop over every possible descriptor is affordable
    /// with a raised limit.
    pub fn apply_in_child(self) -> std::io::Result<()> {
        // SAFETY: a plain system call on integers; async-signal-safe.
        unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
        }
        if let Some((soft, hard)) = self.inherited {
            setrlimit(Resource::RLIMIT_NOFILE, soft, hard)?;
        }
        Ok(())
    }
}

/// The pool size the descriptor limit allows for `wanted`: `wanted` itself when it fits,
/// else as many commands as fit, with one warning saying so.
pub fn pool_size(wanted: usize) -> usize {
    prepare();
    raise_limit_for(RESERVED.saturating_add(PER_COMMAND.saturating_mul(wanted as u64)));
    let Ok((soft, _)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return wanted;
    };
    let fits = usize::try_from(soft.saturating_sub(RESERVED) / PER_COMMAND)
        .unwrap_or(usize::MAX)
        .max(1);
    if wanted <= fits {
        return wanted;
    }
    let needed = RESERVED + PER_COMMAND * wanted as u64;
    warn!(
        "a pool of {wanted} commands needs about {needed} file descriptors, more than the \
         limit of {soft} (RLIMIT_NOFILE): running at most {fits} commands at once; raise \
         the hard limit (`ulimit -Hn`, `LimitNOFILE=`) to run more"
    );
    fits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_the_limit_holds_keeps_its_size_and_the_limit() {
        prepare();
        let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let fits = usize::try_from((soft - RESERVED) / PER_COMMAND).unwrap();
        assert_eq!(pool_size(4.min(fits)), 4.min(fits));
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap().0, soft);
    }
}
