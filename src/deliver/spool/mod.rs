//! The spool folder: every message and webhook is written here (atomically) before it is
//! sent and removed only after it was delivered, so neither a relay outage nor a crash
//! loses it. This module owns the folder's protocol: the files' names, claiming one for
//! sending, listing what waits, and the `dead/` folder; [`record`] owns what a file holds.
//!
//! Delivery is at-least-once: a crash after the relay accepted a message but before its
//! file was removed sends it again on the next flush (with the same Message-ID, so mail
//! clients can collapse the copy). Concurrent flushes never send one file twice: a sender
//! holds an exclusive lock on the file and checks it is still spooled before sending.
//!
//! Only what reporter wrote is sent: a file whose head and body do not match (truncated,
//! edited, empty) goes to `spool/dead`. Files are opened without following symbolic links,
//! and reporter running as root sends none that root does not own
//! (docs/failure-handling.md, docs/security.md).
//!
//! Mail waits as `NAME.msg`, webhooks (docs/monitoring.md) as `NAME.hook`: both are
//! listed, recovered, checked and buried alike; only their sending differs.

pub mod record;

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use nix::unistd::Uid;
use tracing::{debug, info, warn};

use crate::state::atomic::parse_temp_name;
use crate::state::private::{self, Access};
use crate::state::write_atomic;

pub use record::{Entry, Hook};
use record::{Integrity, Record, RecordError};

/// A spool file that cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("cannot open `{}`: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("`{}`: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: RecordError },
    #[error(
        "`{}` is a symbolic link; reporter does not follow links in its state folder",
        path.display()
    )]
    Link { path: PathBuf },
    #[error("`{}` is not a regular file", path.display())]
    NotFile { path: PathBuf },
    #[error(
        "`{}` is owned by uid {uid}, not root: reporter running as root never sends it",
        path.display()
    )]
    Foreign { path: PathBuf, uid: u32 },
}

/// What a spooled mail's file name ends with.
const SUFFIX: &str = ".msg";
/// What a spooled webhook's file name ends with.
pub const HOOK_SUFFIX: &str = ".hook";
/// A temporary file older than this is a dead writer's whatever its process id says (the
/// id may have been reused): writing one takes milliseconds.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// A record the spool holds, and what its files' names end with.
pub trait Spooled: Record {
    const SUFFIX: &'static str;
}

impl Spooled for Entry {
    const SUFFIX: &'static str = SUFFIX;
}

impl Spooled for Hook {
    const SUFFIX: &'static str = HOOK_SUFFIX;
}

/// `state_dir/spool`, with undeliverable messages in `spool/dead`.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

/// A spooled file locked for sending; dropping it releases the lock.
pub struct Claim<T = Entry> {
    pub path: PathBuf,
    pub entry: T,
    _lock: Flock<File>,
}

impl Spool {
    pub fn new(state_dir: &Path) -> Spool {
        Spool {
            dir: state_dir.join("spool"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn dead_dir(&self) -> PathBuf {
        self.dir.join("dead")
    }

    /// Writes a message or webhook durably; `name` must be unique (run id and job).
    pub fn put<T: Spooled>(&self, name: &str, entry: &T) -> io::Result<PathBuf> {
        let path = self.dir.join(format!("{name}{}", T::SUFFIX));
        write_atomic(
            &path,
            &[entry.head().as_bytes(), entry.body()],
            Access::Private,
        )?;
        Ok(path)
    }

    /// Everything waiting: the messages, then the webhooks, each oldest name first (see
    /// [`Spool::list_of`]).
    pub fn list(&self) -> Vec<PathBuf> {
        let mut paths = self.list_of::<Entry>();
        paths.extend(self.list_of::<Hook>());
        paths
    }

    /// The spooled files of one kind, oldest name first. A temporary file whose writer
    /// died before renaming it is taken into the spool first when it is complete, and
    /// removed when not.
    pub fn list_of<T: Spooled>(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut paths = Vec::new();
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            match parse_temp_name(&name) {
                Some((target, pid)) if target.ends_with(T::SUFFIX) => {
                    paths.extend(self.recover::<T>(&path, &self.dir.join(target), pid));
                }
                _ if !name.starts_with('.') && name.ends_with(T::SUFFIX) => paths.push(path),
                _ => {}
            }
        }
        paths.sort();
        paths.dedup();
        paths
    }

    /// Locks a spooled file for sending. `Ok(None)` when another process is sending it or
    /// already has: the caller skips it.
    pub fn claim<T: Spooled>(&self, path: &Path) -> Result<Option<Claim<T>>, SpoolError> {
        let file = match open(path) {
            Ok(file) => file,
            Err(SpoolError::Open { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let Ok(mut lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
            return Ok(None);
        };
        // Whoever held the lock before may have sent and removed it meanwhile.
        let still_spooled = match (std::fs::symlink_metadata(path), lock.metadata()) {
            (Ok(now), Ok(ours)) => now.ino() == ours.ino() && now.dev() == ours.dev(),
            _ => false,
        };
        if !still_spooled {
            return Ok(None);
        }
        let (entry, _) = read::<T>(&mut lock, path)?;
        Ok(Some(Claim {
            path: path.to_owned(),
            entry,
            _lock: lock,
        }))
    }

    /// Removes a sent message.
    pub fn remove<T>(&self, claim: Claim<T>) -> io::Result<()> {
        // Not synced one by one: a removal lost to a crash only means the message is sent
        // again (delivery is at-least-once), and one fsync per message was most of the
        // cost of a flush. [`Spool::sync`] makes a batch of them durable.
        std::fs::remove_file(&claim.path)
    }

    /// Makes the removals so far durable: once per flush or run.
    pub fn sync(&self) -> io::Result<()> {
        match sync_dir(&self.dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// Moves a message that will never be delivered to `spool/dead`.
    pub fn bury(&self, path: &Path) -> io::Result<PathBuf> {
        let dead = self.dead_dir();
        private::create_dir(&dead, Access::Private)?;
        let target = dead.join(path.file_name().unwrap_or_default());
        std::fs::rename(path, &target)?;
        sync_dir(&self.dir)?;
        Ok(target)
    }

    /// A temporary file `temp` that `pid` was writing to become `target`: once its writer
    /// is gone, taken in when complete (`Some(target)`), removed when not. A first-format
    /// one cannot show it is complete: it goes to `spool/dead`.
    fn recover<T: Spooled>(&self, temp: &Path, target: &Path, pid: u32) -> Option<PathBuf> {
        let stale = std::fs::symlink_metadata(temp)
            .and_then(|meta| meta.modified())
            .is_ok_and(|time| time.elapsed().unwrap_or_default() > STALE_TEMP);
        if alive(pid) && !stale {
            return None;
        }
        let decoded = open(temp).and_then(|mut file| read::<T>(&mut file, temp));
        match decoded {
            Ok((_, Integrity::Verified)) => match std::fs::rename(temp, target) {
                Ok(()) => {
                    info!(
                        "took `{}` into the spool: a complete message left by process {pid}, which died before it was renamed",
                        temp.display()
                    );
                    Some(target.to_owned())
                }
                // Another process took it in meanwhile.
                Err(e) => {
                    debug!("`{}`: {e}", temp.display());
                    None
                }
            },
            Ok((_, Integrity::Unchecked)) => {
                if let Ok(dead) = self.bury(temp) {
                    warn!(
                        "`{}`: a message left by process {pid} of an older release, which cannot be checked for completeness; moved to `{}`",
                        temp.display(),
                        dead.display()
                    );
                }
                None
            }
            Err(SpoolError::Corrupt { .. }) => {
                if std::fs::remove_file(temp).is_ok() {
                    warn!(
                        "removed `{}`: an incomplete message left by process {pid}, which died while writing it",
                        temp.display()
                    );
                }
                None
            }
            Err(SpoolError::Open { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                None
            }
            Err(e) => {
                if let Ok(dead) = self.bury(temp) {
                    warn!("{e}; moved it to `{}`", dead.display());
                }
                None
            }
        }
    }
}

/// Opens a spool file for reading: never through a symbolic link, only a regular file,
/// and, when reporter runs as root, only one of root's.
fn open(path: &Path) -> Result<File, SpoolError> {
    let file = private::open_read(path).map_err(|source| {
        if private::is_link(&source) {
            SpoolError::Link {
                path: path.to_owned(),
            }
        } else {
            SpoolError::Open {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    let meta = file.metadata().map_err(|source| SpoolError::Read {
        path: path.to_owned(),
        source,
    })?;
    if !meta.is_file() {
        return Err(SpoolError::NotFile {
            path: path.to_owned(),
        });
    }
    if Uid::effective().is_root() && meta.uid() != 0 {
        return Err(SpoolError::Foreign {
            path: path.to_owned(),
            uid: meta.uid(),
        });
    }
    Ok(file)
}

/// Reads and decodes a spool file.
fn read<T: Spooled>(file: &mut File, path: &Path) -> Result<(T, Integrity), SpoolError> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|source| SpoolError::Read {
            path: path.to_owned(),
            source,
        })?;
    T::decode(bytes).map_err(|reason| SpoolError::Corrupt {
        path: path.to_owned(),
        reason,
    })
}

/// Whether the process `pid` exists (it may be another user's: it exists all the same).
fn alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    raw > 0
        && !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None),
            Err(nix::errno::Errno::ESRCH)
        )
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::record::tests::{encode, entry, hook};
    use super::*;

    #[test]
    fn mail_and_webhooks_are_listed_by_their_suffix() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        spool.put("r.disk", &entry()).unwrap();
        spool.put("r.disk.hook0", &hook()).unwrap();
        let names = |paths: Vec<PathBuf>| -> Vec<String> {
            paths
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(spool.list_of::<Entry>()), ["r.disk.msg"]);
        assert_eq!(names(spool.list_of::<Hook>()), ["r.disk.hook0.hook"]);
        assert_eq!(names(spool.list()), ["r.disk.msg", "r.disk.hook0.hook"]);
        let path = dir.path().join("spool/r.disk.hook0.hook");
        let claim = spool.claim::<Hook>(&path).unwrap().expect("free");
        assert_eq!(claim.entry, hook());
    }

    #[test]
    fn a_claimed_file_cannot_be_claimed_twice() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        let path = spool.put("r1.disk", &entry()).unwrap();
        assert_eq!(spool.list(), std::slice::from_ref(&path));
        let claim = spool.claim::<Entry>(&path).unwrap().expect("free");
        assert!(
            spool.claim::<Entry>(&path).unwrap().is_none(),
            "locked by the first claim"
        );
        spool.remove(claim).unwrap();
        assert!(spool.claim::<Entry>(&path).unwrap().is_none(), "gone");
        assert!(spool.list().is_empty());
    }

    #[test]
    fn burying_moves_to_dead() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        let path = spool.put("r1.disk", &entry()).unwrap();
        let dead = spool.bury(&path).unwrap();
        assert!(dead.starts_with(spool.dead_dir()) && dead.is_file());
        assert!(spool.list().is_empty());
    }

    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn complete_temporaries_of_dead_writers_are_taken_in_incomplete_ones_removed() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        std::fs::create_dir_all(spool.dir()).unwrap();
        let bytes = encode(&entry());
        let pid = dead_pid();
        let whole = spool.dir().join(format!(".r1.disk.msg.{pid}.tmp"));
        std::fs::write(&whole, &bytes).unwrap();
        let half = spool.dir().join(format!(".r2.disk.msg.{pid}.tmp"));
        std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
        let busy = spool
            .dir()
            .join(format!(".r3.disk.msg.{}.tmp", std::process::id()));
        std::fs::write(&busy, &bytes[..10]).unwrap();
        let old = spool.dir().join(format!(".r4.disk.msg.{pid}.tmp"));
        let first_format = b"reporter-spool 1\njob: disk\ncreated: 1\nto: a@example.com\n\nx";
        std::fs::write(&old, first_format).unwrap();

        let taken = spool.dir().join("r1.disk.msg");
        assert_eq!(spool.list(), std::slice::from_ref(&taken));
        assert!(spool.claim::<Entry>(&taken).unwrap().is_some());
        assert!(!whole.exists() && !half.exists() && !old.exists());
        assert!(spool.dead_dir().join(old.file_name().unwrap()).is_file());
        assert!(busy.exists(), "a live writer's file is left alone");
    }
}
