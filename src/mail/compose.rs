//! From a job's report context to its messages: rendering the templates (falling back to
//! the built-in one when a template fails, so the report still goes out) and building the
//! RFC 5322 message with its identity headers, fitted under the size limit.

use std::borrow::Cow;
use std::path::PathBuf;

use chrono::{DateTime, FixedOffset};
use lettre::Message;
use tracing::error;

use crate::config::address::{AddressError, AddressSpec, parse_mailbox};
use crate::config::hosts::HostSpec;
use crate::config::job::{DEFAULT_SUBJECT, DEFAULT_TEMPLATE};
use crate::config::{Config, Job};
use crate::history::alerting::Notice;
use crate::mail::fit::{self, MESSAGE_LIMIT, Measured};
use crate::mail::message::{BuildError, Built, Draft, Stamp, one_line};
use crate::render::{RenderError, Templates};
use crate::report::{Context, PreviousResult};

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

/// What went wrong while composing; the message still goes out where it can.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(transparent)]
    Render(#[from] RenderError),
    /// A header template (subject, address) of a job file.
    #[error("{}: {source}", path.display())]
    Header { path: PathBuf, source: RenderError },
    /// An address of a job file that rendered into something that is not one.
    #[error("{}: mail.{key}: {source}", path.display())]
    Address {
        path: PathBuf,
        key: &'static str,
        source: AddressError,
    },
    #[error("{}: {source}; the report cannot be mailed", path.display())]
    Build { path: PathBuf, source: BuildError },
}

/// What composing gave, and whether the configuration was at fault on the way (a template
/// that failed, an address that did not parse: each reported as it happened; the run
/// then exits 2).
pub struct Composition<T> {
    pub messages: T,
    pub broken: bool,
}

/// What every message of a run is composed with.
pub struct Composer<'a> {
    pub templates: &'a Templates,
    pub config: &'a Config,
    /// `--to`: every report goes here instead of its recipients (and without Cc).
    pub to: &'a [AddressSpec],
    pub run_id: &'a str,
}

impl Composer<'_> {
    /// Renders `job`'s report into its messages: one, or with `mail.per_host` one per host,
    /// each seeing only that host's results and the host as `node`. `notice` marks a
    /// reminder in the subject and adds the recipients of escalation.
    pub fn job(
        &self,
        job: &Job,
        context: &Context<'_>,
        notice: &Notice,
    ) -> Composition<Vec<Composed>> {
        let contexts = if job.mail.per_host {
            per_host(context).into_iter().map(Cow::Owned).collect()
        } else {
            vec![Cow::Borrowed(context)]
        };
        let date = self.config.timezone.now();
        let mut broken = false;
        let mut messages = Vec::new();
        for context in contexts {
            let name = match &context.node {
                Some(node) => format!("{}.{}.{}", self.run_id, job.name, id_part(node)),
                None => format!("{}.{}", self.run_id, job.name),
            };
            let stamp = Stamp {
                job: &job.name,
                status: context.summary.status,
                message_id: format!("<{name}@{}>", context.host.fqdn),
                date,
            };
            let (built, errors) = self.fitted(job, &context, &stamp, notice);
            let built = built.map_err(|source| ComposeError::Build {
                path: job.path.clone(),
                source,
            });
            for e in errors.iter().chain(built.as_ref().err()) {
                error!("{e}");
            }
            broken |= !errors.is_empty() || built.is_err();
            if let Ok(Built { message, html }) = built {
                messages.push(Composed {
                    message,
                    name,
                    date,
                    html,
                });
            }
        }
        Composition { messages, broken }
    }

    /// The recipients of a message that would go to `own`, unless `--to` says otherwise.
    pub fn recipients<'s>(&'s self, own: &'s [AddressSpec]) -> &'s [AddressSpec] {
        if self.to.is_empty() { own } else { self.to }
    }

    /// Renders and builds the message with the outputs fitted into [`MESSAGE_LIMIT`]. A
    /// message still too large (a template that repeats the output) is measured and built
    /// again with proportionally less output. Returns it with the render errors.
    fn fitted(
        &self,
        job: &Job,
        context: &Context<'_>,
        stamp: &Stamp<'_>,
        notice: &Notice,
    ) -> (Result<Built, BuildError>, Vec<ComposeError>) {
        // Headers, the template's own text and the transfer encoding rarely take more than
        // a quarter.
        let mut budget = MESSAGE_LIMIT / 4 * 3;
        let attach_over = job.mail.attach_output_over;
        for tries in 1.. {
            let fitted = fit::needed(&context.results, attach_over, budget)
                .then(|| fit::fit(&job.name, &context.results, attach_over, budget));
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
                    fit::total(&context.results),
                ),
            };
            let (mut draft, errors) = self.render(job, view, notice);
            fit::note_cuts(&mut draft, &cuts);
            let budget_cuts: Vec<String> = fit::budget_cuts(&context.results).into_iter().collect();
            fit::note_budget_cuts(&mut draft, &budget_cuts);
            draft.attachments = attached;
            let size = match fit::measure(draft, stamp) {
                Ok(Measured::Fits(built)) => return (Ok(built), errors),
                Ok(Measured::Over { draft, size }) if tries == 3 || fitted_size == 0 => {
                    // What makes it large is the template itself: send the start of the text.
                    return (fit::cut(draft, size, stamp), errors);
                }
                Ok(Measured::Over { size, .. }) => size,
                Err(e) => return (Err(e), errors),
            };
            budget = (fitted_size as f64 * MESSAGE_LIMIT as f64 / size as f64 * 0.9) as usize;
        }
        unreachable!("the loop returns by its third try")
    }

    /// Renders a job's message; a template that fails falls back to the built-in one (with
    /// the error on top), so the report still goes out. Returns what failed.
    fn render(
        &self,
        job: &Job,
        context: &Context<'_>,
        notice: &Notice,
    ) -> (Draft, Vec<ComposeError>) {
        let templates = self.templates;
        let mut errors = Vec::new();
        // The context is converted for Handlebars once, for the body and every header.
        let recovered = context.run.recovered;
        let prepared = Templates::prepare(context).unwrap_or_else(|e| {
            errors.push(e.into());
            handlebars::Context::wraps(serde_json::Value::Null).expect("null converts")
        });
        let context = &prepared;
        let mut subject = templates
            .render_inline_in(&job.mail.subject, context)
            .unwrap_or_else(|source| {
                errors.push(ComposeError::Header {
                    path: job.path.clone(),
                    source,
                });
                templates
                    .render_inline_in(DEFAULT_SUBJECT, context)
                    .unwrap_or_else(|_| DEFAULT_SUBJECT.to_owned())
            });
        // A subject that does not say so itself is marked: the recovery mail of an
        // on-failure job must not read like another alert.
        if recovered && !job.mail.subject.contains("run.recovered") {
            subject.insert_str(0, RECOVERED);
        }
        subject.push_str(&notice.subject_suffix());
        let addresses = self.addresses(job, context, &notice.also_to, &mut errors);
        let mut text = templates
            .render_text_in(&job.mail.template, context)
            .unwrap_or_else(|e| {
                let fallback = templates
                    .render_text_in(DEFAULT_TEMPLATE, context)
                    .unwrap_or_default();
                let text = format!(
                    "The template of this job failed, so the built-in one was used:\n{e}\n\n{fallback}"
                );
                errors.push(e.into());
                text
            });
        if !addresses.problems.is_empty() {
            let heading = if addresses.misrouted {
                "This report could not go to its recipients, so it came to the config's mail.to:"
            } else {
                "An address of this report was invalid, so the config's was used or it was left out:"
            };
            text = format!("{heading}\n{}\n\n{text}", addresses.problems.join("\n"));
        }
        let html = templates
            .render_html_in(&job.mail.template, context)
            .and_then(|html| html.map_err(|e| errors.push(e.into())).ok());
        let Addresses {
            from,
            to,
            cc,
            reply_to,
            ..
        } = addresses;
        let draft = Draft {
            from,
            to,
            cc,
            reply_to,
            subject,
            text,
            html,
            attachments: Vec::new(),
        };
        (draft, errors)
    }
    /// Renders the addresses of `job`'s message. One that fails to render, or renders into
    /// something that is not an address, is replaced: a recipient sends the report to the
    /// config's `mail.to` instead (a report is never dropped for it), a sender by the
    /// config's `mail.from`, a Reply-To is left out. Each such failure is in `errors`.
    /// `also_to` (escalation) is added to the recipients, unless `--to` replaces them.
    fn addresses(
        &self,
        job: &Job,
        context: &handlebars::Context,
        also_to: &[AddressSpec],
        errors: &mut Vec<ComposeError>,
    ) -> Addresses {
        let first_error = errors.len();
        let mut address = |template: &str, key: &'static str| -> Option<String> {
            let error = match self.templates.render_inline_in(template, context) {
                Ok(rendered) => match parse_mailbox(&one_line(&rendered)) {
                    Ok(_) => return Some(rendered),
                    Err(source) => ComposeError::Address {
                        path: job.path.clone(),
                        key,
                        source,
                    },
                },
                Err(source) => ComposeError::Header {
                    path: job.path.clone(),
                    source,
                },
            };
            errors.push(error);
            None
        };
        let from = address(job.mail.from.as_str(), "from");
        let also_to = if self.to.is_empty() { also_to } else { &[] };
        let to: Vec<Option<String>> = self
            .recipients(&job.mail.to)
            .iter()
            .chain(also_to.iter().filter(|a| !job.mail.to.contains(a)))
            .map(|a| address(a.as_str(), "to"))
            .collect();
        let cc: Vec<Option<String>> = match self.to.is_empty() {
            true => job
                .mail
                .cc
                .iter()
                .map(|a| address(a.as_str(), "cc"))
                .collect(),
            false => Vec::new(),
        };
        let reply_to = job
            .mail
            .reply_to
            .as_ref()
            .and_then(|a| address(a.as_str(), "reply_to"));
        let config = |template: &str| {
            self.templates
                .render_inline_in(template, context)
                .unwrap_or_else(|_| template.to_owned())
        };
        let misrouted = to.iter().chain(&cc).any(Option::is_none);
        let (to, cc) = if misrouted {
            let admins = self.config.mail.to.iter().map(|a| config(a.as_str()));
            (admins.collect(), Vec::new())
        } else {
            (
                to.into_iter().flatten().collect(),
                cc.into_iter().flatten().collect(),
            )
        };
        Addresses {
            from: from.unwrap_or_else(|| config(self.config.mail.from.as_str())),
            to,
            cc,
            reply_to,
            misrouted,
            problems: errors[first_error..]
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }
}

/// The addresses of a message, and why any of them is not the job's own.
struct Addresses {
    from: String,
    to: Vec<String>,
    cc: Vec<String>,
    reply_to: Option<String>,
    /// The recipients are the config's, not the job's.
    misrouted: bool,
    problems: Vec<String>,
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
                    .filter(|r| r.core.host.as_deref() == Some(host.name.as_str()))
                    .cloned()
                    .collect()
            };
            Context {
                job: context.job.clone(),
                host: context.host.clone(),
                results: host.results.clone(),
                hosts: vec![host.clone()],
                summary: host.summary.clone(),
                run: context.run.clone(),
                previous: context.previous.as_deref().map(on_host),
                disk_history: context.disk_history.clone(),
                node: Some(host.name.clone()),
                section: context.section,
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
