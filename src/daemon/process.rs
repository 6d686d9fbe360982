//! The daemon as a Unix process: detaching from the terminal (double fork, setsid), the
//! pidfile, and the log file it appends to and reopens on SIGHUP.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::exit;
use crate::state::outside::{self, OutsideError};
use crate::state::{Access, private};

/// What can stop the daemon from starting.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{}: cannot open the log file: {source}", path.display())]
    Log { path: PathBuf, source: io::Error },
    #[error("cannot open the log file: {0}")]
    LogRefused(OutsideError),
    #[error("cannot detach: {0}")]
    Detach(io::Error),
    #[error("{}: {source}", path.display())]
    Pidfile { path: PathBuf, source: io::Error },
    #[error("cannot write the pidfile: {0}")]
    PidfileRefused(OutsideError),
}

/// Opens the log to append to, at start and on every SIGHUP (after a rotation): never
/// through a symbolic link, only a regular file, and only in a folder no one else can
/// swap it in (`state::outside`), since root appends to whatever it opens.
pub fn open_log(path: &Path) -> Result<File, ProcessError> {
    outside::open_append(path, 0o640).map_err(|e| match e {
        OutsideError::Io { source, .. } => ProcessError::Log {
            path: path.to_owned(),
            source,
        },
        refused => ProcessError::LogRefused(refused),
    })
}

/// Sends stderr (and, once detached, stdout) to `log`.
pub fn redirect_output(log: &File, stdout_too: bool) {
    let fd = log.as_raw_fd();
    // SAFETY: dup2 on descriptors this process owns; `log` stays open for the call.
    unsafe {
        libc::dup2(fd, libc::STDERR_FILENO);
        if stdout_too {
            libc::dup2(fd, libc::STDOUT_FILENO);
        }
    }
}

/// Double fork and setsid, so that the daemon is no process group leader, has no
/// controlling terminal and is adopted by init. Returns, in the daemon only, the pipe
/// on which it tells the waiting first process that start-up succeeded.
pub fn detach() -> Result<File, ProcessError> {
    use nix::unistd::{ForkResult, fork, setsid};
    let failed = |e: nix::Error| ProcessError::Detach(io::Error::from(e));
    let (reader, writer) = nix::unistd::pipe().map_err(failed)?;
    // SAFETY: no other thread exists yet (the runtime starts after this), so the child
    // may run arbitrary code.
    match unsafe { fork() }.map_err(failed)? {
        ForkResult::Parent { .. } => {
            drop(writer);
            let mut byte = [0u8; 1];
            let ok = File::from(reader).read_exact(&mut byte).is_ok() && byte == *b"1";
            std::process::exit(if ok { exit::OK } else { exit::USAGE });
        }
        ForkResult::Child => {}
    }
    drop(reader);
    setsid().map_err(failed)?;
    // SAFETY: as above, still single-threaded.
    match unsafe { fork() }.map_err(failed)? {
        ForkResult::Parent { .. } => std::process::exit(exit::OK),
        ForkResult::Child => {}
    }
    std::env::set_current_dir("/").map_err(ProcessError::Detach)?;
    let null = File::open("/dev/null").map_err(ProcessError::Detach)?;
    // SAFETY: dup2 on descriptors this process owns.
    unsafe {
        libc::dup2(null.as_raw_fd(), libc::STDIN_FILENO);
    }
    Ok(File::from(writer))
}

/// The process a pidfile names, if it is still alive.
pub fn running_pid(pidfile: &Path) -> Option<i32> {
    let pid: i32 = read_pidfile(pidfile)?.trim().parse().ok()?;
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    (alive && pid != std::process::id() as i32).then_some(pid)
}

/// Written 0644, as pidfiles conventionally are: anyone may see which process to signal.
/// It lies outside the state folder (`/run`), so it is written as such files are.
pub fn write_pidfile(pidfile: &Path) -> Result<(), ProcessError> {
    let pid = format!("{}\n", std::process::id());
    outside::write_file(pidfile, &[pid.as_bytes()], Access::WorldReadable).map_err(|e| match e {
        OutsideError::Io { source, .. } => ProcessError::Pidfile {
            path: pidfile.to_owned(),
            source,
        },
        refused => ProcessError::PidfileRefused(refused),
    })
}

/// What a pidfile holds, if it is a regular file: never through a link, never waiting on
/// a FIFO put in its place.
fn read_pidfile(pidfile: &Path) -> Option<String> {
    let mut file = private::open_read(pidfile).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    (&mut file).take(64).read_to_string(&mut text).ok()?;
    Some(text)
}

pub fn remove_pidfile(pidfile: &Path) {
    let ours =
        read_pidfile(pidfile).is_some_and(|text| text.trim() == std::process::id().to_string());
    if ours {
        let _ = std::fs::remove_file(pidfile);
    }
}
