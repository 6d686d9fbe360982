//! One run of a job at a time, across processes: an exclusive `flock` on
//! `state_dir/locks/JOB.lock`, held until every report of the run that took it is out.
//! The kernel releases it when the process dies, so a crash never leaves a stale lock.
//!
//! The lock is taken on the file opened read-only (created, 0600, when missing): `flock`
//! needs no more, so the lock holds on a read-only or full state folder too; and a symbolic
//! link planted in its place is refused rather than followed (docs/jobs.md, docs/security.md). The holder's
//! pid is written into it only where that is possible.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::state::private::{self, Access};

/// Why a job's lock could not be taken (the job runs anyway, unlocked).
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "`{}` is a symbolic link; reporter does not follow links in its state folder (fix: rm {})",
        path.display(), path.display()
    )]
    Link { path: PathBuf },
    #[error("`{}` is not a regular file", path.display())]
    NotFile { path: PathBuf },
    #[error("cannot open `{}`: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot create `{}`: {source}", path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot lock `{}`: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
}

/// A held job lock; dropping it releases the lock.
#[derive(Debug)]
pub struct JobLock {
    _lock: Flock<File>,
}

pub fn path(state_dir: &Path, job: &str) -> PathBuf {
    state_dir.join("locks").join(format!("{job}.lock"))
}

/// Takes the lock of `job`, or `Ok(None)` when another process holds it.
pub fn try_lock(state_dir: &Path, job: &str) -> Result<Option<JobLock>, LockError> {
    let path = path(state_dir, job);
    let file = open(&path)?;
    let is_file = file.metadata().is_ok_and(|meta| meta.is_file());
    if !is_file {
        return Err(LockError::NotFile { path });
    }
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => {
            note_holder(&lock, &path);
            Ok(Some(JobLock { _lock: lock }))
        }
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(LockError::Lock {
            path,
            source: io::Error::from(errno),
        }),
    }
}

/// Writes the holder's pid into the lock file, for people looking at it, where it can be
/// written: only the very file locked (not a link, not one with other names) is touched.
fn note_holder(lock: &File, path: &Path) {
    let Ok(mut file) = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    else {
        return;
    };
    let same = match (lock.metadata(), file.metadata()) {
        (Ok(locked), Ok(opened)) => {
            locked.ino() == opened.ino()
                && locked.dev() == opened.dev()
                && opened.is_file()
                && opened.nlink() == 1
        }
        _ => false,
    };
    if same && file.set_len(0).is_ok() {
        let _ = writeln!(file, "{}", std::process::id());
    }
}

/// The lock file, opened read-only; created first when it does not exist yet.
fn open(path: &Path) -> Result<File, LockError> {
    let opened = |result: io::Result<File>| {
        result.map_err(|source| {
            if private::is_link(&source) {
                LockError::Link {
                    path: path.to_owned(),
                }
            } else {
                LockError::Open {
                    path: path.to_owned(),
                    source,
                }
            }
        })
    };
    match private::open_read(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        other => return opened(other),
    }
    let created = path
        .parent()
        .map_or(Ok(()), |dir| private::create_dir(dir, Access::Private))
        .and_then(|()| private::create_new(path, Access::Private));
    match created {
        Ok(file) => Ok(file),
        // Another process created it meanwhile (or put a link there): open what is there.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => opened(private::open_read(path)),
        Err(source) => Err(LockError::Create {
            path: path.to_owned(),
            source,
        }),
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

    #[test]
    fn a_link_in_place_of_the_lock_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        std::fs::create_dir(dir.path().join("locks")).unwrap();
        std::os::unix::fs::symlink(&target, path(dir.path(), "disk")).unwrap();
        let e = try_lock(dir.path(), "disk").unwrap_err();
        assert!(matches!(e, LockError::Link { .. }), "{e}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }
}
