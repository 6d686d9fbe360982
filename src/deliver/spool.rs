//! The spool: every message is written here (atomically) before it is sent and removed only
//! after the relay accepted it, so neither a relay outage nor a crash loses mail.
//!
//! Delivery is at-least-once: a crash after the relay accepted a message but before its
//! file was removed sends it again on the next flush (with the same Message-ID, so mail
//! clients can collapse the copy). Concurrent flushes never send one file twice: a sender
//! holds an exclusive lock on the file and checks it is still spooled before sending.
//!
//! Only what reporter wrote is sent: each file's head records its message's length and
//! SHA-256, and one that does not match (truncated, edited, empty) goes to `spool/dead`.
//! Files are opened without following symbolic links, and reporter running as root sends
//! none that root does not own (docs/failure-handling.md, docs/security.md).
//!
//! Webhooks (docs/monitoring.md) wait here too, as `NAME.hook` files of the same format whose head
//! says `kind: webhook` and names the URL (and the headers file, read when sending: the
//! secrets themselves are never spooled). A mail `.msg` and a webhook `.hook` are listed,
//! recovered, checked and buried alike; only their sending differs.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::Address;
use lettre::address::Envelope;
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::Uid;
use tracing::{debug, info, warn};

use crate::state::atomic::parse_temp_name;
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

/// What is wrong with the contents of a spool file.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("empty file")]
    Empty,
    #[error("the head has no end: truncated, or not a spool file")]
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
    #[error("no `length:` line")]
    NoLength,
    #[error("no `sha256:` line")]
    NoChecksum,
    #[error("the message is {found} bytes, its head says {head}: truncated or edited")]
    Length { head: usize, found: usize },
    #[error("the message does not match its checksum: edited or damaged")]
    Checksum,
}

/// What this release writes: the head records the message's length and SHA-256, so a
/// truncated or edited file is never sent (docs/failure-handling.md). `sha256sum` can check one by hand.
const MAGIC: &str = "reporter-spool 2";
/// What the first release wrote: no length, no checksum. Still sent, as it always was.
const MAGIC_V1: &str = "reporter-spool 1";
const SUFFIX: &str = ".msg";
/// What a spooled webhook's file name ends with.
pub const HOOK_SUFFIX: &str = ".hook";
const HOOK_KIND: &str = "webhook";
/// A temporary file older than this is a dead writer's whatever its process id says (the
/// id may have been reused): writing one takes milliseconds.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// Whether a decoded file's message was checked against its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Integrity {
    /// Its length and checksum match.
    Verified,
    /// A first-format file, which records neither.
    Unchecked,
}

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
        head.push_str(&format!(
            "length: {}\nsha256: {}\n",
            self.message.len(),
            sha256(&self.message)
        ));
        head.push('\n');
        head
    }

    #[cfg(test)]
    fn encode(&self) -> Vec<u8> {
        [self.head().as_bytes(), &self.message].concat()
    }

    #[cfg(test)]
    fn decode(bytes: &[u8]) -> Result<(Entry, Integrity), EntryError> {
        Entry::decode_owned(bytes.to_vec())
    }

    /// The entry a spool file's `bytes` hold; the message is the file's own bytes, moved
    /// rather than copied (a report may be megabytes).
    fn decode_owned(mut bytes: Vec<u8>) -> Result<(Entry, Integrity), EntryError> {
        if bytes.is_empty() {
            return Err(EntryError::Empty);
        }
        let split = bytes
            .windows(2)
            .position(|w| w == b"\n\n")
            .ok_or(EntryError::NoHeaderEnd)?;
        let head = std::str::from_utf8(&bytes[..split]).map_err(|_| EntryError::NotUtf8)?;
        let mut lines = head.lines();
        let integrity = match lines.next() {
            Some(MAGIC) => Integrity::Verified,
            Some(MAGIC_V1) => Integrity::Unchecked,
            _ => return Err(EntryError::NotSpool),
        };
        let (mut job, mut created, mut from, mut to) = (String::new(), None, None, Vec::new());
        let (mut length, mut checksum) = (None, None);
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
                "length" if integrity == Integrity::Verified => {
                    length = Some(
                        value
                            .parse::<usize>()
                            .map_err(|_| EntryError::Line(line.to_owned()))?,
                    )
                }
                "sha256" if integrity == Integrity::Verified => checksum = Some(value),
                _ => return Err(EntryError::Header(key.to_owned())),
            }
        }
        let message = &bytes[split + 2..];
        if integrity == Integrity::Verified {
            let head = length.ok_or(EntryError::NoLength)?;
            let checksum = checksum.ok_or(EntryError::NoChecksum)?;
            if message.len() != head {
                return Err(EntryError::Length {
                    head,
                    found: message.len(),
                });
            }
            if sha256(message) != checksum {
                return Err(EntryError::Checksum);
            }
        }
        let envelope = Envelope::new(from, to).map_err(EntryError::Envelope)?;
        let created = created.ok_or(EntryError::NoCreated)?;
        bytes.drain(..split + 2);
        let entry = Entry {
            job,
            envelope,
            created,
            message: bytes,
        };
        Ok((entry, integrity))
    }
}

/// One spooled webhook: where it goes, with which headers file, and its JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub job: String,
    pub url: String,
    pub headers_file: Option<PathBuf>,
    pub timeout: Duration,
    pub created: SystemTime,
    pub body: Vec<u8>,
}

impl Hook {
    fn head(&self) -> String {
        let mut head = format!(
            "{MAGIC}\nkind: {HOOK_KIND}\njob: {}\ncreated: {}\nurl: {}\ntimeout_ms: {}\n",
            self.job,
            unix(self.created),
            self.url,
            self.timeout.as_millis()
        );
        if let Some(path) = &self.headers_file {
            head.push_str(&format!("headers_file: {}\n", path.display()));
        }
        head.push_str(&format!(
            "length: {}\nsha256: {}\n\n",
            self.body.len(),
            sha256(&self.body)
        ));
        head
    }

    fn decode(bytes: &[u8]) -> Result<(Hook, Integrity), EntryError> {
        let (head, body) = split_verified(bytes)?;
        let mut lines = head.lines();
        if lines.next() != Some(MAGIC) {
            return Err(EntryError::NotSpool);
        }
        let (mut kind, mut job, mut created, mut url) = (None, String::new(), None, None);
        let (mut timeout, mut headers_file, mut length, mut checksum) = (None, None, None, None);
        for line in lines {
            let (key, value) = line
                .split_once(": ")
                .ok_or_else(|| EntryError::Line(line.to_owned()))?;
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|_| EntryError::Line(line.to_owned()))
            };
            match key {
                "kind" => kind = Some(value),
                "job" => job = value.to_owned(),
                "created" => created = Some(UNIX_EPOCH + Duration::from_secs(number()?)),
                "url" => url = Some(value.to_owned()),
                "timeout_ms" => timeout = Some(Duration::from_millis(number()?)),
                "headers_file" => headers_file = Some(PathBuf::from(value)),
                "length" => length = Some(number()?),
                "sha256" => checksum = Some(value),
                _ => return Err(EntryError::Header(key.to_owned())),
            }
        }
        if kind != Some(HOOK_KIND) {
            return Err(EntryError::NotSpool);
        }
        verify(body, length, checksum)?;
        let hook = Hook {
            job,
            url: url.ok_or(EntryError::Line("no `url:` line".to_owned()))?,
            headers_file,
            timeout: timeout.unwrap_or(Duration::from_secs(10)),
            created: created.ok_or(EntryError::NoCreated)?,
            body: body.to_vec(),
        };
        Ok((hook, Integrity::Verified))
    }
}

/// The head (as text) and the rest of a spool file.
fn split_verified(bytes: &[u8]) -> Result<(&str, &[u8]), EntryError> {
    if bytes.is_empty() {
        return Err(EntryError::Empty);
    }
    let split = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or(EntryError::NoHeaderEnd)?;
    let head = std::str::from_utf8(&bytes[..split]).map_err(|_| EntryError::NotUtf8)?;
    Ok((head, &bytes[split + 2..]))
}

/// Checks `body` against the length and checksum its head recorded.
fn verify(body: &[u8], length: Option<u64>, checksum: Option<&str>) -> Result<(), EntryError> {
    let head = usize::try_from(length.ok_or(EntryError::NoLength)?).unwrap_or(usize::MAX);
    let checksum = checksum.ok_or(EntryError::NoChecksum)?;
    if body.len() != head {
        return Err(EntryError::Length {
            head,
            found: body.len(),
        });
    }
    if sha256(body) != checksum {
        return Err(EntryError::Checksum);
    }
    Ok(())
}

/// What the spool holds: mail and webhooks, each with its file suffix and head.
pub trait Spooled: Sized {
    const SUFFIX: &'static str;
    fn head(&self) -> String;
    fn body(&self) -> &[u8];
    #[doc(hidden)]
    fn decode_file(bytes: Vec<u8>) -> Result<(Self, bool), EntryError>;
}

impl Spooled for Entry {
    const SUFFIX: &'static str = SUFFIX;
    fn head(&self) -> String {
        Entry::head(self)
    }
    fn body(&self) -> &[u8] {
        &self.message
    }
    fn decode_file(bytes: Vec<u8>) -> Result<(Self, bool), EntryError> {
        Entry::decode_owned(bytes).map(|(e, i)| (e, i == Integrity::Verified))
    }
}

impl Spooled for Hook {
    const SUFFIX: &'static str = HOOK_SUFFIX;
    fn head(&self) -> String {
        Hook::head(self)
    }
    fn body(&self) -> &[u8] {
        &self.body
    }
    fn decode_file(bytes: Vec<u8>) -> Result<(Self, bool), EntryError> {
        Hook::decode(&bytes).map(|(h, i)| (h, i == Integrity::Verified))
    }
}

fn sha256(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
            Ok((_, true)) => match std::fs::rename(temp, target) {
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
            Ok((_, false)) => {
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

/// Reads and decodes a spool file; `true`: its length and checksum were verified.
fn read<T: Spooled>(file: &mut File, path: &Path) -> Result<(T, bool), SpoolError> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|source| SpoolError::Read {
            path: path.to_owned(),
            source,
        })?;
    T::decode_file(bytes).map_err(|reason| SpoolError::Corrupt {
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
        let (decoded, integrity) = Entry::decode(&entry().encode()).unwrap();
        assert_eq!(integrity, Integrity::Verified);
        assert_eq!(decoded.job, "disk");
        assert_eq!(decoded.envelope, entry().envelope);
        assert_eq!(decoded.created, entry().created);
        assert_eq!(decoded.message, entry().message);
        assert!(Entry::decode(b"garbage\n\nx").is_err());
    }

    fn hook() -> Hook {
        Hook {
            job: "disk".into(),
            url: "http://127.0.0.1:9/hook?a=1".into(),
            headers_file: Some("/etc/reporter/hook.headers".into()),
            timeout: Duration::from_millis(2500),
            created: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            body: b"{\"job\": \"disk\"}\n\n{}".to_vec(),
        }
    }

    #[test]
    fn webhooks_round_trip_and_are_checked_like_mail() {
        let bytes = [hook().head().as_bytes(), &hook().body].concat();
        let (decoded, integrity) = Hook::decode(&bytes).unwrap();
        assert_eq!(integrity, Integrity::Verified);
        assert_eq!(decoded, hook());
        let mut edited = bytes.clone();
        *edited.last_mut().unwrap() = b']';
        assert!(matches!(Hook::decode(&edited), Err(EntryError::Checksum)));
        assert!(matches!(
            Hook::decode(&bytes[..bytes.len() - 1]),
            Err(EntryError::Length { .. })
        ));
        // Neither kind is read as the other.
        assert!(Entry::decode(&bytes).is_err());
        assert!(matches!(
            Hook::decode(&entry().encode()),
            Err(EntryError::Header(_) | EntryError::NotSpool)
        ));
    }

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
    fn heads_are_written_as_they_always_were() {
        assert_eq!(
            entry().head(),
            "reporter-spool 2\njob: disk\ncreated: 1800000000\nfrom: r@example.com\n\
             to: a@example.com\nto: b@example.com\nlength: 38\n\
             sha256: 2d7015fa0e91f1cf147a2aad79012b180bd458bb2beca103b802b4034471a3ce\n\n"
        );
        assert_eq!(
            hook().head(),
            "reporter-spool 2\nkind: webhook\njob: disk\ncreated: 1700000000\n\
             url: http://127.0.0.1:9/hook?a=1\ntimeout_ms: 2500\n\
             headers_file: /etc/reporter/hook.headers\nlength: 19\n\
             sha256: 357ae6707681f173d8c3fe08ce68637da9a0aefe4b028fcfb86de9428708a69c\n\n"
        );
    }

    /// `head`, then a body of `x`, sealed with the body's length and checksum when `seal`.
    fn damaged(head: &str, seal: bool) -> Vec<u8> {
        let seal = if seal {
            format!("length: 1\nsha256: {}\n", sha256(b"x"))
        } else {
            String::new()
        };
        format!("{head}{seal}\nx").into_bytes()
    }

    #[test]
    fn damaged_files_are_refused_for_the_reason_they_always_were() {
        let mail = |bytes: &[u8]| Entry::decode(bytes).unwrap_err().to_string();
        let hook = |bytes: &[u8]| Hook::decode(bytes).unwrap_err().to_string();
        let v2 = "reporter-spool 2\n";
        let cases = [
            (mail(b""), "empty file"),
            (
                mail(b"reporter-spool 2\njob: x"),
                "the head has no end: truncated, or not a spool file",
            ),
            (mail(b"reporter-spool 2\n\xff\n\nx"), "header is not UTF-8"),
            (mail(b"other\n\nx"), "not a reporter spool file"),
            (
                mail(&damaged(&format!("{v2}job disk\n"), true)),
                "bad header line \"job disk\"",
            ),
            (
                mail(&damaged(&format!("{v2}kind: webhook\n"), true)),
                "unknown header \"kind\"",
            ),
            (
                mail(&damaged(&format!("{v2}to: nobody\njob disk\n"), false)),
                "bad recipient: ",
            ),
            (
                mail(&damaged(&format!("{v2}job: d\n"), false)),
                "no `length:` line",
            ),
            (
                mail(&damaged(
                    &format!("{v2}created: soon\nto: a@example.com\n"),
                    true,
                )),
                "no creation time",
            ),
            (
                mail(&damaged("reporter-spool 1\njob: d\ncreated: 1\n", false)),
                "bad envelope: ",
            ),
            (
                hook(&damaged("reporter-spool 1\nkind: webhook\n", false)),
                "not a reporter spool file",
            ),
            (
                hook(&damaged(&format!("{v2}job: d\n"), false)),
                "not a reporter spool file",
            ),
            (
                hook(&damaged(
                    &format!("{v2}kind: mail\nurl: u\ncreated: 1\n"),
                    true,
                )),
                "not a reporter spool file",
            ),
            (
                hook(&damaged(
                    &format!("{v2}kind: webhook\ncreated: soon\n"),
                    true,
                )),
                "bad header line \"created: soon\"",
            ),
            (
                hook(&damaged(
                    &format!("{v2}kind: webhook\nfrom: a@example.com\n"),
                    true,
                )),
                "unknown header \"from\"",
            ),
            (
                hook(&damaged(&format!("{v2}kind: webhook\njob: d\n"), false)),
                "no `length:` line",
            ),
            (
                hook(&damaged(&format!("{v2}kind: webhook\ncreated: 1\n"), true)),
                "bad header line \"no `url:` line\"",
            ),
            (
                hook(&damaged(&format!("{v2}kind: webhook\nurl: u\n"), true)),
                "no creation time",
            ),
        ];
        for (found, expected) in cases {
            assert!(found.starts_with(expected), "{found:?} is not {expected:?}");
        }
    }

    #[test]
    fn a_cut_or_edited_message_does_not_decode() {
        let bytes = entry().encode();
        let cut = Entry::decode(&bytes[..bytes.len() - 5]).unwrap_err();
        assert!(
            matches!(cut, EntryError::Length { head, found } if found + 5 == head),
            "{cut}"
        );
        let mut edited = bytes.clone();
        *edited.last_mut().unwrap() = b'!';
        let edited = Entry::decode(&edited).unwrap_err();
        assert!(matches!(edited, EntryError::Checksum), "{edited}");
        assert!(matches!(Entry::decode(b""), Err(EntryError::Empty)));
        let text = String::from_utf8(bytes).unwrap();
        let start = text.find("length: ").unwrap();
        let end = start + text[start..].find('\n').unwrap() + 1;
        let unmeasured = format!("{}{}", &text[..start], &text[end..]);
        assert!(matches!(
            Entry::decode(unmeasured.as_bytes()),
            Err(EntryError::NoLength)
        ));
    }

    #[test]
    fn first_format_entries_are_read_unchecked() {
        let v1 = b"reporter-spool 1\njob: disk\ncreated: 1800000000\nto: a@example.com\n\nSubject: x\r\n\r\nbody\r\n";
        let (decoded, integrity) = Entry::decode(v1).unwrap();
        assert_eq!(integrity, Integrity::Unchecked);
        assert_eq!(decoded.message, b"Subject: x\r\n\r\nbody\r\n");
        let with_length = b"reporter-spool 1\njob: disk\ncreated: 1800000000\nlength: 3\n\nabc";
        assert!(matches!(
            Entry::decode(with_length),
            Err(EntryError::Header(_))
        ));
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
        let bytes = entry().encode();
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
