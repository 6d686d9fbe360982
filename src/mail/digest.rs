//! `--digest`: the reports of all selected jobs in one message, a section each, for a
//! cron.daily that should send one morning mail instead of ten.
//!
//! Each job's section is cut down when the job finishes (its outputs fitted into its share
//! of the message budget), so a run holds no more output than one message can carry.

use std::borrow::Cow;
use std::cmp::Reverse;

use serde::{Serialize, Serializer};
use tracing::error;

use crate::config::Job;
use crate::config::address::AddressSpec;
use crate::config::job::DEFAULT_TEMPLATE;
use crate::mail::compose::{ComposeError, Composed, Composer, Composition};
use crate::mail::fit::{self, MESSAGE_LIMIT};
use crate::mail::message::{Attachment, Built, Draft, Stamp};
use crate::render::{DIGEST_TEMPLATE, Templates};
use crate::report::{
    Context, Facts, HostReport, JobInfo, PreviousResult, RunInfo, Status, Summary, TaskResult,
};

/// One job's section: its own report (its text and HTML templates, rendered with
/// `section: true`), outputs fitted.
#[derive(Debug)]
pub struct Section {
    pub job: JobInfo,
    /// The job's context with the fitted outputs, `section` set.
    context: Context<'static>,
    template: String,
    /// The job's report rendered, once the digest is composed.
    text: String,
    html: Option<String>,
    attachments: Vec<Attachment>,
    cuts: Vec<String>,
}

/// What the digest template sees of a section: `job`, `summary`, `results`, `hosts`, `run`,
/// `previous` as in the job's own context, and its report as `text` and `html` (null when
/// the job has no HTML template).
#[derive(Serialize)]
struct SectionView<'s> {
    job: &'s JobInfo,
    summary: &'s Summary,
    results: &'s [TaskResult],
    hosts: &'s [HostReport],
    run: &'s RunInfo,
    previous: &'s Option<Vec<PreviousResult>>,
    text: &'s str,
    html: Option<&'s str>,
}

impl Serialize for Section {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let c = &self.context;
        SectionView {
            job: &c.job,
            summary: &c.summary,
            results: &c.results,
            hosts: &c.hosts,
            run: &c.run,
            previous: &c.previous,
            text: &self.text,
            html: self.html.as_deref(),
        }
        .serialize(serializer)
    }
}

impl Section {
    /// Where the window of the section's job starts (`run.since`).
    pub fn since(&self) -> &str {
        &self.context.run.since
    }

    /// `job`'s section, its outputs fitted into an equal share of the message for each of
    /// the `jobs` selected.
    pub fn of(job: &Job, context: &Context<'_>, jobs: usize) -> Section {
        let budget = MESSAGE_LIMIT / 4 * 3 / jobs.max(1);
        let fitted = fit::fit(
            &job.name,
            &context.results,
            job.mail.attach_output_over,
            budget,
        );
        let view = context.with_results(fitted.results);
        Section {
            job: view.job.clone(),
            context: Context {
                job: view.job,
                host: Cow::Owned(view.host.into_owned()),
                results: view.results,
                hosts: view.hosts,
                summary: view.summary,
                run: view.run,
                previous: view.previous,
                disk_history: view.disk_history,
                node: None,
                section: true,
            },
            template: job.mail.template.clone(),
            text: String::new(),
            html: None,
            attachments: fitted.attachments,
            cuts: fitted.cuts,
        }
    }

    /// Renders the job's templates into `text` and `html`; a text template that fails
    /// gives the built-in one's text, with the error on top.
    fn render(&mut self, templates: &Templates, errors: &mut Vec<ComposeError>) {
        let prepared = match Templates::prepare(&self.context) {
            Ok(prepared) => prepared,
            Err(e) => {
                self.text = format!("This report could not be rendered: {e}\n");
                errors.push(e.into());
                return;
            }
        };
        self.text = templates
            .render_text_in(&self.template, &prepared)
            .unwrap_or_else(|e| {
                let fallback = templates
                    .render_text_in(DEFAULT_TEMPLATE, &prepared)
                    .unwrap_or_default();
                let text = format!(
                    "The template of this job failed, so the built-in one was used:\n{e}\n\n{fallback}"
                );
                errors.push(e.into());
                text
            });
        // Sections are joined by the digest template: no trailing blank lines of their own.
        self.text.truncate(self.text.trim_end().len());
        self.text.push('\n');
        self.html = templates
            .render_html_in(&self.template, &prepared)
            .and_then(|html| html.map_err(|e| errors.push(e.into())).ok());
    }
}

/// `summary` of a digest: its jobs counted by their worst status.
#[derive(Debug, Serialize)]
struct DigestSummary {
    jobs: usize,
    ok: usize,
    failed: usize,
    timeout: usize,
    error: usize,
    recovered: usize,
    all_ok: bool,
    status: Status,
}

impl DigestSummary {
    fn of(sections: &[Section]) -> DigestSummary {
        let count = |s| {
            sections
                .iter()
                .filter(|x| x.context.summary.status == s)
                .count()
        };
        DigestSummary {
            jobs: sections.len(),
            ok: count(Status::Ok),
            failed: count(Status::Failed),
            timeout: count(Status::Timeout),
            error: count(Status::Error),
            recovered: sections.iter().filter(|x| x.context.run.recovered).count(),
            all_ok: sections.iter().all(|x| x.context.summary.all_ok),
            status: sections
                .iter()
                .map(|x| x.context.summary.status)
                .max()
                .unwrap_or_default(),
        }
    }

    /// `[web1] 7 jobs: 1 failed, 1 timeout`, or `[web1] 2 jobs: all ok`.
    fn subject(&self, hostname: &str) -> String {
        let mut parts: Vec<String> = [
            (self.failed, "failed"),
            (self.timeout, "timeout"),
            (self.error, "error"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if parts.is_empty() {
            parts.push("all ok".to_owned());
        }
        if self.recovered > 0 {
            parts.push(format!("{} recovered", self.recovered));
        }
        let plural = if self.jobs == 1 { "" } else { "s" };
        format!(
            "[{hostname}] {} job{plural}: {}",
            self.jobs,
            parts.join(", ")
        )
    }
}

/// What a digest says beyond its sections.
pub struct Notes<'a> {
    /// Recipients the jobs' `escalate:` steps add.
    pub also_to: &'a [AddressSpec],
    /// The silences and maintenance windows in force, one line each, listed at the top.
    pub silenced: &'a [String],
}

/// The context of the digest template.
#[derive(Debug, Serialize)]
struct DigestContext<'a> {
    host: &'a Facts,
    run: &'a RunInfo,
    summary: DigestSummary,
    jobs: &'a [Section],
}

impl Composer<'_> {
    /// The digest's text and HTML bodies; a text template that fails gives a plain list.
    fn digest_body(
        &self,
        prepared: &handlebars::Context,
        sections: &[Section],
        errors: &mut Vec<ComposeError>,
    ) -> (String, Option<String>) {
        let templates = self.templates;
        let text = templates
            .render_text_in(DIGEST_TEMPLATE, prepared)
            .unwrap_or_else(|e| {
                let mut text =
                    format!("The digest template failed, so this is a plain list:\n{e}\n\n");
                for section in sections {
                    let summary = &section.context.summary;
                    text.push_str(&format!(
                        "{}: {} ({} of {} ok)\n",
                        section.context.job.name,
                        summary.status.as_str(),
                        summary.ok,
                        summary.total
                    ));
                }
                errors.push(e.into());
                text
            });
        let html = templates
            .render_html_in(DIGEST_TEMPLATE, prepared)
            .and_then(|html| html.map_err(|e| errors.push(e.into())).ok());
        (text, html)
    }

    /// Who the digest goes to: the config's `mail.to` (or `--to`), and those the jobs'
    /// escalation adds (unless `--to` says otherwise).
    fn digest_to<'s>(&'s self, notes: &'s Notes<'_>) -> impl Iterator<Item = &'s AddressSpec> {
        let also_to = if self.to.is_empty() {
            notes.also_to
        } else {
            &[]
        };
        let own = &self.config.mail.to;
        self.recipients(own)
            .iter()
            .chain(also_to.iter().filter(move |a| !own.contains(a)))
    }

    /// The digest of `sections` (given in selection order; the worst status first, then
    /// in that order), from and to the config's addresses (or `--to`), with `notes`.
    pub fn digest(
        &self,
        mut sections: Vec<Section>,
        facts: &Facts,
        run: &RunInfo,
        notes: &Notes<'_>,
    ) -> Composition<Option<Composed>> {
        let mut errors: Vec<ComposeError> = Vec::new();
        sections.sort_by_key(|s| Reverse(s.context.summary.status));
        for section in &mut sections {
            section.render(self.templates, &mut errors);
        }
        let context = DigestContext {
            host: facts,
            run,
            summary: DigestSummary::of(&sections),
            jobs: &sections,
        };
        let templates = self.templates;
        // Converted for Handlebars once, for the body and every address.
        let prepared = Templates::prepare(&context).unwrap_or_else(|e| {
            errors.push(e.into());
            handlebars::Context::wraps(serde_json::Value::Null).expect("null converts")
        });
        let address = |spec: &AddressSpec| {
            templates
                .render_inline_in(spec.as_str(), &prepared)
                .unwrap_or_else(|_| spec.as_str().to_owned())
        };
        let (text, html) = self.digest_body(&prepared, &sections, &mut errors);
        let mut draft = Draft {
            from: address(&self.config.mail.from),
            to: self.digest_to(notes).map(address).collect(),
            cc: Vec::new(),
            reply_to: None,
            subject: context.summary.subject(&facts.hostname),
            text,
            html,
            attachments: Vec::new(),
        };
        note_silenced(&mut draft, notes.silenced);
        let summary_status = context.summary.status;
        let cuts: Vec<String> = sections.iter().flat_map(|s| s.cuts.clone()).collect();
        fit::note_cuts(&mut draft, &cuts);
        fit::note_budget_cuts(&mut draft, &budget_cuts(&sections));
        draft.attachments = sections.into_iter().flat_map(|s| s.attachments).collect();
        let name = format!("{}.digest", run.id);
        let stamp = Stamp {
            job: "digest",
            status: summary_status,
            message_id: format!("<{name}@{}>", facts.fqdn),
            date: self.config.timezone.now(),
        };
        for e in &errors {
            error!("{e}");
        }
        let built = fit::within_limit(draft, &stamp);
        match built {
            Ok(Built { message, html }) => Composition {
                messages: Some(Composed {
                    message,
                    name,
                    date: stamp.date,
                    html,
                }),
                broken: !errors.is_empty(),
            },
            Err(e) => {
                error!("the digest cannot be mailed: {e}");
                Composition {
                    messages: None,
                    broken: true,
                }
            }
        }
    }
}

/// Starts the body (text and HTML) with the silences in force: what the digest does not
/// say because it was silenced.
fn note_silenced(draft: &mut Draft, silenced: &[String]) {
    if silenced.is_empty() {
        return;
    }
    let heading = "Silenced now (no mail from these until then):";
    let mut text = format!("{heading}\n");
    for line in silenced {
        text.push_str(&format!("- {line}\n"));
    }
    text.push('\n');
    draft.text.insert_str(0, &text);
    if let Some(html) = &mut draft.html {
        let mut note = format!("<p>{}</p>\n<ul>\n", handlebars::html_escape(heading));
        for line in silenced {
            note.push_str(&format!("<li>{}</li>\n", handlebars::html_escape(line)));
        }
        note.push_str("</ul>\n");
        let at = html
            .find("<body")
            .and_then(|start| html[start..].find('>').map(|end| start + end + 1))
            .unwrap_or(0);
        html.insert_str(at, &note);
    }
}

/// What the output budget of each job of a digest cut, one line per job that was cut.
fn budget_cuts(sections: &[Section]) -> Vec<String> {
    sections
        .iter()
        .filter_map(|s| {
            fit::budget_cuts(&s.context.results).map(|cut| format!("{}: {cut}", s.job.name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(failed: usize, timeout: usize, error: usize, recovered: usize) -> DigestSummary {
        DigestSummary {
            jobs: 7,
            ok: 7 - failed - timeout - error,
            failed,
            timeout,
            error,
            recovered,
            all_ok: failed + timeout + error == 0,
            status: Status::Ok,
        }
    }

    #[test]
    fn subjects_count_the_jobs_that_went_wrong() {
        assert_eq!(
            summary(1, 0, 0, 0).subject("web1"),
            "[web1] 7 jobs: 1 failed"
        );
        assert_eq!(
            summary(2, 1, 1, 0).subject("web1"),
            "[web1] 7 jobs: 2 failed, 1 timeout, 1 error"
        );
        assert_eq!(
            summary(0, 0, 0, 1).subject("web1"),
            "[web1] 7 jobs: all ok, 1 recovered"
        );
        let one = DigestSummary {
            jobs: 1,
            ..summary(0, 0, 0, 0)
        };
        assert_eq!(one.subject("db"), "[db] 1 job: all ok");
    }
}
