//! Bounded capture of a command's output: the head and tail of a stream, each stream's share
//! of its job's output budget, a fingerprint of everything a cut stream printed, and text
//! that is always safe to put in a mail whatever bytes the command wrote.

use std::hash::Hasher;

use siphasher::sip128::{Hasher128, SipHasher13};

/// The most output one job keeps in memory, all its commands' streams together, unless
/// its `max_output` alone allows more (docs/jobs.md, "Output caps"): a job of many
/// commands printing much would otherwise hold all of it until its report is out, for a
/// message that keeps at most 9 MiB anyway.
pub const JOB_OUTPUT_BUDGET: u64 = 32 << 20;

/// The least a stream keeps however many commands share the budget.
const LEAST_SHARE: u64 = 1 << 10;

/// What one stream of one of a job's `tasks` commands may keep: `max_output`, or less when
/// that many streams of `max_output` would go over the job's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamCap {
    pub bytes: u64,
    /// The cap is the stream's share of the budget, below `max_output`.
    pub shared: bool,
}

impl StreamCap {
    pub fn of(max_output: u64, tasks: usize) -> StreamCap {
        let budget = JOB_OUTPUT_BUDGET.max(max_output.saturating_mul(2));
        let streams = u64::try_from(tasks).unwrap_or(u64::MAX).saturating_mul(2);
        let share = (budget / streams.max(1)).max(LEAST_SHARE);
        StreamCap {
            bytes: share.min(max_output),
            shared: share < max_output,
        }
    }
}

/// Keeps the first and the last half of `cap` bytes of a stream and counts what fell between.
/// Memory is bounded by `cap` whatever the stream's length; each byte is copied at most once.
#[derive(Debug)]
pub struct Capture {
    half: usize,
    head: Vec<u8>,
    /// A ring of the last bytes; `start` is the oldest once the ring is full.
    tail: Vec<u8>,
    start: usize,
    omitted: u64,
    /// Every byte of the stream, kept or not, when the stream is fingerprinted as it flows.
    stream: Option<Box<StreamHash>>,
}

/// A running fingerprint of every byte a stream printed, and how many there were.
#[derive(Debug)]
struct StreamHash {
    hasher: SipHasher13,
    bytes: u64,
}

impl Capture {
    pub fn new(cap: u64) -> Self {
        let half = usize::try_from(cap / 2).unwrap_or(usize::MAX / 2).max(1);
        Capture {
            half,
            head: Vec::new(),
            tail: Vec::new(),
            start: 0,
            omitted: 0,
            stream: None,
        }
    }

    /// A capture that also fingerprints every byte that flows through it: one whose cap is
    /// below `max_output` drops what a run with the whole of `max_output` would compare.
    pub fn fingerprinted(cap: u64) -> Self {
        Capture {
            stream: Some(Box::new(StreamHash {
                hasher: SipHasher13::new(),
                bytes: 0,
            })),
            ..Capture::new(cap)
        }
    }

    pub fn push(&mut self, mut bytes: &[u8]) {
        self.hash(bytes);
        if self.head.len() < self.half {
            let take = bytes.len().min(self.half - self.head.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        if bytes.is_empty() {
            return;
        }
        // Filling the ring: append until it holds `half` bytes.
        if self.tail.len() < self.half {
            let take = bytes.len().min(self.half - self.tail.len());
            self.tail.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if bytes.is_empty() {
                return;
            }
        }
        // The ring is full: each new byte replaces the oldest.
        self.omitted += bytes.len() as u64;
        if bytes.len() >= self.half {
            bytes = &bytes[bytes.len() - self.half..];
            self.tail.copy_from_slice(bytes);
            self.start = 0;
            return;
        }
        let first = bytes.len().min(self.half - self.start);
        self.tail[self.start..self.start + first].copy_from_slice(&bytes[..first]);
        self.tail[..bytes.len() - first].copy_from_slice(&bytes[first..]);
        self.start = (self.start + bytes.len()) % self.half;
    }

    /// Where the next bytes go once the head is kept and the ring of the tail is full, to
    /// read them straight in: the long part of a long output is then never copied. `None`
    /// while the head or the ring still fill ([`Capture::push`] takes those bytes).
    pub fn ring_space(&mut self) -> Option<&mut [u8]> {
        if self.head.len() == self.half && self.tail.len() == self.half {
            Some(&mut self.tail[self.start..])
        } else {
            None
        }
    }

    /// Counts `n` bytes just read into [`Capture::ring_space`]: each replaced the oldest.
    pub fn ring_filled(&mut self, n: usize) {
        if let Some(stream) = &mut self.stream {
            stream.hasher.write(&self.tail[self.start..self.start + n]);
            stream.bytes += n as u64;
        }
        self.omitted += n as u64;
        self.start = (self.start + n) % self.half;
    }

    pub fn truncated(&self) -> bool {
        self.omitted > 0
    }

    fn hash(&mut self, bytes: &[u8]) {
        if let Some(stream) = &mut self.stream {
            stream.hasher.write(bytes);
            stream.bytes += bytes.len() as u64;
        }
    }

    /// The fingerprint of both streams of a command, over every byte each printed
    /// (`None` unless both were [`Capture::fingerprinted`]): 32 hex digits, as the history's
    /// fingerprints of outputs kept whole.
    pub fn stream_fingerprint(stdout: &Capture, stderr: &Capture) -> Option<String> {
        let (out, err) = (stdout.stream.as_ref()?, stderr.stream.as_ref()?);
        let mut hasher = SipHasher13::new();
        hasher.write(b"stream");
        for stream in [out, err] {
            hasher.write_u64(stream.bytes);
            hasher.write_u128(stream.hasher.finish128().as_u128());
        }
        Some(format!("{:032x}", hasher.finish128().as_u128()))
    }

    /// The kept text, with `[... N bytes omitted ...]` where bytes were dropped. The cap
    /// holds for the text too: made mail-safe, a NUL or an invalid byte takes the three
    /// bytes of U+FFFD, and a binary stream would otherwise come out three times as large.
    /// Its first and last half then keep as many bytes as fit in half the cap each.
    pub fn into_text(mut self) -> String {
        self.tail.rotate_left(self.start);
        let cap = 2 * self.half;
        let head_text = if self.omitted == 0 {
            // Head and tail are one run of bytes.
            self.head.append(&mut self.tail);
            let whole = clean(&self.head);
            if whole.len() <= cap {
                return whole;
            }
            whole
        } else {
            clean(&self.head)
        };
        let (head, head_used) = clean_within(&self.head, head_text, self.half, End::Start);
        // Without a gap, the tail is the rest of the bytes after what the head took.
        let (tail_source, head_dropped): (&[u8], usize) = if self.omitted == 0 {
            (&self.head[head_used..], 0)
        } else {
            (&self.tail, self.head.len() - head_used)
        };
        let tail_text = clean(tail_source);
        let (tail, tail_used) = clean_within(tail_source, tail_text, self.half, End::Finish);
        self.omitted += (head_dropped + tail_source.len() - tail_used) as u64;
        let mut text = String::with_capacity(head.len() + tail.len() + 48);
        text.push_str(&head);
        drop(head);
        if self.omitted > 0 {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!("[... {} bytes omitted ...]\n", self.omitted));
        }
        text.push_str(&tail);
        text
    }
}

/// Which end of the bytes [`clean_within`] keeps.
#[derive(Clone, Copy)]
enum End {
    Start,
    Finish,
}

/// The mail-safe text of the longest start (or end) of `bytes` that fits in `budget`
/// bytes, and how many of `bytes` it took; `whole` is the text of all of them.
fn clean_within(bytes: &[u8], whole: String, budget: usize, end: End) -> (String, usize) {
    let part = |n: usize| match end {
        End::Start => &bytes[..n],
        End::Finish => &bytes[bytes.len() - n..],
    };
    if whole.len() <= budget {
        return (whole, bytes.len());
    }
    // A byte becomes at most three (U+FFFD): a third of the budget always fits. Search
    // between that and the whole, keeping only lengths whose text fits. The text grows
    // about in step with the bytes, so every other guess is where the line through the
    // two bounds meets the budget (a few cleanings instead of twenty); the halving
    // steps between keep the worst case logarithmic.
    let mut fits = (budget / 3).min(bytes.len());
    let mut kept = clean(part(fits));
    let (mut over, mut over_len) = (bytes.len(), whole.len());
    let mut halve = false;
    while over - fits > 1 {
        let mid = if halve {
            fits + (over - fits) / 2
        } else {
            let aim = (over - fits) * (budget - kept.len()) / (over_len - kept.len()).max(1);
            (fits + aim).clamp(fits + 1, over - 1)
        };
        halve = !halve;
        let text = clean(part(mid));
        if text.len() <= budget {
            (fits, kept) = (mid, text);
        } else {
            (over, over_len) = (mid, text.len());
        }
    }
    (kept, fits)
}

/// Output as mail-safe text: invalid UTF-8 becomes U+FFFD, `\r\n` becomes `\n`, terminal
/// escape sequences are dropped and other control characters (NUL, a lone `\r`, BEL ...)
/// become U+FFFD, keeping `\n` and `\t`.
pub fn clean(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return text.into_owned();
    }
    let controls = text
        .bytes()
        .filter(|b| b.is_ascii_control() && *b != b'\n' && *b != b'\t')
        .count();
    let mut out = String::with_capacity(text.len() + 2 * controls);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\u{1b}' => skip_escape(&mut chars),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Skips the rest of an ANSI escape sequence (CSI `ESC [ ... final`, OSC `ESC ] ... BEL/ST`,
/// or a two-character `ESC x`).
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => {
            for c in chars.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&c) {
                    break;
                }
            }
        }
        Some(']') => {
            while let Some(c) = chars.next() {
                if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                    break;
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_output_is_kept_whole() {
        let mut capture = Capture::new(16);
        capture.push(b"hello ");
        capture.push(b"world");
        assert!(!capture.truncated());
        assert_eq!(capture.into_text(), "hello world");
    }

    #[test]
    fn large_output_keeps_head_and_tail() {
        let mut capture = Capture::new(8);
        for chunk in [&b"abc"[..], b"defgh", b"ij", b"klmnopqrstuvwxyz"] {
            capture.push(chunk);
        }
        assert!(capture.truncated());
        assert_eq!(
            capture.into_text(),
            "abcd\n[... 18 bytes omitted ...]\nwxyz"
        );
    }

    #[test]
    fn tail_rolls_over_small_writes() {
        let mut capture = Capture::new(4);
        for b in b"0123456789" {
            capture.push(&[*b]);
        }
        assert_eq!(capture.into_text(), "01\n[... 6 bytes omitted ...]\n89");
    }

    #[test]
    fn bytes_read_into_the_ring_count_like_pushed_ones() {
        let input: Vec<u8> = (0..200u8).collect();
        let mut pushed = Capture::new(16);
        let mut read = Capture::new(16);
        for chunk in input.chunks(5) {
            pushed.push(chunk);
            let mut rest = chunk;
            while !rest.is_empty() {
                match read.ring_space() {
                    Some(space) => {
                        let n = space.len().min(rest.len());
                        space[..n].copy_from_slice(&rest[..n]);
                        read.ring_filled(n);
                        rest = &rest[n..];
                    }
                    None => {
                        read.push(&rest[..1]);
                        rest = &rest[1..];
                    }
                }
            }
        }
        assert!(read.truncated());
        assert_eq!(read.into_text(), pushed.into_text());
    }

    #[test]
    fn binary_output_stays_within_the_cap_as_text() {
        // Every NUL becomes the three bytes of U+FFFD: 1,000 of them would be 3,000.
        let mut capture = Capture::new(100);
        capture.push(&[0; 1000]);
        let text = capture.into_text();
        let (head, rest) = text.split_once('\n').unwrap();
        let (marker, tail) = rest.split_once('\n').unwrap();
        assert_eq!(head, "\u{fffd}".repeat(16));
        assert_eq!(tail, "\u{fffd}".repeat(16));
        // 1,000 bytes, 32 of them shown.
        assert_eq!(marker, "[... 968 bytes omitted ...]");

        // Short enough to keep whole as bytes, too long as text: cut all the same.
        let mut capture = Capture::new(100);
        capture.push(b"ok\n");
        capture.push(&[0; 60]);
        capture.push(b"\nend");
        let text = capture.into_text();
        assert!(text.len() <= 100 + 40, "{text}");
        assert!(text.starts_with("ok\n\u{fffd}"), "{text}");
        assert!(text.ends_with("\u{fffd}\nend"), "{text}");
        let omitted: usize = text
            .split("[... ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        // The head does not end a line, so the marker's line break before it is added.
        let shown = text.replace(&format!("\n[... {omitted} bytes omitted ...]\n"), "");
        let replaced = shown.matches('\u{fffd}').count();
        let shown_bytes = shown.len() - 2 * replaced;
        assert_eq!(shown_bytes + omitted, 3 + 60 + 4, "{text}");

        // Text that fits is left alone, replacement characters and all.
        let mut capture = Capture::new(100);
        capture.push(&[0; 30]);
        assert_eq!(capture.into_text(), "\u{fffd}".repeat(30));
    }

    #[test]
    fn a_job_of_many_commands_shares_its_budget() {
        let mib = 1 << 20;
        let few = StreamCap::of(mib, 10);
        assert_eq!((few.bytes, few.shared), (mib, false));
        let many = StreamCap::of(mib, 300);
        assert!(many.shared);
        assert!(many.bytes * 600 <= JOB_OUTPUT_BUDGET, "{many:?}");
        // A large max_output is the admin's own budget for one command.
        let one = StreamCap::of(100 * mib, 1);
        assert_eq!((one.bytes, one.shared), (100 * mib, false));
        assert_eq!(StreamCap::of(mib, 1_000_000).bytes, LEAST_SHARE);
    }

    #[test]
    fn a_fingerprinted_capture_sees_the_bytes_it_drops() {
        let fingerprint = |middle: &[u8]| {
            let mut out = Capture::fingerprinted(8);
            for chunk in [&b"head"[..], middle, b"tail"] {
                out.push(chunk);
                if let Some(space) = out.ring_space() {
                    // Read straight into the ring, as a pipe is.
                    space[0] = b'x';
                    out.ring_filled(1);
                }
            }
            let err = Capture::fingerprinted(8);
            assert!(out.truncated());
            Capture::stream_fingerprint(&out, &err).unwrap()
        };
        assert_eq!(fingerprint(b"0123456789"), fingerprint(b"0123456789"));
        assert_ne!(fingerprint(b"0123456789"), fingerprint(b"0123X56789"));
        assert_eq!(fingerprint(b"").len(), 32);
        assert_eq!(
            Capture::stream_fingerprint(&Capture::new(8), &Capture::new(8)),
            None
        );
    }

    #[test]
    fn control_bytes_are_made_safe() {
        assert_eq!(clean(b"a\r\nb\rc"), "a\nb\u{fffd}c");
        assert_eq!(clean(b"\x1b[1;31mred\x1b[0m ok"), "red ok");
        assert_eq!(clean(b"nul\0byte \xff"), "nul\u{fffd}byte \u{fffd}");
        assert_eq!(clean(b"\x1b]0;title\x07x"), "x");
        assert_eq!(clean(b"tab\tok\n"), "tab\tok\n");
    }
}
