//! The spool: every message is written here (atomically) before it is sent and removed only
//! after the relay accepted it, so neither a relay outage nor a crash loses mail.
//!
//! Delivery is at-least-once: a crash after the relay accepted a message but before its
//! file was removed sends it again on the next flush (with the same Message-ID, so mail
//! clients can collapse the copy). Concurrent flushes never send one file twice: a sender
//! holds an exclusive lock on the file and checks it is still spooled before sending.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::Address;
use lettre::address::Envelope;
use nix::fcntl::{Flock, FlockArg};

use crate::state::private::{self, Access};
use crate::state::write_atomic;

/// A spool file that cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("cannot open `{}`: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("`{}`: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: EntryError },
}

/// What is wrong with the contents of a spool file.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("no header end")]
    NoHeaderEnd,
    #[error("header is not UTF-8")]
    NotUtf8,
    #[error("not a reporter spool file")]
    NotSpool,
    #[error("bad header line {0:?}")]
    Line(String),
    #[error("bad sender: {0}")]
    Sender(lettre::address::AddressError),
    #[error("bad recipient: {0}")]
    Recipient(lettre::address::AddressError),
    #[error("unknown header {0:?}")]
    Header(String),
    #[error("bad envelope: {0}")]
    Envelope(lettre::error::Error),
    #[error("no creation time")]
    NoCreated,
}

const MAGIC: &str = "reporter-spool 1";
const SUFFIX: &str = ".msg";

/// One spooled message: who it goes to, when it was written, and the message itself.
#[derive(Debug, Clone)]
pub struct Entry {
    pub job: String,
    pub envelope: Envelope,
    pub created: SystemTime,
    pub message: Vec<u8>,
}

impl Entry {
    /// The header block; the message follows it in the file.
    fn head(&self) -> String {
        let mut head = format!(
            "{MAGIC}\njob: {}\ncreated: {}\n",
            self.job,
            unix(self.created)
        );
        if let Some(from) = self.envelope.from() {
            head.push_str(&format!("from: {from}\n"));
        }
        for to in self.envelope.to() {
            head.push_str(&format!("to: {to}\n"));
        }
        head.push('\n');
        head
    }

    #[cfg(test)]
    fn encode(&self) -> Vec<u8> {
        [self.head().as_bytes(), &self.message].concat()
    }

    fn decode(bytes: &[u8]) -> Result<Entry, EntryError> {
        let split = bytes
            .windows(2)
            .position(|w| w == b"\n\n")
            .ok_or(EntryError::NoHeaderEnd)?;
        let head = std::str::from_utf8(&bytes[..split]).map_err(|_| EntryError::NotUtf8)?;
        let mut lines = head.lines();
        if lines.next() != Some(MAGIC) {
            return Err(EntryError::NotSpool);
        }
        let (mut job, mut created, mut from, mut to) = (String::new(), None, None, Vec::new());
        for line in lines {
            let (key, value) = line
                .split_once(": ")
                .ok_or_else(|| EntryError::Line(line.to_owned()))?;
            match key {
                "job" => job = value.to_owned(),
                "created" => {
                    created = value
                        .parse::<u64>()
                        .ok()
                        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
                }
                "from" => from = Some(value.parse::<Address>().map_err(EntryError::Sender)?),
                "to" => to.push(value.parse::<Address>().map_err(EntryError::Recipient)?),
                _ => return Err(EntryError::Header(key.to_owned())),
            }
        }
        Ok(Entry {
            job,
            envelope: Envelope::new(from, to).map_err(EntryError::Envelope)?,
            created: created.ok_or(EntryError::NoCreated)?,
            message: bytes[split + 2..].to_vec(),
        })
    }
}

fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// `state_dir/spool`, with undeliverable messages in `spool/dead`.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

/// A spooled file locked for sending; dropping it releases the lock.
pub struct Claim {
    pub path: PathBuf,
    pub entry: Entry,
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

    /// Writes a message durably; `name` must be unique (run id and job).
    pub fn put(&self, name: &str, entry: &Entry) -> io::Result<PathBuf> {
        let path = self.dir.join(format!("{name}{SUFFIX}"));
        write_atomic(
            &path,
            &[entry.head().as_bytes(), &entry.message],
            Access::Private,
        )?;
        Ok(path)
    }

    /// The spooled messages, oldest name first.
    pub fn list(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.') && n.ends_with(SUFFIX))
            })
            .collect();
        paths.sort();
        paths
    }

    /// Locks a spooled file for sending. `Ok(None)` when another process is sending it or
    /// already has: the caller skips it.
    pub fn claim(&self, path: &Path) -> Result<Option<Claim>, SpoolError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SpoolError::Open {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let Ok(mut lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
            return Ok(None);
        };
        // Whoever held the lock before may have sent and removed it meanwhile.
        let still_spooled = match (std::fs::metadata(path), lock.metadata()) {
            (Ok(now), Ok(ours)) => now.ino() == ours.ino() && now.dev() == ours.dev(),
            _ => false,
        };
        if !still_spooled {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        lock.read_to_end(&mut bytes)
            .map_err(|source| SpoolError::Read {
                path: path.to_owned(),
                source,
            })?;
        let entry = Entry::decode(&bytes).map_err(|reason| SpoolError::Corrupt {
            path: path.to_owned(),
            reason,
        })?;
        Ok(Some(Claim {
            path: path.to_owned(),
            entry,
            _lock: lock,
        }))
    }

    /// Removes a sent message.
    pub fn remove(&self, claim: Claim) -> io::Result<()> {
        std::fs::remove_file(&claim.path)?;
        sync_dir(&self.dir)
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
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            job: "disk".into(),
            envelope: Envelope::new(
                Some("r@example.com".parse().unwrap()),
                vec![
                    "a@example.com".parse().unwrap(),
                    "b@example.com".parse().unwrap(),
                ],
            )
            .unwrap(),
            created: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            message: b"Subject: x\r\n\r\nbody\n\nwith blank lines\r\n".to_vec(),
        }
    }

    #[test]
    fn entries_round_trip() {
        let decoded = Entry::decode(&entry().encode()).unwrap();
        assert_eq!(decoded.job, "disk");
        assert_eq!(decoded.envelope, entry().envelope);
        assert_eq!(decoded.created, entry().created);
        assert_eq!(decoded.message, entry().message);
        assert!(Entry::decode(b"garbage\n\nx").is_err());
    }

    #[test]
    fn a_claimed_file_cannot_be_claimed_twice() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        let path = spool.put("r1.disk", &entry()).unwrap();
        assert_eq!(spool.list(), std::slice::from_ref(&path));
        let claim = spool.claim(&path).unwrap().expect("free");
        assert!(
            spool.claim(&path).unwrap().is_none(),
            "locked by the first claim"
        );
        spool.remove(claim).unwrap();
        assert!(spool.claim(&path).unwrap().is_none(), "gone");
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
}
