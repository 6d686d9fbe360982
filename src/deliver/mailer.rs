//! Getting messages out: each new message goes into the spool first and is then sent;
//! what earlier runs could not deliver is retried, buried in `spool/dead` when the relay
//! rejects it for good or it has waited longer than `spool_max_age`. Webhooks take the same
//! way (docs/monitoring.md): spooled, posted, retried by every flush, buried when refused for good.
//! A webhook endpoint that cannot be reached is not tried again by the same mailer, and a
//! signal cuts deliveries short ([`Stop`]): what they carried stays spooled.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use lettre::Message;
use tokio::sync::OnceCell;
use tracing::{error, info, warn};

use crate::config::units::HumanDuration;
use crate::config::{Config, TransportConfig};
use crate::deliver::spool::{Claim, Entry, HOOK_SUFFIX, Hook, Spool};
use crate::deliver::stop::Stop;
use crate::deliver::transport::Transport;
use crate::deliver::transport::error::{DeliveryError, Failure, TransportError};
use crate::deliver::webhook;
use crate::history::History;
use crate::report::facts;

/// What became of one spooled message.
#[derive(Debug, Clone)]
pub enum Fate {
    /// Delivered on behalf of `job` (the spool's job label).
    Sent { job: String },
    /// A webhook of `job` answered 2xx.
    Posted { job: String },
    /// Another process is sending it, or already has.
    Skipped,
    /// Still in the spool for a later retry.
    Kept(DeliveryError),
    /// Moved to `spool/dead`; the error says why.
    Buried(DeliveryError),
}

impl Fate {
    /// The relay could not be reached or talked to: the next message would fare the same.
    fn relay_unreachable(&self) -> bool {
        matches!(self, Fate::Kept(e) | Fate::Buried(e) if e.kind == Failure::Connection)
    }
}

/// What a flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushReport {
    pub sent: usize,
    pub kept: usize,
    pub buried: usize,
}

/// How a try at delivering a spooled file ended, once the file was dealt with.
enum Settled {
    Delivered,
    Kept(DeliveryError),
    Buried { kind: Failure, why: String },
}

/// What the log calls a spooled file and its fates.
struct Delivered {
    noun: &'static str,
    refused: &'static str,
    again: &'static str,
}

const REPORT: Delivered = Delivered {
    noun: "report",
    refused: "rejected permanently",
    again: "sent",
};

const WEBHOOK: Delivered = Delivered {
    noun: "webhook",
    refused: "refused",
    again: "posted",
};

pub struct Mailer {
    spool: Spool,
    transport_config: TransportConfig,
    hello: String,
    max_age: Duration,
    transport: OnceCell<Result<Transport, TransportError>>,
    /// Where a flush marks the runs whose mail it delivered as sent (`None`: history off).
    history: Option<History>,
    /// What cuts deliveries short when a signal asks the process to stop.
    stop: Stop,
    /// The webhook endpoints (scheme, host and port) that could not be reached or did not
    /// answer: their other webhooks wait in the spool rather than cost a timeout each.
    dead_endpoints: Mutex<HashSet<String>>,
}

impl Mailer {
    pub fn new(config: &Config) -> Mailer {
        Mailer {
            spool: Spool::new(&config.state_dir),
            transport_config: config.mail.transport.clone(),
            hello: facts::hostname(),
            max_age: config.mail.spool_max_age,
            transport: OnceCell::new(),
            history: (config.history_days > 0)
                .then(|| History::new(&config.state_dir, config.history_days)),
            stop: Stop::never(),
            dead_endpoints: Mutex::new(HashSet::new()),
        }
    }

    /// The same mailer, its deliveries cut short once `stop` is asked.
    pub fn stopping_on(self, stop: Stop) -> Mailer {
        Mailer { stop, ..self }
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    async fn transport(&self) -> Result<&Transport, DeliveryError> {
        let transport = self
            .transport
            .get_or_init(|| async { Transport::new(&self.transport_config, &self.hello) })
            .await;
        transport
            .as_ref()
            .map_err(|e| DeliveryError::connection(e.to_string()))
    }

    /// Ends the relay connection kept for the next message: once the run or flush has
    /// sent what it had.
    pub async fn close(&self) {
        if let Some(Ok(transport)) = self.transport.get() {
            transport.close().await;
        }
        if let Err(e) = self.spool.sync() {
            warn!(
                "cannot sync the spool `{}`: {e}",
                self.spool.dir().display()
            );
        }
    }

    /// Spools and sends a new message of `job`; `name` is unique to it (run id and job).
    /// `Ok` when the relay took it; otherwise the message waits in the spool (or, if even
    /// the spool cannot be written, is printed on stderr as a last resort).
    pub async fn deliver(
        &self,
        job: &str,
        name: &str,
        message: Message,
    ) -> Result<(), DeliveryError> {
        let entry = Entry {
            job: job.to_owned(),
            envelope: message.envelope().clone(),
            created: SystemTime::now(),
            message: message.formatted(),
        };
        // A report may be megabytes: one copy of it at a time, the one in the spool next.
        drop(message);
        let path = match self.spool.put(name, &entry) {
            Ok(path) => {
                drop(entry);
                path
            }
            Err(e) => {
                warn!(
                    "{job}: cannot write to the spool `{}`: {e}; sending directly",
                    self.spool.dir().display()
                );
                let send = async {
                    let transport = self.transport().await?;
                    transport.send(&entry.envelope, &entry.message, name).await
                };
                let result = self
                    .stop
                    .bound(send)
                    .await
                    .unwrap_or_else(|| Err(stopped()));
                if let Err(e) = &result {
                    error!("{job}: report neither delivered ({e}) nor spooled; here it is:");
                    let mut stderr = std::io::stderr().lock();
                    let _ = stderr.write_all(&entry.message);
                    let _ = stderr.flush();
                }
                return result;
            }
        };
        match self.send_spooled(&path).await {
            Fate::Sent { .. } | Fate::Posted { .. } | Fate::Skipped => Ok(()),
            Fate::Kept(e) => Err(e),
            Fate::Buried(e) => Err(DeliveryError {
                kind: Failure::Permanent,
                ..e
            }),
        }
    }

    /// Spools and posts a new webhook of `job`; `name` is unique to it (run id, job and
    /// the webhook's place). `Ok` when it was answered 2xx; otherwise it waits in the spool
    /// (or, refused for good, in the dead letters).
    pub async fn post_hook(&self, name: &str, hook: &Hook) -> Result<(), DeliveryError> {
        let job = &hook.job;
        let path = match self.spool.put(name, hook) {
            Ok(path) => path,
            Err(e) => {
                warn!(
                    "{job}: cannot write to the spool `{}`: {e}; posting the webhook directly",
                    self.spool.dir().display()
                );
                let posted = self
                    .stop
                    .bound(webhook::post(hook))
                    .await
                    .unwrap_or_else(|| Err(stopped()));
                if let Err(e) = &posted {
                    error!("{job}: webhook neither delivered ({e}) nor spooled");
                }
                return posted;
            }
        };
        match self.send_spooled(&path).await {
            Fate::Sent { .. } | Fate::Posted { .. } | Fate::Skipped => Ok(()),
            Fate::Kept(e) | Fate::Buried(e) => Err(e),
        }
    }

    /// Sends one spooled message (or posts a webhook) and removes it, or keeps or buries
    /// it, saying so on stderr.
    pub async fn send_spooled(&self, path: &Path) -> Fate {
        if path.extension().and_then(|e| e.to_str()) == HOOK_SUFFIX.strip_prefix('.') {
            return self.post_spooled(path).await;
        }
        let claim = match self.spool.claim::<Entry>(path) {
            Ok(Some(claim)) => claim,
            Ok(None) => return Fate::Skipped,
            Err(e) => {
                error!("{e}; moving it to `{}`", self.spool.dead_dir().display());
                let _ = self.spool.bury(path);
                return Fate::Buried(DeliveryError {
                    kind: Failure::Permanent,
                    message: e.to_string(),
                });
            }
        };
        let job = claim.entry.job.clone();
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or("message")
            .to_owned();
        let send = async {
            let transport = self.transport().await?;
            transport
                .send(&claim.entry.envelope, &claim.entry.message, &name)
                .await
        };
        let Some(result) = self.stop.bound(send).await else {
            return keep_stopped(path, claim, &REPORT, &job);
        };
        let age = claim.entry.created.elapsed().unwrap_or_default();
        match self.settle(path, claim, &REPORT, &job, age, result) {
            Settled::Delivered => Fate::Sent { job },
            Settled::Buried { kind, why } => Fate::Buried(DeliveryError { kind, message: why }),
            Settled::Kept(e) => Fate::Kept(e),
        }
    }

    /// Posts one spooled webhook and removes it, or keeps or buries it. Its failures are
    /// the webhook's alone: they never stop a flush.
    async fn post_spooled(&self, path: &Path) -> Fate {
        let claim = match self.spool.claim::<Hook>(path) {
            Ok(Some(claim)) => claim,
            Ok(None) => return Fate::Skipped,
            Err(e) => {
                error!("{e}; moving it to `{}`", self.spool.dead_dir().display());
                let _ = self.spool.bury(path);
                return Fate::Buried(DeliveryError::transient(e.to_string()));
            }
        };
        let job = claim.entry.job.clone();
        let endpoint = endpoint_of(&claim.entry.url);
        if self.is_dead(&endpoint) {
            info!(
                "{job}: webhook kept in `{}` for the next try: its endpoint did not answer earlier",
                path.display()
            );
            return Fate::Kept(DeliveryError::transient("its endpoint did not answer"));
        }
        let Some(posted) = self.stop.bound(webhook::post(&claim.entry)).await else {
            return keep_stopped(path, claim, &WEBHOOK, &job);
        };
        if matches!(&posted, Err(e) if e.kind == Failure::Connection) {
            self.dead_endpoints
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(endpoint);
        }
        let age = claim.entry.created.elapsed().unwrap_or_default();
        // A webhook's failures are transient for the flush: they never stop it.
        match self.settle(path, claim, &WEBHOOK, &job, age, posted) {
            Settled::Delivered => Fate::Posted { job },
            Settled::Buried { why, .. } => Fate::Buried(DeliveryError::transient(why)),
            Settled::Kept(e) => Fate::Kept(DeliveryError::transient(e.message)),
        }
    }

    /// Whether a webhook to `endpoint` already failed to reach it.
    fn is_dead(&self, endpoint: &str) -> bool {
        self.dead_endpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(endpoint)
    }

    /// Deals with a spooled file after a try at delivering it, saying so on stderr:
    /// removed once delivered; moved to `spool/dead` when refused for good or older than
    /// `spool_max_age`; kept for the next try otherwise.
    fn settle<T>(
        &self,
        path: &Path,
        claim: Claim<T>,
        what: &Delivered,
        job: &str,
        age: Duration,
        result: Result<(), DeliveryError>,
    ) -> Settled {
        let noun = what.noun;
        match result {
            Ok(()) => {
                if let Err(e) = self.spool.remove(claim) {
                    warn!(
                        "{job}: {noun} delivered, but `{}` could not be removed ({e}); it may be {} again",
                        path.display(),
                        what.again
                    );
                }
                info!("{job}: {noun} delivered");
                Settled::Delivered
            }
            Err(e) if e.is_permanent() || age > self.max_age => {
                let why = if e.is_permanent() {
                    format!("{}: {e}", what.refused)
                } else {
                    format!(
                        "undeliverable for more than {}: {e}",
                        HumanDuration(self.max_age)
                    )
                };
                drop(claim);
                match self.spool.bury(path) {
                    Ok(dead) => error!("{job}: {noun} {why}; moved to `{}`", dead.display()),
                    Err(bury) => {
                        error!("{job}: {noun} {why}; cannot move it to the dead letters: {bury}")
                    }
                }
                Settled::Buried { kind: e.kind, why }
            }
            Err(e) => {
                warn!(
                    "{job}: {noun} not delivered ({e}); kept in `{}` for the next try",
                    path.display()
                );
                Settled::Kept(e)
            }
        }
    }

    /// Retries the messages at `paths`, in order, and marks the runs whose mail went out
    /// as sent. It stops at the first message the relay could not even be reached for
    /// (refused, timeout, TLS): the rest waits for the next flush, so a dead relay costs
    /// one timeout, not one per message.
    pub async fn flush(&self, paths: Vec<PathBuf>) -> FlushReport {
        let mut report = FlushReport::default();
        let mut sent = Vec::new();
        let mut paths = paths.into_iter();
        while let Some(path) = paths.next() {
            if self.stop.asked() {
                report.kept += paths.len() + 1;
                break;
            }
            let fate = self.send_spooled(&path).await;
            match fate {
                Fate::Sent { ref job } => {
                    report.sent += 1;
                    sent.push((path.clone(), job.clone()));
                }
                Fate::Posted { .. } => report.sent += 1,
                Fate::Skipped => {}
                Fate::Kept(_) => report.kept += 1,
                Fate::Buried(_) => report.buried += 1,
            }
            if fate.relay_unreachable() && paths.len() > 0 {
                let rest = paths.len();
                info!(
                    "spool: the relay cannot be reached; {rest} more message{} wait for the next try",
                    if rest == 1 { "" } else { "s" }
                );
                report.kept += rest;
                break;
            }
        }
        self.mark_sent(&sent);
        report
    }

    /// Marks the runs delivered spool files came from as sent, once none of their
    /// messages waits any more: one look at the spool and one transaction for a whole
    /// flush. A file is named `RUN-ID.JOB[.HOST].msg` (a run id is three dot-separated
    /// parts); its label names its job, or the jobs of a digest.
    fn mark_sent(&self, sent: &[(PathBuf, String)]) {
        let Some(history) = &self.history else {
            return;
        };
        if sent.is_empty() {
            return;
        }
        let waiting: HashSet<String> = self
            .spool
            .list_of::<Entry>()
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect();
        let mut runs: Vec<(&str, &str)> = Vec::new();
        for (path, label) in sent {
            let Some(run_id) = path
                .file_stem()
                .and_then(|n| n.to_str())
                .and_then(run_id_of)
            else {
                continue;
            };
            for job in label.split(", ") {
                let prefix = format!("{run_id}.{job}.");
                let still_spooled = waiting.iter().any(|name| name.starts_with(&prefix));
                if !still_spooled && !runs.contains(&(run_id, job)) {
                    runs.push((run_id, job));
                }
            }
        }
        if let Err(e) = history.mark_all_sent(&runs) {
            error!("{e}");
        }
    }
}

/// The error of a delivery a signal cut short.
fn stopped() -> DeliveryError {
    DeliveryError::connection("stopped by a signal")
}

/// A spooled file whose delivery a signal cut short: it stays for the next try, whatever
/// its age (only a try that failed may bury it).
fn keep_stopped<T>(path: &Path, claim: Claim<T>, what: &Delivered, job: &str) -> Fate {
    drop(claim);
    warn!(
        "{job}: {} delivery stopped by a signal; kept in `{}` for the next try",
        what.noun,
        path.display()
    );
    Fate::Kept(stopped())
}

/// Where a webhook goes, as far as reaching it is concerned: scheme, host and port
/// (`https://hooks.example:443`); the URL itself when it does not parse (it may hold a
/// secret, so this is never logged).
fn endpoint_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(url) => format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default()
        ),
        Err(_) => url.to_owned(),
    }
}

/// The run id a spool file's name starts with: `RUN-ID.JOB[.HOST]`, where a run id is
/// three dot-separated parts (see `run::new_run_id`).
fn run_id_of(stem: &str) -> Option<&str> {
    let end = stem.match_indices('.').nth(2)?.0;
    Some(&stem[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_id_is_the_first_three_parts_of_the_name() {
        let run = "20261201T210000Z.4242.00ab12";
        assert_eq!(run_id_of(&format!("{run}.disk")), Some(run));
        assert_eq!(run_id_of(&format!("{run}.disk.web1")), Some(run));
        assert_eq!(run_id_of(&format!("{run}.digest")), Some(run));
        assert_eq!(run_id_of(run), None);
        assert_eq!(run_id_of("garbage"), None);
    }

    #[test]
    fn an_endpoint_is_scheme_host_and_port() {
        assert_eq!(
            endpoint_of("https://hooks.example/T0/secret?x=1"),
            "https://hooks.example:443"
        );
        assert_eq!(
            endpoint_of("http://127.0.0.1:8080/a"),
            endpoint_of("http://127.0.0.1:8080/b?c")
        );
        assert_ne!(
            endpoint_of("http://127.0.0.1:8080/a"),
            endpoint_of("http://127.0.0.1:8081/a")
        );
    }
}
