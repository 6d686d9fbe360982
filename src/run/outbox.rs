//! Where a run's reports go once their jobs are finished: left out under their send rule,
//! kept for the digest, or composed and delivered (spool first) — or, for a preview,
//! printed. It owns every delivery of the run until the last one has settled.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{error, info, warn};

use crate::config::{ConfigError, Job};
use crate::history::Decision;
use crate::mail::digest::Section;
use crate::mail::message::write_mbox;
use crate::mail::{Composed, Composer, DeliveryError, FlushReport, Mailer};
use crate::render::DIGEST_TEMPLATE;
use crate::report::Facts;
use crate::run::finish::{Finished, RunMeta};
use crate::run::options::Mode;
use crate::run::record::Recorder;

/// The jobs a delivery is for (to note in the history when it fails), and how it went.
type Delivery = (Vec<String>, Result<(), DeliveryError>);

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

/// The reports kept for `--digest`, by the selection order of their jobs.
struct Digest {
    sections: Vec<(usize, Section)>,
    started: SystemTime,
}

pub struct Outbox<'a> {
    composer: Composer<'a>,
    destination: Destination,
    digest: Option<Digest>,
    /// How many jobs share the message budget of a digest.
    jobs: usize,
    /// A template or address was broken, or `preview --html` had no HTML to show.
    broken: bool,
}

/// Where a message's HTML comes from: its template, and the file to blame when
/// `preview --html` finds no such template.
struct HtmlOrigin<'p> {
    template: &'p str,
    blame: &'p Path,
}

impl<'a> Outbox<'a> {
    /// Opens the outbox of a run of `jobs` jobs. Sending starts by flushing the spool, in
    /// the background while the commands run.
    pub fn open(composer: Composer<'a>, mode: Mode, digest: bool, jobs: usize) -> Outbox<'a> {
        let destination = match mode {
            Mode::Send => {
                let mailer = Arc::new(Mailer::new(composer.config));
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
                started: SystemTime::now(),
            }),
            jobs,
            broken: false,
        }
    }

    /// Hands on the finished job at `index`: its report is left out under its send rule,
    /// kept for the digest, or composed and sent; its record says which.
    pub fn take(
        &mut self,
        index: usize,
        job: &Job,
        finished: Finished<'_>,
        recorder: &mut Recorder,
    ) {
        let Finished {
            context,
            decision,
            mut record,
        } = finished;
        if let Decision::Skip(reason) = decision {
            match self.destination {
                Destination::Print { .. } => {
                    warn!("{}: run would not mail this report ({reason})", job.name)
                }
                Destination::Relay { .. } => info!("{}: not mailed ({reason})", job.name),
            }
            if let Some(record) = &mut record {
                record.reason = Some(reason);
            }
            recorder.add(record);
            return;
        }
        if let Some(digest) = &mut self.digest {
            digest
                .sections
                .push((index, Section::of(job, &context, self.jobs)));
            if let Some(record) = &mut record {
                record.sent = true;
            }
            recorder.add(record);
            return;
        }
        let composition = self.composer.job(job, &context);
        self.broken |= composition.broken;
        if let Some(record) = &mut record {
            record.sent = !composition.messages.is_empty();
        }
        recorder.add(record);
        let origin = HtmlOrigin {
            template: &job.mail.template,
            blame: &job.path,
        };
        for composed in composition.messages {
            self.dispatch(composed, index, vec![job.name.clone()], &origin);
        }
    }

    /// Sends the digest of the reports kept for it, if any job's send rule let one through.
    pub async fn send_digest(
        &mut self,
        facts: &Facts,
        meta: &RunMeta<'_>,
        recorder: &mut Recorder,
    ) {
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
        let run = meta.info(digest.started, false);
        let sections = sections.into_iter().map(|(_, s)| s).collect();
        let composition = self.composer.digest(sections, facts, &run);
        self.broken |= composition.broken;
        match composition.messages {
            Some(composed) => {
                let templates_dir = &self.composer.config.templates_dir;
                let origin = HtmlOrigin {
                    template: DIGEST_TEMPLATE,
                    blame: templates_dir,
                };
                self.dispatch(composed, 0, names, &origin);
            }
            None => recorder.unsent(&names),
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
                let result = mailer
                    .deliver("reporter", &report.name, &report.message)
                    .await;
                (Vec::new(), result)
            });
        }
    }

    /// Waits until every message of the run has been delivered or spooled, and the flush of
    /// older mail is done (or, once the run is interrupted, given up: that mail stays
    /// spooled), noting in `recorder` whose mail did not go out; a preview prints its
    /// messages now.
    pub async fn close(self, recorder: &mut Recorder, cancel: &watch::Receiver<bool>) -> Closed {
        let mut closed = Closed {
            undelivered: false,
            broken: self.broken,
        };
        match self.destination {
            Destination::Relay {
                mut deliveries,
                flush,
                ..
            } => {
                while let Some(delivery) = deliveries.join_next().await {
                    // The mailer has said what went wrong; here it only counts.
                    match delivery {
                        Ok((_, Ok(()))) => {}
                        Ok((jobs, Err(_))) => {
                            closed.undelivered = true;
                            recorder.unsent(&jobs);
                        }
                        Err(_) => closed.undelivered = true,
                    }
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
            }
            Destination::Print { mut previews, .. } => {
                previews.sort_by_key(|(index, _)| *index);
                let mut stdout = std::io::stdout().lock();
                for (_, printed) in previews {
                    if let Err(e) = stdout.write_all(&printed) {
                        error!("cannot write the preview: {e}");
                        closed.broken = true;
                        break;
                    }
                }
                let _ = stdout.flush();
            }
        }
        closed
    }

    /// Starts delivering `composed` on behalf of `jobs`, or keeps it to print, placed by
    /// `order`.
    fn dispatch(
        &mut self,
        composed: Composed,
        order: usize,
        jobs: Vec<String>,
        origin: &HtmlOrigin<'_>,
    ) {
        match &mut self.destination {
            Destination::Relay {
                mailer, deliveries, ..
            } => {
                let mailer = Arc::clone(mailer);
                deliveries.spawn(async move {
                    let label = jobs.join(", ");
                    let result = mailer
                        .deliver(&label, &composed.name, &composed.message)
                        .await;
                    (jobs, result)
                });
            }
            Destination::Print {
                html: true,
                previews,
            } => match composed.html {
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
            },
            Destination::Print {
                html: false,
                previews,
            } => {
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

/// How the outbox closed.
pub struct Closed {
    /// A message could not be delivered and waits in the spool (or went to the dead letters).
    pub undelivered: bool,
    /// The configuration was at fault for a message, or the preview could not be printed.
    pub broken: bool,
}
