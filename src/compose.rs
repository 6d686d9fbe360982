//! From a job's report context to its messages: rendering the templates (falling back to
//! the built-in one when a template fails, so the report still goes out) and building the
//! RFC 5322 message with its identity headers.

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset};
use lettre::Message;
use tracing::error;

use crate::address::AddressSpec;
use crate::attachments::{self, MESSAGE_LIMIT};
use crate::config::Config;
use crate::error::ConfigError;
use crate::facts::Facts;
use crate::helpers::format_bytes;
use crate::hosts::HostSpec;
use crate::job::{DEFAULT_SUBJECT, DEFAULT_TEMPLATE, Job, job_name};
use crate::mail::{self, Draft, Stamp};
use crate::report::{Context, PreviousResult, Status};
use crate::template::Templates;

/// What the subject of a recovery mail starts with, unless its template uses `run.recovered`.
pub const RECOVERED: &str = "[recovered] ";

/// A message ready to send, with the name its file gets in an outbox or spool.
pub struct Composed {
    pub message: Message,
    pub name: String,
    pub date: DateTime<FixedOffset>,
    /// The rendered HTML body, for `preview --html`.
    pub html: Option<String>,
}

/// Renders `job`'s report into its messages: one, or with `mail.per_host` one per host,
/// each seeing only that host's results and the host as `node`. The flag says whether
/// something was wrong with the configuration (a template that failed, an address that
/// does not parse).
pub fn compose(
    job: &Job,
    context: &Context<'_>,
    templates: &Templates,
    config: &Config,
    to_override: &[AddressSpec],
    run_id: &str,
) -> (Vec<Composed>, bool) {
    let contexts = if job.mail.per_host {
        per_host(context).into_iter().map(Cow::Owned).collect()
    } else {
        vec![Cow::Borrowed(context)]
    };
    let date = config.timezone.now();
    let mut failed = false;
    let mut messages = Vec::new();
    for context in contexts {
        let name = match &context.node {
            Some(node) => format!("{run_id}.{}.{}", job.name, id_part(node)),
            None => format!("{run_id}.{}", job.name),
        };
        let stamp = Stamp {
            job: &job.name,
            status: context.summary.status,
            message_id: format!("<{name}@{}>", context.host.fqdn),
            date,
        };
        let (built, errors) = fitted(job, &context, templates, config, to_override, &stamp);
        for e in &errors {
            error!("{e}");
        }
        failed |= !errors.is_empty();
        match built {
            Ok(Built { message, html }) => messages.push(Composed {
                message,
                name,
                date,
                html,
            }),
            Err(e) => {
                error!("{}: {e}; the report cannot be mailed", job.path.display());
                failed = true;
            }
        }
    }
    (messages, failed)
}

/// One context per host, in the order the job lists them, each with only that host's
/// results; a job without `hosts:` runs here, and its one message is about `localhost`.
fn per_host<'a>(context: &Context<'a>) -> Vec<Context<'a>> {
    if context.hosts.is_empty() {
        return vec![Context {
            node: Some(HostSpec::Local.to_string()),
            ..context.clone()
        }];
    }
    context
        .hosts
        .iter()
        .map(|host| {
            let on_host = |results: &[PreviousResult]| -> Vec<PreviousResult> {
                results
                    .iter()
                    .filter(|r| r.host.as_deref() == Some(host.name.as_str()))
                    .cloned()
                    .collect()
            };
            Context {
                job: context.job.clone(),
                host: context.host,
                results: host.results.clone(),
                hosts: vec![host.clone()],
                summary: host.summary.clone(),
                run: context.run.clone(),
                previous: context.previous.as_deref().map(on_host),
                disk_history: context.disk_history.clone(),
                node: Some(host.name.clone()),
            }
        })
        .collect()
}

/// `host` made fit for a Message-ID and a file name: characters other than letters, digits,
/// `-`, `_` and single inner dots become `=XX`, so different hosts stay different.
fn id_part(host: &str) -> String {
    let mut part = String::with_capacity(host.len());
    let bytes = host.as_bytes();
    for (i, &byte) in bytes.iter().enumerate() {
        let inner_dot = byte == b'.' && i > 0 && i + 1 < bytes.len() && bytes[i - 1] != b'.';
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' || inner_dot {
            part.push(char::from(byte));
        } else {
            part.push_str(&format!("={byte:02X}"));
        }
    }
    part
}

/// A built message and the HTML body in it.
pub(crate) struct Built {
    pub message: Message,
    pub html: Option<String>,
}

/// Renders and builds the message with the outputs fitted into [`MESSAGE_LIMIT`]. A
/// message still too large (a template that repeats the output) is measured and built
/// again with proportionally less output. Returns it with the render errors.
fn fitted(
    job: &Job,
    context: &Context<'_>,
    templates: &Templates,
    config: &Config,
    to_override: &[AddressSpec],
    stamp: &Stamp<'_>,
) -> (Result<Built, String>, Vec<String>) {
    // Headers, the template's own text and the transfer encoding rarely take more than
    // a quarter.
    let mut budget = MESSAGE_LIMIT / 4 * 3;
    for tries in 1.. {
        let attach_over = job.mail.attach_output_over;
        let fitted = attachments::needed(&context.results, attach_over, budget)
            .then(|| attachments::fit(&job.name, &context.results, attach_over, budget));
        let refitted;
        let (view, cuts, attached, fitted_size) = match fitted {
            Some(fitted) => {
                refitted = context.with_results(fitted.results);
                (&refitted, fitted.cuts, fitted.attachments, fitted.size)
            }
            None => (
                context,
                Vec::new(),
                Vec::new(),
                attachments::total(&context.results),
            ),
        };
        let (mut draft, errors) = render(job, view, templates, config, to_override);
        note_cuts(&mut draft, &cuts);
        draft.attachments = attached;
        let message = match mail::build(&draft, stamp) {
            Ok(message) => message,
            Err(e) => return (Err(e), errors),
        };
        let size = size(&draft, &message);
        if size <= MESSAGE_LIMIT {
            return (
                Ok(Built {
                    message,
                    html: draft.html,
                }),
                errors,
            );
        }
        if tries == 3 || fitted_size == 0 {
            // What makes it large is the template itself: send the start of the text.
            return (cut(draft, size, stamp), errors);
        }
        budget = (fitted_size as f64 * MESSAGE_LIMIT as f64 / size as f64 * 0.9) as usize;
    }
    unreachable!("the loop returns by its third try")
}

/// The size of `message`, built from `draft`; measured only when it may be near the limit.
pub(crate) fn size(draft: &Draft, message: &Message) -> usize {
    // Quoted-printable at most triples text: below a third of the limit, no need to measure.
    let raw = draft.text.len()
        + draft.html.as_ref().map_or(0, String::len)
        + draft
            .attachments
            .iter()
            .map(|a| a.content.len())
            .sum::<usize>();
    if raw < MESSAGE_LIMIT / 3 {
        raw
    } else {
        message.formatted().len()
    }
}

/// The message with only the start of its text, for a template that makes it too large
/// by itself (`size` bytes).
pub(crate) fn cut(mut draft: Draft, size: usize, stamp: &Stamp<'_>) -> Result<Built, String> {
    let keep = attachments::floor_boundary(&draft.text, MESSAGE_LIMIT / 4);
    draft.text.truncate(keep);
    draft.text.push_str(&format!(
        "\n\n[... the report was cut here: with this template it came to {}, over the {} limit; the HTML version and attachments were left out]\n",
        format_bytes(size as f64),
        format_bytes(MESSAGE_LIMIT as f64)
    ));
    draft.html = None;
    draft.attachments.clear();
    mail::build(&draft, stamp).map(|message| Built {
        message,
        html: None,
    })
}

/// Says at the end of the body what was cut to keep the message small enough.
pub(crate) fn note_cuts(draft: &mut Draft, cuts: &[String]) {
    if cuts.is_empty() {
        return;
    }
    let limit = format_bytes(MESSAGE_LIMIT as f64);
    let mut text = format!("\n\nCut to keep this message under {limit}:\n");
    for cut in cuts {
        text.push_str(&format!("- {cut}\n"));
    }
    draft.text.push_str(&text);
    if let Some(html) = &mut draft.html {
        let mut note = format!("<p>Cut to keep this message under {limit}:</p>\n<ul>\n");
        for cut in cuts {
            note.push_str(&format!("<li>{}</li>\n", handlebars::html_escape(cut)));
        }
        note.push_str("</ul>\n");
        match html.rfind("</body>") {
            Some(at) => html.insert_str(at, &note),
            None => html.push_str(&note),
        }
    }
}

/// Renders a job's message; a template that fails falls back to the built-in one (with the
/// error on top), so the report still goes out. Returns what failed.
fn render(
    job: &Job,
    context: &Context<'_>,
    templates: &Templates,
    config: &Config,
    to_override: &[AddressSpec],
) -> (Draft, Vec<String>) {
    let mut errors = Vec::new();
    // The context is converted for Handlebars once, for the body and every header.
    let recovered = context.run.recovered;
    let prepared = Templates::prepare(context).unwrap_or_else(|e| {
        errors.push(e);
        handlebars::Context::wraps(serde_json::Value::Null).expect("null converts")
    });
    let context = &prepared;
    let mut header = |template: &str, fallback: &str| {
        templates
            .render_inline_in(template, context)
            .unwrap_or_else(|e| {
                errors.push(format!("{}: {e}", job.path.display()));
                templates
                    .render_inline_in(fallback, context)
                    .unwrap_or_else(|_| fallback.to_owned())
            })
    };
    let mut subject = header(&job.mail.subject, DEFAULT_SUBJECT);
    // A subject that does not say so itself is marked: the recovery mail of an
    // on-failure job must not read like another alert.
    if recovered && !job.mail.subject.contains("run.recovered") {
        subject.insert_str(0, RECOVERED);
    }
    let from = header(job.mail.from.as_str(), config.mail.from.as_str());
    let recipients = if to_override.is_empty() {
        &job.mail.to
    } else {
        to_override
    };
    // An address template that fails to render falls back to the config's first recipient.
    let admin = config.mail.to[0].as_str();
    let to: Vec<String> = recipients
        .iter()
        .map(|a| header(a.as_str(), admin))
        .collect();
    let cc: Vec<String> = if to_override.is_empty() {
        job.mail
            .cc
            .iter()
            .map(|a| header(a.as_str(), admin))
            .collect()
    } else {
        Vec::new()
    };
    let reply_to = job
        .mail
        .reply_to
        .as_ref()
        .map(|a| header(a.as_str(), admin));

    let text = templates
        .render_text_in(&job.mail.template, context)
        .unwrap_or_else(|e| {
            errors.push(e.clone());
            let fallback = templates
                .render_text_in(DEFAULT_TEMPLATE, context)
                .unwrap_or_default();
            format!(
                "The template of this job failed, so the built-in one was used:\n{e}\n\n{fallback}"
            )
        });
    let html = templates
        .render_html_in(&job.mail.template, context)
        .and_then(|html| html.map_err(|e| errors.push(e)).ok());
    (
        Draft {
            from,
            to,
            cc,
            reply_to,
            subject,
            text,
            html,
            attachments: Vec::new(),
        },
        errors,
    )
}

/// A message to the config's `mail.to` listing configuration problems that kept jobs from
/// running. Built without user templates (they may be what is broken).
pub fn problems_report(
    problems: &[ConfigError],
    config: &Config,
    templates: &Templates,
    facts: &Facts,
    run_id: &str,
) -> Option<Composed> {
    let context = serde_json::json!({ "host": facts });
    let address = |spec: &AddressSpec| {
        templates
            .render_inline(spec.as_str(), &context)
            .unwrap_or_else(|_| spec.as_str().to_owned())
    };
    let mut jobs: Vec<String> = problems
        .iter()
        .filter_map(|p| {
            p.path
                .file_name()?
                .to_str()
                .and_then(job_name)
                .map(str::to_owned)
        })
        .collect();
    jobs.dedup();
    let count = problems.len();
    let plural = if count == 1 { "" } else { "s" };
    let mut text = format!(
        "reporter found {count} configuration problem{plural} on {}.\n\
         The jobs they belong to did not run; the others did.\n\
         Fix them and confirm with `reporter check`.\n\n",
        facts.fqdn
    );
    for problem in problems {
        text.push_str(&format!("{problem}\n"));
    }
    let draft = Draft {
        from: address(&config.mail.from),
        to: config.mail.to.iter().map(address).collect(),
        cc: Vec::new(),
        reply_to: None,
        subject: format!(
            "reporter on {}: {count} configuration problem{plural}",
            facts.hostname
        ),
        text,
        html: None,
        attachments: Vec::new(),
    };
    let label = if jobs.is_empty() {
        "reporter".to_owned()
    } else {
        jobs.join(", ")
    };
    let stamp = Stamp {
        job: &label,
        status: Status::Error,
        message_id: format!("<{run_id}.problems@{}>", facts.fqdn),
        date: config.timezone.now(),
    };
    match mail::build(&draft, &stamp) {
        Ok(message) => Some(Composed {
            message,
            name: format!("{run_id}.problems"),
            date: stamp.date,
            html: None,
        }),
        Err(e) => {
            error!("cannot mail the configuration problems: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_become_distinct_id_parts() {
        assert_eq!(id_part("web1.example.com"), "web1.example.com");
        assert_eq!(id_part("admin@db1:2222"), "admin=40db1=3A2222");
        assert_eq!(id_part("[::1]:22"), "=5B=3A=3A1=5D=3A22");
        assert_eq!(id_part(".a..b."), "=2Ea.=2Eb=2E");
        assert_ne!(id_part("a@b"), id_part("a=40b"));
    }
}
