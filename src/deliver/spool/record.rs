//! The spool's record format: how a spooled mail ([`Entry`]) or webhook ([`Hook`]) is framed
//! in its file, and decoded from it.
//!
//! A file is a head of `key: value` lines, a blank line, then the body: the message as it
//! goes to the relay, or the webhook's JSON. The head opens with the format's magic line and
//! names its kind (`kind: webhook`; mail, the first kind, has no such line); the record's
//! own lines follow; it ends with the body's length and SHA-256, so a truncated or edited
//! file is never sent (docs/failure-handling.md). `sha256sum` can check one by hand. A
//! webhook's head names its URL and headers file, never the headers themselves: the secrets
//! are read from that file when it is posted.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::Address;
use lettre::address::Envelope;

/// What is wrong with the contents of a spool file.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
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

/// What this release writes: the head records the body's length and SHA-256.
const MAGIC: &str = "reporter-spool 2";
/// What the first release wrote: no length, no checksum, and only mail. Still sent, as it
/// always was.
const MAGIC_V1: &str = "reporter-spool 1";
/// The `kind:` of a spooled webhook.
const HOOK_KIND: &str = "webhook";

/// Whether a decoded file's body was checked against its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// Its length and checksum match.
    Verified,
    /// A first-format file, which records neither.
    Unchecked,
}

/// What the spool holds. Each kind says its own head lines; the framing around them (the
/// magic line, the kind, the length and checksum) is the same for all.
pub trait Record: Sized {
    /// The head's `kind:` line; `None` for mail, which has none.
    const KIND: Option<&'static str>;

    /// The record's own head lines, in the order they are written.
    fn fields(&self) -> Vec<(&'static str, String)>;

    /// What follows the head.
    fn body(&self) -> &[u8];

    /// The record a spool file's `bytes` hold, and whether its body was checked. The body
    /// is the file's own bytes, moved rather than copied (a report may be megabytes).
    fn decode(bytes: Vec<u8>) -> Result<(Self, Integrity), RecordError>;

    /// The header block; the body follows it in the file.
    fn head(&self) -> String {
        let kind = Self::KIND.map(|kind| ("kind", kind.to_owned()));
        let body = self.body();
        let seal = [("length", body.len().to_string()), ("sha256", sha256(body))];
        let lines: String = (kind.into_iter().chain(self.fields()).chain(seal))
            .map(|(key, value)| format!("{key}: {value}\n"))
            .collect();
        format!("{MAGIC}\n{lines}\n")
    }
}

/// One of a record's own head lines, as its decoder is handed it.
struct Field<'a> {
    key: &'a str,
    value: &'a str,
    line: &'a str,
}

impl Field<'_> {
    /// The line, refused as malformed.
    fn bad(&self) -> RecordError {
        RecordError::Line(self.line.to_owned())
    }

    /// The line, refused as none of the record's.
    fn unknown(&self) -> RecordError {
        RecordError::Header(self.key.to_owned())
    }

    fn number(&self) -> Result<u64, RecordError> {
        self.value.parse().map_err(|_| self.bad())
    }
}

/// Takes a spool file of `kind` apart: checks its magic line and its kind, hands the
/// record's own head lines to `own` in order, and checks the body against the length and
/// checksum the head recorded. Returns whether it could be checked (a first-format file
/// records neither) and where the body starts.
fn unframe<'a>(
    bytes: &'a [u8],
    kind: Option<&str>,
    mut own: impl FnMut(Field<'a>) -> Result<(), RecordError>,
) -> Result<(Integrity, usize), RecordError> {
    if bytes.is_empty() {
        return Err(RecordError::Empty);
    }
    let split = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or(RecordError::NoHeaderEnd)?;
    let head = std::str::from_utf8(&bytes[..split]).map_err(|_| RecordError::NotUtf8)?;
    let mut lines = head.lines();
    let integrity = match lines.next() {
        Some(MAGIC) => Integrity::Verified,
        // The first format held only mail.
        Some(MAGIC_V1) if kind.is_none() => Integrity::Unchecked,
        _ => return Err(RecordError::NotSpool),
    };
    let sealed = integrity == Integrity::Verified;
    let (mut found_kind, mut length, mut checksum) = (None, None, None);
    for line in lines {
        let (key, value) = line
            .split_once(": ")
            .ok_or_else(|| RecordError::Line(line.to_owned()))?;
        let field = Field { key, value, line };
        match key {
            "kind" if kind.is_some() => found_kind = Some(value),
            "length" if sealed => length = Some(field.number()?),
            "sha256" if sealed => checksum = Some(value),
            _ => own(field)?,
        }
    }
    if found_kind != kind {
        return Err(RecordError::NotSpool);
    }
    let body = &bytes[split + 2..];
    if sealed {
        verify(body, length, checksum)?;
    }
    Ok((integrity, split + 2))
}

/// Checks `body` against the length and checksum its head recorded.
fn verify(body: &[u8], length: Option<u64>, checksum: Option<&str>) -> Result<(), RecordError> {
    let head = usize::try_from(length.ok_or(RecordError::NoLength)?).unwrap_or(usize::MAX);
    let checksum = checksum.ok_or(RecordError::NoChecksum)?;
    if body.len() != head {
        return Err(RecordError::Length {
            head,
            found: body.len(),
        });
    }
    if sha256(body) != checksum {
        return Err(RecordError::Checksum);
    }
    Ok(())
}

/// One spooled message: who it goes to, when it was written, and the message itself.
#[derive(Debug, Clone)]
pub struct Entry {
    pub job: String,
    pub envelope: Envelope,
    pub created: SystemTime,
    pub message: Vec<u8>,
}

impl Record for Entry {
    const KIND: Option<&'static str> = None;

    fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("job", self.job.clone()),
            ("created", unix(self.created).to_string()),
        ];
        fields.extend(self.envelope.from().map(|from| ("from", from.to_string())));
        fields.extend(self.envelope.to().iter().map(|to| ("to", to.to_string())));
        fields
    }

    fn body(&self) -> &[u8] {
        &self.message
    }

    fn decode(mut bytes: Vec<u8>) -> Result<(Entry, Integrity), RecordError> {
        let (mut job, mut created, mut from, mut to) = (String::new(), None, None, Vec::new());
        let (integrity, start) = unframe(&bytes, Entry::KIND, |field| {
            match field.key {
                "job" => job = field.value.to_owned(),
                // Unreadable is as good as missing: the file is refused without it.
                "created" => created = field.number().ok().map(from_unix),
                "from" => {
                    from = Some(
                        field
                            .value
                            .parse::<Address>()
                            .map_err(RecordError::Sender)?,
                    )
                }
                "to" => to.push(
                    field
                        .value
                        .parse::<Address>()
                        .map_err(RecordError::Recipient)?,
                ),
                _ => return Err(field.unknown()),
            }
            Ok(())
        })?;
        let envelope = Envelope::new(from, to).map_err(RecordError::Envelope)?;
        let created = created.ok_or(RecordError::NoCreated)?;
        bytes.drain(..start);
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

impl Record for Hook {
    const KIND: Option<&'static str> = Some(HOOK_KIND);

    fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("job", self.job.clone()),
            ("created", unix(self.created).to_string()),
            ("url", self.url.clone()),
            ("timeout_ms", self.timeout.as_millis().to_string()),
        ];
        fields.extend(
            (self.headers_file.as_ref()).map(|path| ("headers_file", path.display().to_string())),
        );
        fields
    }

    fn body(&self) -> &[u8] {
        &self.body
    }

    fn decode(mut bytes: Vec<u8>) -> Result<(Hook, Integrity), RecordError> {
        let (mut job, mut created, mut url) = (String::new(), None, None);
        let (mut timeout, mut headers_file) = (None, None);
        let (integrity, start) = unframe(&bytes, Hook::KIND, |field| {
            match field.key {
                "job" => job = field.value.to_owned(),
                "created" => created = Some(from_unix(field.number()?)),
                "url" => url = Some(field.value.to_owned()),
                "timeout_ms" => timeout = Some(Duration::from_millis(field.number()?)),
                "headers_file" => headers_file = Some(PathBuf::from(field.value)),
                _ => return Err(field.unknown()),
            }
            Ok(())
        })?;
        let url = url.ok_or(RecordError::Line("no `url:` line".to_owned()))?;
        let created = created.ok_or(RecordError::NoCreated)?;
        bytes.drain(..start);
        let hook = Hook {
            job,
            url,
            headers_file,
            timeout: timeout.unwrap_or(Duration::from_secs(10)),
            created,
            body: bytes,
        };
        Ok((hook, integrity))
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

fn from_unix(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A record's file, as the spool writes it.
    pub(crate) fn encode(record: &impl Record) -> Vec<u8> {
        [record.head().as_bytes(), record.body()].concat()
    }

    fn decode<T: Record>(bytes: &[u8]) -> Result<(T, Integrity), RecordError> {
        T::decode(bytes.to_vec())
    }

    pub(crate) fn entry() -> Entry {
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
        let (decoded, integrity) = decode::<Entry>(&encode(&entry())).unwrap();
        assert_eq!(integrity, Integrity::Verified);
        assert_eq!(decoded.job, "disk");
        assert_eq!(decoded.envelope, entry().envelope);
        assert_eq!(decoded.created, entry().created);
        assert_eq!(decoded.message, entry().message);
        assert!(decode::<Entry>(b"garbage\n\nx").is_err());
    }

    pub(crate) fn hook() -> Hook {
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
        let (decoded, integrity) = decode::<Hook>(&bytes).unwrap();
        assert_eq!(integrity, Integrity::Verified);
        assert_eq!(decoded, hook());
        let mut edited = bytes.clone();
        *edited.last_mut().unwrap() = b']';
        assert!(matches!(
            decode::<Hook>(&edited),
            Err(RecordError::Checksum)
        ));
        assert!(matches!(
            decode::<Hook>(&bytes[..bytes.len() - 1]),
            Err(RecordError::Length { .. })
        ));
        // Neither kind is read as the other.
        assert!(decode::<Entry>(&bytes).is_err());
        assert!(matches!(
            decode::<Hook>(&encode(&entry())),
            Err(RecordError::Header(_) | RecordError::NotSpool)
        ));
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
        let mail = |bytes: &[u8]| decode::<Entry>(bytes).unwrap_err().to_string();
        let hook = |bytes: &[u8]| decode::<Hook>(bytes).unwrap_err().to_string();
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
        let bytes = encode(&entry());
        let cut = decode::<Entry>(&bytes[..bytes.len() - 5]).unwrap_err();
        assert!(
            matches!(cut, RecordError::Length { head, found } if found + 5 == head),
            "{cut}"
        );
        let mut edited = bytes.clone();
        *edited.last_mut().unwrap() = b'!';
        let edited = decode::<Entry>(&edited).unwrap_err();
        assert!(matches!(edited, RecordError::Checksum), "{edited}");
        assert!(matches!(decode::<Entry>(b""), Err(RecordError::Empty)));
        let text = String::from_utf8(bytes).unwrap();
        let start = text.find("length: ").unwrap();
        let end = start + text[start..].find('\n').unwrap() + 1;
        let unmeasured = format!("{}{}", &text[..start], &text[end..]);
        assert!(matches!(
            decode::<Entry>(unmeasured.as_bytes()),
            Err(RecordError::NoLength)
        ));
    }

    #[test]
    fn first_format_entries_are_read_unchecked() {
        let v1 = b"reporter-spool 1\njob: disk\ncreated: 1800000000\nto: a@example.com\n\nSubject: x\r\n\r\nbody\r\n";
        let (decoded, integrity) = decode::<Entry>(v1).unwrap();
        assert_eq!(integrity, Integrity::Unchecked);
        assert_eq!(decoded.message, b"Subject: x\r\n\r\nbody\r\n");
        let with_length = b"reporter-spool 1\njob: disk\ncreated: 1800000000\nlength: 3\n\nabc";
        assert!(matches!(
            decode::<Entry>(with_length),
            Err(RecordError::Header(_))
        ));
    }
}
