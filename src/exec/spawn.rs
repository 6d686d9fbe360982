//! Starting a command with posix_spawn(3) instead of forking reporter: glibc starts the
//! child with `clone(CLONE_VM | CLONE_VFORK)`, which copies none of reporter's page tables,
//! where a fork of the whole process costs about as much as a short command itself
//! (docs/performance.md).
//!
//! The child starts as [`super::command`] promises (docs/security.md): in a session of its
//! own (`POSIX_SPAWN_SETSID`), with an empty signal mask and every standard signal back
//! to its default, in the job's directory, stdin from `/dev/null`, stdout and stderr to
//! pipes, and no other descriptor (`posix_spawn_file_actions_addclosefrom_np`, on top of reporter's own
//! descriptors all being close-on-exec). What posix_spawn cannot do — change the account,
//! give back a descriptor limit reporter raised — takes the forking path instead.
//!
//! A child started here is not one Tokio knows: its exit is waited for through a pidfd
//! (readable once it has exited) and it is reaped by its own pid, never `waitpid(-1)`.
//! Every `unsafe` block of the path is in this module.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::OnceLock;

use nix::fcntl::OFlag;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;

/// What a command is started from: argv[0] is `program`, the environment is `env` as is.
pub struct Request<'a> {
    pub program: &'a Path,
    pub args: &'a [OsString],
    pub env: Vec<(OsString, OsString)>,
    pub cwd: &'a Path,
}

/// A child started by [`spawn`], with the read ends of its output pipes.
pub struct Started {
    pub child: Child,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
}

/// Whether this kernel offers pidfd_open(2) (Linux 5.3 and later), which waiting for a
/// spawned child needs; asked once.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| pidfd_open(std::process::id() as libc::pid_t).is_ok())
}

/// Starts `request`; an error is what starting it failed with, including the errno of a
/// failed `chdir` or `execve` in the child, which glibc hands back. Must be called inside
/// a Tokio runtime.
pub fn spawn(request: &Request) -> io::Result<Started> {
    let program = c_string(request.program.as_os_str())?;
    let argv = std::iter::once(Ok(program.clone()))
        .chain(request.args.iter().map(|arg| c_string(arg)))
        .collect::<io::Result<Vec<CString>>>()?;
    let envp = request
        .env
        .iter()
        .map(|(name, value)| {
            let mut pair = name.clone();
            pair.push("=");
            pair.push(value);
            c_string(&pair)
        })
        .collect::<io::Result<Vec<CString>>>()?;
    // Rust's runtime opens `/dev/null` on whichever of 0, 1 and 2 reporter was started
    // without, so these are all above 2 and cannot be clobbered by the dup2s below.
    let (out_read, out_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let (err_read, err_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let mut actions = Actions::new()?;
    actions.chdir(&c_string(request.cwd.as_os_str())?)?;
    actions.open_null_stdin()?;
    actions.dup2(&out_write, 1)?;
    actions.dup2(&err_write, 2)?;
    actions.close_from(3)?;
    let attributes = Attributes::new()?;
    let pid = start(&program, &argv, &envp, &actions, &attributes)?;
    drop((out_write, err_write));
    let child = Child::watch(pid)?;
    Ok(Started {
        child,
        stdout: receiver(out_read)?,
        stderr: receiver(err_read)?,
    })
}

fn c_string(text: &OsStr) -> io::Result<CString> {
    CString::new(text.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a NUL byte in `{}`", text.to_string_lossy()),
        )
    })
}

/// The read end of an output pipe, non-blocking, registered with the runtime.
fn receiver(fd: OwnedFd) -> io::Result<pipe::Receiver> {
    nix::fcntl::fcntl(
        fd.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK),
    )?;
    pipe::Receiver::from_owned_fd_unchecked(fd)
}

/// A posix_spawn(3) return value: 0, or the error number itself.
fn check(returned: libc::c_int) -> io::Result<()> {
    match returned {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// Pointers to `strings`, ended by a null pointer, as execve(2) takes them; valid while
/// `strings` lives.
fn pointers(strings: &[CString]) -> Vec<*mut libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr().cast_mut())
        .chain(std::iter::once(std::ptr::null_mut()))
        .collect()
}

fn start(
    program: &CString,
    argv: &[CString],
    envp: &[CString],
    actions: &Actions,
    attributes: &Attributes,
) -> io::Result<libc::pid_t> {
    let (argv, envp) = (pointers(argv), pointers(envp));
    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer is to a NUL-terminated string or a null-terminated array of
    // them that outlives the call; `actions` and `attributes` were initialised by their
    // constructors. glibc only reads them.
    check(unsafe {
        libc::posix_spawn(
            &mut pid,
            program.as_ptr(),
            &actions.0,
            &attributes.0,
            argv.as_ptr(),
            envp.as_ptr(),
        )
    })?;
    Ok(pid)
}

/// What the child does before it executes, in order.
struct Actions(libc::posix_spawn_file_actions_t);

impl Actions {
    fn new() -> io::Result<Actions> {
        let mut raw = MaybeUninit::uninit();
        // SAFETY: init fills in the whole structure, which holds no pointer to itself and
        // so may be moved afterwards.
        check(unsafe { libc::posix_spawn_file_actions_init(raw.as_mut_ptr()) })?;
        // SAFETY: initialised just above.
        Ok(Actions(unsafe { raw.assume_init() }))
    }

    fn chdir(&mut self, dir: &CString) -> io::Result<()> {
        // SAFETY: glibc copies the string.
        check(unsafe { libc::posix_spawn_file_actions_addchdir_np(&mut self.0, dir.as_ptr()) })
    }

    fn open_null_stdin(&mut self) -> io::Result<()> {
        // SAFETY: a static NUL-terminated string, which glibc copies.
        check(unsafe {
            libc::posix_spawn_file_actions_addopen(
                &mut self.0,
                0,
                c"/dev/null".as_ptr(),
                libc::O_RDONLY,
                0,
            )
        })
    }

    /// `fd` becomes `target` in the child, without close-on-exec.
    fn dup2(&mut self, fd: &OwnedFd, target: libc::c_int) -> io::Result<()> {
        // SAFETY: plain integers; `fd` stays open until the child has started.
        check(unsafe {
            libc::posix_spawn_file_actions_adddup2(&mut self.0, fd.as_raw_fd(), target)
        })
    }

    /// Every descriptor from `first` up closed in the child (glibc 2.34 and later, which
    /// reporter's binary needs anyway).
    fn close_from(&mut self, first: libc::c_int) -> io::Result<()> {
        // SAFETY: a plain integer.
        check(unsafe { libc::posix_spawn_file_actions_addclosefrom_np(&mut self.0, first) })
    }
}

impl Drop for Actions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

/// The standard signals, 1 to 31: a command starts with each at its default action
/// (SIGKILL's and SIGSTOP's cannot change, and setting them is refused harmlessly).
pub const STANDARD_SIGNALS: std::ops::RangeInclusive<libc::c_int> = 1..=31;

/// The child's session, signal mask and signal dispositions.
struct Attributes(libc::posix_spawnattr_t);

impl Attributes {
    /// A session of its own, no signal blocked and every standard signal back to its
    /// default action: SIGPIPE, which Rust's runtime ignores, and whatever reporter was
    /// started ignoring (SIGHUP under `nohup`, SIGINT and SIGQUIT in a background job of a
    /// shell); handled signals are reset by execve(2) itself.
    fn new() -> io::Result<Attributes> {
        let mut raw = MaybeUninit::uninit();
        // SAFETY: init fills in the whole structure, plain data that may be moved.
        check(unsafe { libc::posix_spawnattr_init(raw.as_mut_ptr()) })?;
        // SAFETY: initialised just above.
        let mut attributes = Attributes(unsafe { raw.assume_init() });
        let flags = libc::POSIX_SPAWN_SETSID
            | libc::POSIX_SPAWN_SETSIGMASK as libc::c_short
            | libc::POSIX_SPAWN_SETSIGDEF as libc::c_short;
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises the set; the others read and write initialised
        // structures only.
        unsafe {
            check(libc::posix_spawnattr_setflags(&mut attributes.0, flags))?;
            libc::sigemptyset(set.as_mut_ptr());
            let mut set = set.assume_init();
            check(libc::posix_spawnattr_setsigmask(&mut attributes.0, &set))?;
            for signal in STANDARD_SIGNALS {
                libc::sigaddset(&mut set, signal);
            }
            check(libc::posix_spawnattr_setsigdefault(&mut attributes.0, &set))?;
        }
        Ok(attributes)
    }
}

impl Drop for Attributes {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: a plain system call on integers; the descriptor it returns (close-on-exec)
    // is owned by nothing else.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor, see above.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// A started child, until it has been reaped.
pub struct Child {
    pid: libc::pid_t,
    /// Readable once the child has exited.
    exited: AsyncFd<OwnedFd>,
    status: Option<ExitStatus>,
}

impl Child {
    /// Watches `pid`, which has not been reaped (a pidfd can still be opened on a zombie);
    /// where that fails, the child is killed and reaped rather than left unwatched.
    fn watch(pid: libc::pid_t) -> io::Result<Child> {
        let exited = pidfd_open(pid).and_then(|fd| {
            // SAFETY: the pidfd is owned by the `AsyncFd` from here on, which neither
            // closes nor replaces it while registered.
            unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
                .map_err(|e| e.into_parts().1)
        });
        match exited {
            Ok(exited) => Ok(Child {
                pid,
                exited,
                status: None,
            }),
            Err(e) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
                Err(e)
            }
        }
    }

    pub fn id(&self) -> u32 {
        self.pid.unsigned_abs()
    }

    /// Waits for the child to exit and reaps it; cancel-safe.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        loop {
            let mut ready = self.exited.readable().await?;
            if let Some(status) = self.try_reap()? {
                self.status = Some(status);
                return Ok(status);
            }
            ready.clear_ready();
        }
    }

    /// The child's exit status if it has exited, reaping it.
    fn try_reap(&self) -> io::Result<Option<ExitStatus>> {
        let mut raw: libc::c_int = 0;
        loop {
            // SAFETY: a system call writing into a local integer; `pid` is this child's.
            let reaped = unsafe { libc::waitpid(self.pid, &mut raw, libc::WNOHANG) };
            match reaped {
                0 => return Ok(None),
                -1 => {
                    let error = io::Error::last_os_error();
                    if error.kind() != io::ErrorKind::Interrupted {
                        return Err(error);
                    }
                }
                _ => return Ok(Some(ExitStatus::from_raw(raw))),
            }
        }
    }
}

impl Drop for Child {
    /// A child given up on before it was reaped is reaped now if it has exited; one still
    /// running is left to the sweep ([`super::tree`]), which reaps orphaned zombies.
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.try_reap();
        }
    }
}
