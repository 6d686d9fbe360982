//! The RFC 5322 message of a report: built from a rendered [`Draft`] and its identity
//! headers, and written as mbox for `preview`.

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset};
use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{self, Body, Mailbox, MultiPart, SinglePart};

use crate::config::address::{AddressError, parse_mailbox};
use crate::report::Status;

/// Why a draft could not become a message.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// An address that did not parse once rendered.
    #[error("mail.{key}: {source}")]
    Address {
        key: &'static str,
        source: AddressError,
    },
    #[error("cannot build the message: {0}")]
    Message(#[from] lettre::error::Error),
}

/// A report rendered to text, ready to become a message.
#[derive(Debug, Clone)]
pub struct Draft {
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// `text/plain` attachments, after the body.
    pub attachments: Vec<Attachment>,
}

impl Draft {
    /// A draft with the addresses and subject of this one, and nothing in it.
    pub fn headers(&self) -> Draft {
        Draft {
            from: self.from.clone(),
            to: self.to.clone(),
            cc: self.cc.clone(),
            reply_to: self.reply_to.clone(),
            subject: self.subject.clone(),
            text: String::new(),
            html: None,
            attachments: Vec::new(),
        }
    }
}

/// A `text/plain` attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: String,
    pub content: String,
}

/// A built message and the HTML body in it (for `preview --html`).
pub struct Built {
    pub message: Message,
    pub html: Option<String>,
}

/// Identity and bookkeeping headers of a message.
#[derive(Debug, Clone)]
pub struct Stamp<'a> {
    pub job: &'a str,
    pub status: Status,
    pub message_id: String,
    pub date: DateTime<FixedOffset>,
}

/// A header value rendered from a template, made one line: CR, LF and other control
/// characters become spaces, so a template cannot add headers or recipients. Lines are
/// folded between words when the message is written; a word too long for any line (RFC
/// 5322 allows 998 octets) is cut, ending in `…`.
pub fn one_line(value: &str) -> String {
    let line: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let line = line.trim();
    if line.split(' ').all(|word| word.len() <= LONGEST_WORD) {
        return line.to_owned();
    }
    let words: Vec<String> = line.split(' ').map(cut_word).collect();
    words.join(" ")
}

/// The longest word a header keeps: a folded line holds the header's name and one word.
const LONGEST_WORD: usize = 900;

fn cut_word(word: &str) -> String {
    if word.len() <= LONGEST_WORD {
        return word.to_owned();
    }
    let mut end = LONGEST_WORD - '…'.len_utf8();
    while !word.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &word[..end])
}

fn mailbox(value: &str, key: &'static str) -> Result<Mailbox, BuildError> {
    parse_mailbox(&one_line(value)).map_err(|source| BuildError::Address { key, source })
}

fn raw_header(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

/// Builds the message, which takes over the draft's text and attachments (the HTML is
/// kept beside it for `preview --html`); an address that does not parse after rendering is
/// an error naming the key.
pub fn build(draft: Draft, stamp: &Stamp<'_>) -> Result<Built, BuildError> {
    let mut builder = Message::builder()
        .from(mailbox(&draft.from, "from")?)
        .subject(one_line(&draft.subject))
        .message_id(Some(stamp.message_id.clone()))
        .raw_header(raw_header("Auto-Submitted", "auto-generated".to_owned()))
        .raw_header(raw_header("X-Reporter-Job", stamp.job.to_owned()))
        .raw_header(raw_header(
            "X-Reporter-Status",
            stamp.status.as_str().to_owned(),
        ));
    for to in &draft.to {
        builder = builder.to(mailbox(to, "to")?);
    }
    for cc in &draft.cc {
        builder = builder.cc(mailbox(cc, "cc")?);
    }
    if let Some(reply_to) = &draft.reply_to {
        builder = builder.reply_to(mailbox(reply_to, "reply_to")?);
    }
    let Draft {
        text,
        html,
        attachments,
        ..
    } = draft;
    let text = text_part(Cow::Owned(text), ContentType::TEXT_PLAIN);
    let alternative = |text, html: &str| {
        MultiPart::alternative()
            .singlepart(text)
            .singlepart(text_part(Cow::Borrowed(html), ContentType::TEXT_HTML))
    };
    let no_attachments = attachments.is_empty();
    let attach = |mixed: MultiPart| {
        let plain = ContentType::parse("text/plain; charset=utf-8").expect("a valid content type");
        attachments.into_iter().fold(mixed, |mixed, a| {
            mixed.singlepart(message::Attachment::new(a.name).body(a.content, plain.clone()))
        })
    };
    let message = match (&html, no_attachments) {
        (None, true) => builder.singlepart(text),
        (Some(html), true) => builder.multipart(alternative(text, html)),
        (None, false) => builder.multipart(attach(MultiPart::mixed().singlepart(text))),
        (Some(html), false) => builder.multipart(attach(
            MultiPart::mixed().multipart(alternative(text, html)),
        )),
    };
    let mut message = message?;
    // Set after building: lettre reads back only GMT dates and would replace ours with its own.
    message
        .headers_mut()
        .insert_raw(raw_header("Date", stamp.date.to_rfc2822()));
    Ok(Built { message, html })
}

/// A UTF-8 text part: 7bit when it is plain short-lined ASCII, else quoted-printable (or
/// base64 when that is much smaller). An owned `text` is dropped once it has been copied
/// with CRLF line ends, before the copy is encoded: a long report is held twice at most.
fn text_part(text: Cow<'_, str>, content_type: ContentType) -> SinglePart {
    // Line ends are made CRLF here, in one pass: lettre would otherwise insert each `\r`
    // in place, which is quadratic in the number of lines.
    let crlf_text = crlf(&text);
    drop(text);
    let body = Body::new_with_encoding(crlf_text, ContentTransferEncoding::SevenBit)
        .unwrap_or_else(|crlf_bytes| {
            // lettre picks quoted-printable for mostly-ASCII text, base64 where that is
            // smaller (e.g. output full of replacement characters).
            Body::new(String::from_utf8(crlf_bytes).expect("the body was a String"))
        });
    SinglePart::builder().header(content_type).body(body)
}

/// `text` with CRLF line ends, as 7bit bodies need.
fn crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    for line in text.split_inclusive('\n') {
        match line.strip_suffix('\n') {
            Some(line) => {
                out.push_str(line.strip_suffix('\r').unwrap_or(line));
                out.push_str("\r\n");
            }
            None => out.push_str(line),
        }
    }
    out
}

/// Appends `message` to `out` as one mbox entry (mboxrd quoting, LF line ends).
pub fn write_mbox(out: &mut Vec<u8>, message: &[u8], from: &str, date: DateTime<FixedOffset>) {
    out.extend_from_slice(
        format!("From {} {}\n", from, date.format("%a %b %e %H:%M:%S %Y")).as_bytes(),
    );
    let text = String::from_utf8_lossy(message);
    for line in text.split_inclusive('\n') {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim_start_matches('>').starts_with("From ") {
            out.push(b'>');
        }
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> Draft {
        Draft {
            from: "reporter@example.com".into(),
            to: vec!["staff@example.com".into()],
            cc: vec![],
            reply_to: None,
            subject: "Disk\r\nBcc: victim@example.com".into(),
            text: "From the top\n< & >\n".into(),
            html: None,
            attachments: Vec::new(),
        }
    }

    pub(super) fn draft_for_folding() -> Draft {
        draft()
    }

    pub(super) fn stamp_for_folding() -> Stamp<'static> {
        stamp()
    }

    fn stamp() -> Stamp<'static> {
        Stamp {
            job: "disk",
            status: Status::Failed,
            message_id: "<r1.disk@example.com>".into(),
            date: DateTime::parse_from_rfc3339("2026-11-22T09:30:00+01:00").unwrap(),
        }
    }

    #[test]
    fn headers_are_complete_and_one_line() {
        let message =
            String::from_utf8(build(draft(), &stamp()).unwrap().message.formatted()).unwrap();
        assert!(
            message.contains("Subject: Disk  Bcc: victim@example.com\r\n"),
            "{message}"
        );
        assert!(!message.contains("\r\nBcc:"), "{message}");
        assert!(
            message.contains("Date: Sun, 22 Nov 2026 09:30:00 +0100\r\n"),
            "{message}"
        );
        assert_eq!(
            message.matches("\r\nDate:").count() + usize::from(message.starts_with("Date:")),
            1,
            "{message}"
        );
        assert!(
            message.contains("Message-ID: <r1.disk@example.com>\r\n"),
            "{message}"
        );
        assert!(message.contains("Auto-Submitted: auto-generated\r\n"));
        assert!(message.contains("X-Reporter-Job: disk\r\n"));
        assert!(message.contains("X-Reporter-Status: failed\r\n"));
        assert!(message.contains("Content-Type: text/plain; charset=utf-8\r\n"));
        assert!(message.contains("MIME-Version: 1.0\r\n"));
        assert!(message.contains("< & >"));
    }

    #[test]
    fn bad_rendered_address_names_the_key() {
        let mut bad = draft();
        bad.to = vec!["ops at example".into()];
        let Err(err) = build(bad, &stamp()) else {
            panic!("an invalid address builds");
        };
        let err = err.to_string();
        assert!(err.starts_with("mail.to: invalid mail address"), "{err}");
    }

    #[test]
    fn mbox_quotes_from_lines() {
        let mut out = Vec::new();
        write_mbox(
            &mut out,
            b"Subject: x\r\n\r\nFrom here\r\n>From there\r\n",
            "a@b",
            stamp().date,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("From a@b Sun Nov 22 09:30:00 2026\n"),
            "{text}"
        );
        assert!(text.contains("\n>From here\n>>From there\n\n"), "{text}");
    }
}

#[cfg(test)]
mod folding {
    use super::*;

    fn longest_line(subject: &str) -> usize {
        let mut draft = super::tests::draft_for_folding();
        draft.subject = subject.to_owned();
        let message = build(draft, &super::tests::stamp_for_folding())
            .unwrap()
            .message
            .formatted();
        message
            .split(|&b| b == b'\n')
            .map(<[u8]>::len)
            .max()
            .unwrap()
    }

    #[test]
    fn long_subjects_fold_and_long_words_are_cut() {
        let words = "word ".repeat(4000);
        assert!(longest_line(&words) <= 998, "{}", longest_line(&words));
        let one = "x".repeat(20_000);
        assert!(longest_line(&one) <= 998, "{}", longest_line(&one));
        let utf8 = "ü".repeat(20_000);
        assert!(longest_line(&utf8) <= 998, "{}", longest_line(&utf8));
    }
}
