//! Fitting a report into one message: an output longer than `mail.attach_output_over`
//! goes in as a text attachment with its head left in the body, and whatever the commands
//! printed, the message stays under [`MESSAGE_LIMIT`], saying what was cut.

use std::borrow::Cow;

use crate::mail::message::{Attachment, BuildError, Built, Draft, Stamp, build};
use crate::report::TaskResult;
use crate::report::format::format_bytes;

/// The largest message reporter sends: under Postfix's default `message_size_limit`
/// (10,240,000 bytes, with room for the headers relays add), which most relays meet.
pub const MESSAGE_LIMIT: usize = 9 << 20;
// Postfix's default `message_size_limit`, less room for the Received headers relays add.
const _: () = assert!(MESSAGE_LIMIT <= 10_240_000 - (64 << 10));

/// [`MESSAGE_LIMIT`] as the notes about cuts say it.
const LIMIT_TEXT: &str = "9 MiB";

/// How much of an attached output stays in the body.
const HEAD_LINES: usize = 20;
const HEAD_BYTES: usize = 4 << 10;

/// The outputs of a job as they go into its message.
#[derive(Debug, Clone)]
pub struct Fitted {
    /// The results as templates see them: attached outputs replaced by their head and a
    /// note, cut outputs with a marker where the cut is.
    pub results: Vec<TaskResult>,
    pub attachments: Vec<Attachment>,
    /// What was cut to stay within the budget, one line each, for the end of the body.
    pub cuts: Vec<String>,
    /// The bytes of output now in the body and attachments together.
    pub size: usize,
}

/// The bytes of output of `results`, stdout and stderr.
pub fn total(results: &[TaskResult]) -> usize {
    results
        .iter()
        .map(|r| r.stdout.len() + r.stderr.len())
        .sum()
}

/// Whether [`fit`] would change anything: an output to attach, or more than `budget` bytes
/// of output. Most reports need neither, and are rendered without copying their outputs.
pub fn needed(results: &[TaskResult], attach_over: Option<u64>, budget: usize) -> bool {
    let attach =
        |text: &str| !text.is_empty() && attach_over.is_some_and(|limit| text.len() as u64 > limit);
    total(results) > budget
        || results
            .iter()
            .any(|r| attach(&r.stdout) || attach(&r.stderr))
}

/// Moves the outputs of `results` longer than `attach_over` bytes into attachments named
/// after `job` and the command, then cuts the largest outputs (in the body and attached)
/// until all of them together fit in `budget` bytes.
pub fn fit(job: &str, results: &[TaskResult], attach_over: Option<u64>, budget: usize) -> Fitted {
    // Decide where each output goes while borrowing it: copying outputs whole before
    // cutting them would double the memory of a run whose commands printed a lot.
    let mut attached: Vec<(String, &str)> = Vec::new();
    let mut placed = Vec::with_capacity(results.len());
    for result in results {
        let base = file_base(job, result);
        let mut inline = [
            Cow::Borrowed(result.stdout.as_str()),
            Cow::Borrowed(result.stderr.as_str()),
        ];
        let mut names = [None, None];
        for (i, suffix) in ["", ".stderr"].into_iter().enumerate() {
            let text = [&result.stdout, &result.stderr][i].as_str();
            // Never an empty attachment: strict relays reject zero-byte parts.
            if text.is_empty() || attach_over.is_none_or(|limit| text.len() as u64 <= limit) {
                continue;
            }
            let name = unique(&attached, &format!("{base}{suffix}"));
            inline[i] = Cow::Owned(head_with_note(text, &name));
            names[i] = Some(name.clone());
            attached.push((name, text));
        }
        placed.push((inline, names));
    }

    let sizes: Vec<usize> = placed
        .iter()
        .flat_map(|(inline, _)| inline.iter().map(|text| text.len()))
        .chain(attached.iter().map(|(_, text)| text.len()))
        .collect();
    let cap = cap(&sizes, budget).unwrap_or(usize::MAX);
    let mut cuts = Vec::new();
    let mut keep = |text: &str, what: String| {
        if text.len() <= cap {
            return text.to_owned();
        }
        cuts.push(format!(
            "{what}: {} cut to {}",
            format_bytes(text.len() as f64),
            format_bytes(cap as f64)
        ));
        cut_middle(text, cap)
    };
    let results = results
        .iter()
        .zip(placed)
        .map(
            |(result, ([stdout, stderr], [stdout_attachment, stderr_attachment]))| {
                let stdout = keep(&stdout, format!("stdout of `{}`", result.core.name));
                let stderr = keep(&stderr, format!("stderr of `{}`", result.core.name));
                TaskResult {
                    stdout_attachment,
                    stderr_attachment,
                    ..result.with_output(stdout, stderr)
                }
            },
        )
        .collect();
    let attachments = attached
        .into_iter()
        .map(|(name, text)| Attachment {
            content: keep(text, format!("attachment {name}")),
            name,
        })
        .collect();
    let size = sizes.iter().map(|&size| size.min(cap)).sum();
    Fitted {
        results,
        attachments,
        cuts,
        size,
    }
}

/// A draft built into its message and measured against [`MESSAGE_LIMIT`].
pub enum Measured {
    Fits(Built),
    /// Too large: the draft to [`cut`] (the start of its text, without its HTML version and
    /// attachments), and the size of the message.
    Over {
        draft: Draft,
        size: usize,
    },
}

/// Builds `draft` and measures it.
pub fn measure(draft: Draft, stamp: &Stamp<'_>) -> Result<Measured, BuildError> {
    // Quoted-printable at most triples text: below a third of the limit, no need to measure,
    // and the message takes the draft over.
    if raw_size(&draft) < MESSAGE_LIMIT / 3 {
        return build(draft, stamp).map(Measured::Fits);
    }
    let start = start_of(&draft);
    let built = build(draft, stamp)?;
    let size = built.message.formatted().len();
    Ok(if size <= MESSAGE_LIMIT {
        Measured::Fits(built)
    } else {
        Measured::Over { draft: start, size }
    })
}

/// Builds `draft`, cut to its start when it is over the limit.
pub fn within_limit(draft: Draft, stamp: &Stamp<'_>) -> Result<Built, BuildError> {
    match measure(draft, stamp)? {
        Measured::Fits(built) => Ok(built),
        Measured::Over { draft, size } => cut(draft, size, stamp),
    }
}

/// The bytes of text, HTML and attachments of `draft`, before encoding.
fn raw_size(draft: &Draft) -> usize {
    draft.text.len()
        + draft.html.as_ref().map_or(0, String::len)
        + draft
            .attachments
            .iter()
            .map(|a| a.content.len())
            .sum::<usize>()
}

/// What [`cut`] sends of `draft` if its message is too large: the headers and the start of
/// the text.
fn start_of(draft: &Draft) -> Draft {
    let keep = floor_boundary(&draft.text, MESSAGE_LIMIT / 4);
    Draft {
        text: draft.text[..keep].to_owned(),
        ..draft.headers()
    }
}

/// The message with only the start of its text, for a template that makes it too large
/// by itself (`size` bytes).
pub fn cut(mut draft: Draft, size: usize, stamp: &Stamp<'_>) -> Result<Built, BuildError> {
    let keep = floor_boundary(&draft.text, MESSAGE_LIMIT / 4);
    draft.text.truncate(keep);
    draft.text.push_str(&format!(
        "\n\n[... the report was cut here: with this template it came to {}, over the {} limit; the HTML version and attachments were left out]\n",
        format_bytes(size as f64),
        LIMIT_TEXT
    ));
    draft.html = None;
    draft.attachments.clear();
    build(draft, stamp)
}

/// Says at the end of the body what was cut to keep the message small enough.
pub fn note_cuts(draft: &mut Draft, cuts: &[String]) {
    append_note(
        draft,
        &format!("Cut to keep this message under {LIMIT_TEXT}:"),
        cuts,
    );
}

/// Ends the body (text and HTML) with `heading` and a list of `items`; nothing when there
/// are none.
fn append_note(draft: &mut Draft, heading: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let mut text = format!("\n\n{heading}\n");
    for item in items {
        text.push_str(&format!("- {item}\n"));
    }
    draft.text.push_str(&text);
    if let Some(html) = &mut draft.html {
        let mut note = format!("<p>{}</p>\n<ul>\n", handlebars::html_escape(heading));
        for item in items {
            note.push_str(&format!("<li>{}</li>\n", handlebars::html_escape(item)));
        }
        note.push_str("</ul>\n");
        match html.rfind("</body>") {
            Some(at) => html.insert_str(at, &note),
            None => html.push_str(&note),
        }
    }
}

/// How many commands a note on the output budget names before it counts the rest.
const NAMED_CUTS: usize = 5;

/// What the job's output budget cut of `results` while the commands ran (`None` when it
/// cut nothing): how much each output kept, and which commands were cut.
pub fn budget_cuts(results: &[TaskResult]) -> Option<String> {
    let cut: Vec<&TaskResult> = results.iter().filter(|r| r.budget_cut.is_some()).collect();
    let kept = cut.first()?.budget_cut.as_ref()?.kept;
    let mut names: Vec<String> = cut
        .iter()
        .take(NAMED_CUTS)
        .map(|r| format!("`{}`", r.core.name))
        .collect();
    if cut.len() > NAMED_CUTS {
        names.push(format!("{} more", cut.len() - NAMED_CUTS));
    }
    Some(format!(
        "{} of {} commands kept {} of stdout and of stderr each (the first and last halves): {}",
        cut.len(),
        results.len(),
        format_bytes(kept as f64),
        names.join(", ")
    ))
}

/// Says at the end of the body what the output budget of the job (or of each job of a
/// digest) cut while its commands ran.
pub fn note_budget_cuts(draft: &mut Draft, cuts: &[String]) {
    let heading = "Output cut while the commands ran, to keep the job's outputs together within its output budget (reporter.yaml(5), max_output):";
    append_note(draft, heading, cuts);
}

/// The largest size every piece may keep so that all of them fit in `budget` (cutting
/// only the largest), or `None` when they already fit.
fn cap(sizes: &[usize], budget: usize) -> Option<usize> {
    if sizes.iter().sum::<usize>() <= budget {
        return None;
    }
    let mut sorted = sizes.to_vec();
    sorted.sort_unstable();
    let mut remaining = budget;
    for (i, &size) in sorted.iter().enumerate() {
        let share = remaining / (sorted.len() - i);
        if size > share {
            return Some(share);
        }
        remaining -= size;
    }
    None
}

/// `text` cut to about `keep` bytes: its first and last halves around a marker.
fn cut_middle(text: &str, keep: usize) -> String {
    let head = floor_boundary(text, keep / 2);
    let tail = ceil_boundary(text, text.len() - keep / 2);
    format!(
        "{}\n[... {} bytes cut to keep the message under {} ...]\n{}",
        &text[..head],
        tail - head,
        LIMIT_TEXT,
        &text[tail..]
    )
}

/// The largest character boundary of `text` at or below `index`.
pub fn floor_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// The smallest character boundary of `text` at or above `index`.
fn ceil_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index += 1;
    }
    index
}

/// The first lines of an attached output, and where the rest is.
fn head_with_note(text: &str, name: &str) -> String {
    let mut end = text
        .match_indices('\n')
        .nth(HEAD_LINES - 1)
        .map_or(text.len(), |(i, _)| i + 1);
    if end > HEAD_BYTES {
        end = text[..floor_boundary(text, HEAD_BYTES)]
            .rfind('\n')
            .map_or_else(|| floor_boundary(text, HEAD_BYTES), |i| i + 1);
    }
    let mut head = text[..end].to_owned();
    if !head.is_empty() && !head.ends_with('\n') {
        head.push('\n');
    }
    let lines = text.lines().count();
    head.push_str(&format!(
        "[... {} lines, {} in all: the whole output is attached as {name}]\n",
        lines,
        format_bytes(text.len() as f64)
    ));
    head
}

/// `JOB.COMMAND[.HOST][.TARGET]` with everything but letters, digits, `.` and `_` as `-`.
fn file_base(job: &str, result: &TaskResult) -> String {
    let mut base = format!("{job}.{}", slug(&result.core.name, 60));
    for part in [&result.core.host, &result.core.target]
        .into_iter()
        .flatten()
    {
        base.push('.');
        base.push_str(&slug(part, 40));
    }
    base
}

fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= max {
            break;
        }
    }
    let trimmed = out.trim_matches(['-', '.']);
    if trimmed.is_empty() {
        "output".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// `base.txt`, or `base-2.txt` … when an earlier attachment has that name.
fn unique(attached: &[(String, &str)], base: &str) -> String {
    let taken = |name: &str| attached.iter().any(|(taken, _)| taken == name);
    let mut name = format!("{base}.txt");
    let mut n = 2;
    while taken(&name) {
        name = format!("{base}-{n}.txt");
        n += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Status;

    fn result(name: &str, stdout: &str, stderr: &str) -> TaskResult {
        TaskResult::fixture(name, Status::Ok, stdout, stderr)
    }

    #[test]
    fn budget_cuts_name_the_first_commands_and_count_the_rest() {
        let mut results: Vec<TaskResult> =
            (0..7).map(|i| result(&format!("c{i}"), "x", "")).collect();
        assert_eq!(budget_cuts(&results), None);
        for r in &mut results[..6] {
            r.budget_cut = Some(crate::exec::BudgetCut {
                kept: 2048,
                fingerprint: String::new(),
            });
        }
        assert_eq!(
            budget_cuts(&results).unwrap(),
            "6 of 7 commands kept 2.0 KiB of stdout and of stderr each (the first and last halves): `c0`, `c1`, `c2`, `c3`, `c4`, 1 more"
        );
    }

    #[test]
    fn fitting_is_needed_only_for_long_or_too_much_output() {
        let results = [result("a", "short\n", ""), result("b", "", "err\n")];
        assert!(!needed(&results, None, 100));
        assert!(!needed(&results, Some(64), 100));
        assert!(
            needed(&results, Some(3), 100),
            "an output over attach_output_over"
        );
        assert!(needed(&results, None, 5), "more output than the budget");
        assert_eq!(total(&results), 10);
    }

    #[test]
    fn long_outputs_are_attached_with_their_head_in_the_body() {
        let long: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        let results = [
            result("df -h", &long, ""),
            result("short", "tiny\n", ""),
            result("df -h", "", &long),
        ];
        let fitted = fit("disk-usage", &results, Some(64), MESSAGE_LIMIT);
        let names: Vec<&str> = fitted.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["disk-usage.df-h.txt", "disk-usage.df-h.stderr.txt"]);
        assert_eq!(fitted.attachments[0].content, long);
        let first = &fitted.results[0];
        assert_eq!(
            first.stdout_attachment.as_deref(),
            Some("disk-usage.df-h.txt")
        );
        assert!(first.stdout.starts_with("line 1\n"), "{}", first.stdout);
        assert!(first.stdout.contains("line 20\n"), "{}", first.stdout);
        assert!(!first.stdout.contains("line 21\n"), "{}", first.stdout);
        assert!(
            first
                .stdout
                .ends_with("[... 100 lines, 792 B in all: the whole output is attached as disk-usage.df-h.txt]\n"),
            "{}",
            first.stdout
        );
        assert_eq!(fitted.results[1].stdout, "tiny\n");
        assert_eq!(fitted.results[1].stdout_attachment, None);
        assert_eq!(
            fitted.results[2].stderr_attachment.as_deref(),
            Some("disk-usage.df-h.stderr.txt")
        );
        assert!(fitted.cuts.is_empty());
    }

    #[test]
    fn empty_outputs_are_never_attached() {
        let fitted = fit("j", &[result("quiet", "", "")], Some(0), MESSAGE_LIMIT);
        assert!(fitted.attachments.is_empty());
        assert_eq!(fitted.results[0].stdout_attachment, None);
    }

    #[test]
    fn names_are_safe_and_unique() {
        let mut on_host = result("cat /etc/passwd | wc", "x".repeat(10).as_str(), "");
        on_host.core.host = Some("admin@db1:2222".into());
        let results = [on_host.clone(), on_host, result("***", "yyyyyyyyyy", "")];
        let fitted = fit("j", &results, Some(1), MESSAGE_LIMIT);
        let names: Vec<&str> = fitted.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "j.cat-etc-passwd-wc.admin-db1-2222.txt",
                "j.cat-etc-passwd-wc.admin-db1-2222-2.txt",
                "j.output.txt"
            ]
        );
    }

    #[test]
    fn the_limit_is_said_as_it_is() {
        assert_eq!(LIMIT_TEXT, format!("{} MiB", MESSAGE_LIMIT >> 20));
        assert_eq!(MESSAGE_LIMIT % (1 << 20), 0);
    }

    #[test]
    fn the_largest_outputs_are_cut_to_the_budget() {
        let big = "a".repeat(10_000);
        let results = [
            result("big", &big, "small err\n"),
            result("medium", &"b".repeat(3000), ""),
        ];
        let fitted = fit("j", &results, Some(5000), 4000);
        let total: usize = fitted
            .results
            .iter()
            .map(|r| r.stdout.len() + r.stderr.len())
            .chain(fitted.attachments.iter().map(|a| a.content.len()))
            .sum();
        // The markers add a little; the outputs themselves fit.
        assert!(total < 4000 + 3 * 80, "{total}");
        assert_eq!(fitted.results[0].stderr, "small err\n");
        assert!(
            fitted.attachments[0]
                .content
                .contains("bytes cut to keep the message under 9 MiB"),
            "{}",
            fitted.attachments[0].content
        );
        assert_eq!(
            fitted.cuts[1], "stdout of `medium`: 2.9 KiB cut to 1.3 KiB",
            "{:?}",
            fitted.cuts
        );
        assert!(
            fitted.cuts[2].starts_with("attachment j.big.txt: 9.8 KiB cut to "),
            "{:?}",
            fitted.cuts
        );
    }

    #[test]
    fn cuts_respect_characters() {
        let text = "é".repeat(1000);
        let cut = cut_middle(&text, 101);
        assert!(cut.starts_with("éé") && cut.ends_with("éé"), "{cut}");
        assert_eq!(cap(&[10, 10], 20), None);
        assert_eq!(cap(&[5, 100, 100], 105), Some(50));
    }
}
