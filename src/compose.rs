//! From a job's report context to its messages: rendering the templates (falling back to
//! the built-in one when a template fails, so the report still goes out) and building the
//! RFC 5322 message with its identity headers.

use chrono::{DateTime, FixedOffset};
use lettre::Message;
use tracing::error;

use crate::address::AddressSpec;
use crate::config::Config;
use crate::error::ConfigError;
use crate::facts::Facts;
use crate::job::{DEFAULT_SUBJECT, DEFAULT_TEMPLATE, Job, job_name};
use crate::mail::{self, Draft, Stamp};
use crate::report::{Context, Status};
use crate::template::Templates;

/// A message ready to send, with the name its file gets in an outbox or spool.
pub struct Composed {
    pub message: Message,
    pub name: String,
    pub date: DateTime<FixedOffset>,
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
    let (draft, mut failed) = render(job, context, templates, config, to_override);
    let stamp = Stamp {
        job: &job.name,
        status: context.summary.status,
        message_id: format!("<{run_id}.{}@{}>", job.name, context.host.fqdn),
        date: config.timezone.now(),
    };
    let mut messages = Vec::new();
    match mail::build(&draft, &stamp) {
        Ok(message) => messages.push(Composed {
            message,
            name: format!("{run_id}.{}", job.name),
            date: stamp.date,
        }),
        Err(e) => {
            error!("{}: {e}; the report cannot be mailed", job.path.display());
            failed = true;
        }
    }
    (messages, failed)
}

/// Renders a job's message; a template that fails falls back to the built-in one (with the
/// error on top), so the report still goes out. The flag says whether anything failed.
fn render(
    job: &Job,
    context: &Context<'_>,
    templates: &Templates,
    config: &Config,
    to_override: &[AddressSpec],
) -> (Draft, bool) {
    let mut failed = false;
    let mut header = |template: &str, fallback: &str| {
        templates
            .render_inline(template, context)
            .unwrap_or_else(|e| {
                error!("{}: {e}", job.path.display());
                failed = true;
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
            error!("{e}");
            failed = true;
            let fallback = templates
                .render_text(DEFAULT_TEMPLATE, context)
                .unwrap_or_default();
            format!(
                "The template of this job failed, so the built-in one was used:\n{e}\n\n{fallback}"
            )
        });
    let html = templates
        .render_html(&job.mail.template, context)
        .and_then(|html| {
            html.map_err(|e| {
                error!("{e}");
                failed = true;
            })
            .ok()
        });
    (
        Draft {
            from,
            to,
            cc,
            reply_to,
            subject,
            text,
            html,
        },
        failed,
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
        }),
        Err(e) => {
            error!("cannot mail the configuration problems: {e}");
            None
        }
    }
}
