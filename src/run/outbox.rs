//! Where a run's reports go once their jobs are finished: left out under their send rule,
//! kept for the digest, or composed and delivered (spool first) — or, for a preview,
//! printed. It owns every delivery of the run until the last one has settled, webhooks
//! (docs/monitoring.md) included: they follow their own send rules and take the spool like the mail.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{error, info, warn};

use crate::config::address::AddressSpec;
use crate::config::{ConfigError, Job};
use crate::deliver::{DeliveryError, FlushReport, Mailer, Stop};
use crate::history::{Decision, RunRecord};
use crate::mail::digest::{Notes, Section};
use crate::mail::message::write_mbox;
use crate::mail::{Composed, Composer};
use crate::monitor::outcome::JobOutcome;
use crate::monitor::webhook::HookComposer;
use crate::render::DIGEST_TEMPLATE;
use crate::report::{Context, Facts};
use crate::run::finish::{Finished, RunMeta};
use crate::run::options::Mode;
use crate::run::record::Recorder;
use crate::stdout;

/// How the delivery of a report's messages went; its jobs' records are written by then.
type Delivery = Result<(), DeliveryError>;

enum Destination {
    /// Every message goes to the mailer; what earlier runs left in the spool goes first.
    Relay {
        mailer: Arc<Mailer>,
        deliveries: JoinSet<Delivery>,
        flush: JoinHandle<FlushReport>,
    },
    /// A preview: the messages (or only their HTML bodies) by the selection order of their
    /// jobs, printed at the end.
    Print {
        html: bool,
        previews: Vec<(usize, Vec<u8>)>,
    },
}

/// The reports kept for `--digest`, by the selection order of their jobs, and their
/// records, written once the digest has been delivered or spooled.
struct Digest {
    sections: Vec<(usize, Section)>,
    records: Vec<RunRecord>,
    started: SystemTime,
    /// The recipients the jobs' `escalate:` steps add.
    also_to: Vec<AddressSpec>,
}

pub struct Outbox<'a> {
    composer: Composer<'a>,
    destination: Destination,
    digest: Option<Digest>,
    /// How many jobs share the message budget of a digest.
    jobs: usize,
    /// A template or address was broken, or `preview --html` had no HTML to show.
    broken: bool,
    /// Each job's outcome, by the selection order of the jobs, for `run --json`; `None`
    /// when nobody asked: the outcomes hold every output, kept to the end of the run.
    outcomes: Option<Vec<(usize, JobOutcome)>>,
}

/// Where a message's HTML comes from: its template, and the file to blame when
/// `preview --html` finds no such template.
struct HtmlOrigin<'p> {
    template: &'p str,
    blame: &'p Path,
}

impl<'a> Outbox<'a> {
    /// Opens the outbox of a run of `jobs` jobs; `outcomes`: keep each job's outcome for
    /// [`Closed::outcomes`]. Sending starts by flushing the spool, in the background while
    /// the commands run; deliveries are cut short once `stop` is asked.
    pub fn open(
        composer: Composer<'a>,
        mode: Mode,
        digest: bool,
        jobs: usize,
        outcomes: bool,
        stop: &Stop,
    ) -> Outbox<'a> {
        let destination = match mode {
            Mode::Send => {
                let mailer = Arc::new(Mailer::new(composer.config).stopping_on(stop.clone()));
                let flush = {
                    let (mailer, waiting) = (Arc::clone(&mailer), mailer.spool().list());
                    tokio::spawn(async move { mailer.flush(waiting).await })
                };
                Destination::Relay {
                    mailer,
                    deliveries: JoinSet::new(),
                    flush,
                }
            }
            Mode::Mbox | Mode::Html => Destination::Print {
                html: mode == Mode::Html,
                previews: Vec::new(),
            },
        };
        Outbox {
            composer,
            destination,
            digest: digest.then(|| Digest {
                sections: Vec::new(),
                records: Vec::new(),
                started: SystemTime::now(),
                also_to: Vec::new(),
            }),
            jobs,
            broken: false,
            outcomes: outcomes.then(Vec::new),
        }
    }

    /// Hands on the finished job at `index`: its report is left out under its send rule,
    /// kept for the digest, or composed and sent; its record says which, and is written as
    /// soon as the report has been delivered or spooled (at once when it is left out).
    pub fn take(&mut self, index: usize, job: &Job, finished: Finished<'_>, recorder: &Recorder) {
        let Finished {
            context,
            decision,
            webhooks,
            mut record,
            notice,
            ..
        } = finished;
        if let Decision::Skip(reason) = decision {
            self.notify(index, job, &context, &webhooks, false, Some(reason.clone()));
            match self.destination {
                Destination::Print { .. } => {
                    warn!("{}: run would not mail this report ({reason})", job.name)
                }
                Destination::Relay { .. } => info!("{}: not mailed ({reason})", job.name),
            }
            if let Some(record) = &mut record {
                record.reason = Some(reason);
                record.keep_outputs(context.results);
            }
            recorder.write(record.into_iter().collect());
            return;
        }
        if self.digest.is_some() {
            self.notify(index, job, &context, &webhooks, true, None);
        }
        if let Some(digest) = &mut self.digest {
            for address in notice.also_to {
                if !digest.also_to.contains(&address) {
                    digest.also_to.push(address);
                }
            }
            digest
                .sections
                .push((index, Section::of(job, &context, self.jobs)));
            if let Some(mut record) = record {
                record.sent = true;
                record.keep_outputs(context.results);
                digest.records.push(record);
            }
            return;
        }
        let composition = self.composer.job(job, &context, &notice);
        self.broken |= composition.broken;
        let sent = !composition.messages.is_empty();
        self.notify(index, job, &context, &webhooks, sent, None);
        if let Some(record) = &mut record {
            record.sent = !composition.messages.is_empty();
            // The report is composed: its outputs move to the history, not copied.
            record.keep_outputs(context.results);
        }
        let origin = HtmlOrigin {
            template: &job.mail.template,
            blame: &job.path,
        };
        let report = Report {
            messages: composition.messages,
            order: index,
            jobs: vec![job.name.clone()],
            records: record.into_iter().collect(),
        };
        self.dispatch(report, &origin, recorder);
    }

    /// Keeps the job's outcome for `run --json`, and posts the webhooks whose send rules
    /// (`decisions`, in the order of `job.webhooks`) let them out: through the spool, like
    /// the mail. A preview posts none.
    fn notify(
        &mut self,
        index: usize,
        job: &Job,
        context: &Context<'_>,
        decisions: &[Decision],
        sent: bool,
        reason: Option<String>,
    ) {
        let posting =
            matches!(self.destination, Destination::Relay { .. }) && !job.webhooks.is_empty();
        if self.outcomes.is_none() && !posting {
            return;
        }
        let outcome = JobOutcome::of(context, sent, reason);
        if let Destination::Relay {
            mailer, deliveries, ..
        } = &mut self.destination
        {
            let hooks = HookComposer {
                templates: self.composer.templates,
                templates_dir: &self.composer.config.templates_dir,
            };
            for (place, (hook, decision)) in job.webhooks.iter().zip(decisions).enumerate() {
                if let Decision::Skip(why) = decision {
                    info!("{}: webhook {place} not posted ({why})", job.name);
                    continue;
                }
                match hooks.compose(&job.path, place, hook, context, &outcome) {
                    Ok(hook) => {
                        let name = format!("{}.{}.hook{place}", self.composer.run_id, job.name);
                        let mailer = Arc::clone(mailer);
                        deliveries.spawn(async move { mailer.post_hook(&name, &hook).await });
                    }
                    Err(e) => {
                        error!("{e}");
                        self.broken = true;
                    }
                }
            }
        }
        if let Some(outcomes) = &mut self.outcomes {
            outcomes.push((index, outcome));
        }
    }

    /// Sends the digest of the reports kept for it, if any job's send rule let one through.
    pub async fn send_digest(&mut self, facts: &Facts, meta: &RunMeta<'_>, recorder: &Recorder) {
        let Some(digest) = self.digest.take() else {
            return;
        };
        if digest.sections.is_empty() {
            info!("digest: no job's send rule asks for its report; nothing to send");
            return;
        }
        let mut sections = digest.sections;
        sections.sort_by_key(|(index, _)| *index);
        let names: Vec<String> = sections.iter().map(|(_, s)| s.job.name.clone()).collect();
        // RFC 3339 in UTC to the second: the earliest reads first.
        let since = sections.iter().map(|(_, s)| s.since().to_owned()).min();
        let run = meta.info(digest.started, since.unwrap_or_default(), false);
        let sections = sections.into_iter().map(|(_, s)| s).collect();
        let notes = Notes {
            also_to: &digest.also_to,
            silenced: &meta.silenced.lines(meta.zone),
        };
        let composition = self.composer.digest(sections, facts, &run, &notes);
        self.broken |= composition.broken;
        let mut records = digest.records;
        match composition.messages {
            Some(composed) => {
                let templates_dir = &self.composer.config.templates_dir;
                let origin = HtmlOrigin {
                    template: DIGEST_TEMPLATE,
                    blame: templates_dir,
                };
                let report = Report {
                    messages: vec![composed],
                    order: 0,
                    jobs: names,
                    records,
                };
                self.dispatch(report, &origin, recorder);
            }
            None => {
                records.iter_mut().for_each(|r| r.sent = false);
                recorder.write(records);
            }
        }
    }

    /// Mails the problems that kept jobs from running to the config's `mail.to` (a preview
    /// prints them on stderr only, as they were found).
    pub fn send_problems(&mut self, problems: &[ConfigError], facts: &Facts) {
        let Destination::Relay {
            mailer, deliveries, ..
        } = &mut self.destination
        else {
            return;
        };
        if problems.is_empty() {
            return;
        }
        if let Some(report) = self.composer.problems(problems, facts) {
            let mailer = Arc::clone(mailer);
            deliveries.spawn(async move {
                mailer
                    .deliver("reporter", &report.name, report.message)
                    .await
            });
        }
    }

    /// Waits until every message of the run has been delivered or spooled, and the flush of
    /// older mail is done (or, once the run is interrupted, given up: that mail stays
    /// spooled); a preview prints its messages now.
    pub async fn close(self, cancel: &watch::Receiver<bool>) -> Closed {
        let mut outcomes = self.outcomes.unwrap_or_default();
        outcomes.sort_by_key(|(index, _)| *index);
        let mut closed = Closed {
            undelivered: false,
            broken: self.broken,
            outcomes: outcomes.into_iter().map(|(_, o)| o).collect(),
        };
        match self.destination {
            Destination::Relay {
                mailer,
                mut deliveries,
                flush,
            } => {
                while let Some(delivery) = deliveries.join_next().await {
                    // The mailer has said what went wrong; here it only counts.
                    closed.undelivered |= !matches!(delivery, Ok(Ok(())));
                }
                let mut flush = flush;
                let mut cancel = cancel.clone();
                tokio::select! {
                    biased;
                    _ = &mut flush => {}
                    _ = cancel.wait_for(|cancelled| *cancelled) => {
                        flush.abort();
                        warn!("the retry of older mail stops; it stays in the spool");
                    }
                }
                mailer.close().await;
            }
            Destination::Print { mut previews, .. } => {
                previews.sort_by_key(|(index, _)| *index);
                let printed: Vec<u8> = previews.into_iter().flat_map(|(_, p)| p).collect();
                if let Err(e) = stdout::print(printed) {
                    error!("cannot write the preview: {e}");
                    closed.broken = true;
                }
            }
        }
        closed
    }

    /// Starts delivering the messages of `report`, writing its records once they are
    /// delivered or spooled; or keeps them to print, placed by their order.
    fn dispatch(&mut self, report: Report, origin: &HtmlOrigin<'_>, recorder: &Recorder) {
        let Report {
            messages,
            order,
            jobs,
            mut records,
        } = report;
        match &mut self.destination {
            Destination::Relay {
                mailer, deliveries, ..
            } => {
                let mailer = Arc::clone(mailer);
                let recorder = recorder.clone();
                deliveries.spawn(async move {
                    let label = jobs.join(", ");
                    let mut sends = JoinSet::new();
                    for composed in messages {
                        let (mailer, label) = (Arc::clone(&mailer), label.clone());
                        sends.spawn(async move {
                            mailer
                                .deliver(&label, &composed.name, composed.message)
                                .await
                        });
                    }
                    let mut outcome = Ok(());
                    while let Some(sent) = sends.join_next().await {
                        match sent {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => outcome = Err(e),
                            Err(e) => outcome = Err(DeliveryError::transient(e.to_string())),
                        }
                    }
                    if outcome.is_err() {
                        records.iter_mut().for_each(|r| r.sent = false);
                    }
                    recorder.write_soon(records).await;
                    outcome
                });
            }
            Destination::Print { html, previews } => {
                recorder.write(records);
                for composed in messages {
                    if *html {
                        match composed.html {
                            Some(mut html) => {
                                if !html.ends_with('\n') {
                                    html.push('\n');
                                }
                                previews.push((order, html.into_bytes()));
                            }
                            // A template that failed to render has been reported already.
                            None if self.composer.templates.has_html(origin.template) => {}
                            None => {
                                error!(
                                    "{}: no HTML template to preview (expected `{}`)",
                                    origin.blame.display(),
                                    self.composer.templates.html_path(origin.template).display()
                                );
                                self.broken = true;
                            }
                        }
                    } else {
                        let mut out = Vec::new();
                        let sender = composed
                            .message
                            .envelope()
                            .from()
                            .map_or_else(|| "MAILER-DAEMON".to_owned(), ToString::to_string);
                        write_mbox(
                            &mut out,
                            &composed.message.formatted(),
                            &sender,
                            composed.date,
                        );
                        previews.push((order, out));
                    }
                }
            }
        }
    }
}

/// The messages of one report (a job's, one per host with `per_host`, or the digest), on
/// behalf of `jobs`, with their records.
struct Report {
    messages: Vec<Composed>,
    /// Where a preview prints it.
    order: usize,
    jobs: Vec<String>,
    records: Vec<RunRecord>,
}

/// How the outbox closed.
pub struct Closed {
    /// A message could not be delivered and waits in the spool (or went to the dead letters).
    pub undelivered: bool,
    /// The configuration was at fault for a message, or the preview could not be printed.
    pub broken: bool,
    /// Each job's outcome, in the selection order (none unless the outbox was opened to
    /// keep them).
    pub outcomes: Vec<JobOutcome>,
}
