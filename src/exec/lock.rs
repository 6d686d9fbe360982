//! One run of a job at a time, across processes: an exclusive `flock` on
//! `state_dir/locks/JOB.lock`, held until the job's report is out. The kernel releases it
//! when the process dies, so a crash never leaves a stale lock.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// A held job lock; dropping it releases the lock.
#[derive(Debug)]
pub struct JobLock {
    _lock: Flock<File>,
}

pub fn path(state_dir: &Path, job: &str) -> PathBuf {
    state_dir.join("locks").join(format!("{job}.lock"))
}

/// Takes the lock of `job`, or `Ok(None)` when another process holds it.
pub fn try_lock(state_dir: &Path, job: &str) -> io::Result<Option<JobLock>> {
    let path = path(state_dir, job);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            // The holder's pid, for people looking at the file.
            lock.set_len(0)?;
            lock.rewind()?;
            writeln!(lock, "{}", std::process::id())?;
            Ok(Some(JobLock { _lock: lock }))
        }
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(io::Error::from(errno)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_release() {
        let dir = tempfile::tempdir().unwrap();
        let first = try_lock(dir.path(), "disk").unwrap().expect("free");
        assert!(try_lock(dir.path(), "disk").unwrap().is_none());
        assert!(try_lock(dir.path(), "other").unwrap().is_some());
        drop(first);
        assert!(try_lock(dir.path(), "disk").unwrap().is_some());
    }
}
