//! From a job's report context to its messages: rendering the templates (falling back to
//! the built-in one when a template fails, so the report still goes out) and building the
//! RFC 5322 message with its identity headers.

use chrono::{DateTime, FixedOffset};
use lettre::Message;
use tracing::error;

use crate::address::AddressSpec;
use crate::attachments::{self, MESSAGE_LIMIT};
use crate::config::Config;
use crate::helpers::format_bytes;
use crate::job::{DEFAULT_SUBJECT, DEFAULT_TEMPLATE, Job};
use crate::mail::{self, Draft, Stamp};
use crate::report::Context;
use crate::template::Templates;

/// A message ready to send, with the name its file gets in an outbox or spool.
pub struct Composed {
    pub message: Message,
    pub name: String,
    pub date: DateTime<FixedOffset>,
    /// The rendered HTML body, for `preview --html`.
    pub html: Option<String>,
}

/// Renders `job`'s report into its messages. The flag says whether something was wrong
/// with the configuration (a template that failed, an address that does not parse).
pub fn compose(
    job: &Job,
    context: &Context<'_>,
    templates: &Templates,
    config: &Config,
    to_override: &[AddressSpec],
    run_id: &str,
) -> (Vec<Composed>, bool) {
    let stamp = Stamp {
        job: &job.name,
        status: context.summary.status,
        message_id: format!("<{run_id}.{}@{}>", job.name, context.host.fqdn),
        date: config.timezone.now(),
    };
    let (built, errors) = fitted(job, context, templates, config, to_override, &stamp);
    for e in &errors {
        error!("{e}");
    }
    let mut failed = !errors.is_empty();
    let mut messages = Vec::new();
    match built {
        Ok(Built { message, html }) => messages.push(Composed {
            message,
            name: format!("{run_id}.{}", job.name),
            date: stamp.date,
            html,
        }),
        Err(e) => {
            error!("{}: {e}; the report cannot be mailed", job.path.display());
            failed = true;
        }
    }
    (messages, failed)
}

/// A built message and the HTML body in it.
struct Built {
    message: Message,
    html: Option<String>,
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
        let fitted = attachments::fit(
            &job.name,
            &context.results,
            job.mail.attach_output_over,
            budget,
        );
        let context = context.with_results(fitted.results);
        let (mut draft, errors) = render(job, &context, templates, config, to_override);
        note_cuts(&mut draft, &fitted.cuts);
        draft.attachments = fitted.attachments;
        let message = match mail::build(&draft, stamp) {
            Ok(message) => message,
            Err(e) => return (Err(e), errors),
        };
        // Quoted-printable at most triples text: below a third of the limit, no need to measure.
        let raw = draft.text.len()
            + draft.html.as_ref().map_or(0, String::len)
            + draft
                .attachments
                .iter()
                .map(|a| a.content.len())
                .sum::<usize>();
        let size = if raw < MESSAGE_LIMIT / 3 {
            raw
        } else {
            message.formatted().len()
        };
        if size <= MESSAGE_LIMIT {
            return (
                Ok(Built {
                    message,
                    html: draft.html,
                }),
                errors,
            );
        }
        if tries == 3 || fitted.size == 0 {
            // What makes it large is the template itself: send the start of the text.
            let keep = attachments::floor_boundary(&draft.text, MESSAGE_LIMIT / 4);
            draft.text.truncate(keep);
            draft.text.push_str(&format!(
                "\n\n[... the report was cut here: with this template it came to {}, over the {} limit; the HTML version and attachments were left out]\n",
                format_bytes(size as f64),
                format_bytes(MESSAGE_LIMIT as f64)
            ));
            draft.html = None;
            draft.attachments.clear();
            let built = mail::build(&draft, stamp).map(|message| Built {
                message,
                html: None,
            });
            return (built, errors);
        }
        budget = (fitted.size as f64 * MESSAGE_LIMIT as f64 / size as f64 * 0.9) as usize;
    }
    unreachable!("the loop returns by its third try")
}

/// Says at the end of the body what was cut to keep the message small enough.
fn note_cuts(draft: &mut Draft, cuts: &[String]) {
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
    let mut header = |template: &str, fallback: &str| {
        templates
            .render_inline(template, context)
            .unwrap_or_else(|e| {
                errors.push(format!("{}: {e}", job.path.display()));
                templates
                    .render_inline(fallback, context)
                    .unwrap_or_else(|_| fallback.to_owned())
            })
    };
    let subject = header(&job.mail.subject, DEFAULT_SUBJECT);
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
        .render_text(&job.mail.template, context)
        .unwrap_or_else(|e| {
            errors.push(e.clone());
            let fallback = templates
                .render_text(DEFAULT_TEMPLATE, context)
                .unwrap_or_default();
            format!(
                "The template of this job failed, so the built-in one was used:\n{e}\n\n{fallback}"
            )
        });
    let html = templates
        .render_html(&job.mail.template, context)
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
