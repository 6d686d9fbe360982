//! `ping:`, a dead man's switch on healthchecks.io's ping API (docs/monitoring.md): `/start` before
//! the job's commands, success or `/fail` after them with the text report, both with the
//! same run id. A ping that fails is tried again twice within its timeout, then logged;
//! it never changes the report, the mail or the exit code. A signal cuts it short like
//! any delivery ([`Stop`]).

use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::config::Job;
use crate::deliver::Stop;
use crate::http::{self, Method, Request};
use crate::render::Templates;
use crate::report::{Facts, JobInfo};

/// How much of the text report a ping carries.
pub const MAX_BODY: usize = 100 << 10;
/// Tries of one ping: the first and two more.
const TRIES: u32 = 3;

/// What a ping URL may name.
#[derive(Serialize)]
pub struct UrlContext<'a> {
    pub job: JobInfo,
    pub host: &'a Facts,
}

/// A job's ping under way: its URL, its run id, and the `/start` ping sent for it.
pub struct Pinger {
    job: String,
    url: reqwest::Url,
    rid: String,
    timeout: Duration,
    stop: Stop,
    /// The `/start` ping, until it has been awaited.
    start: Option<JoinHandle<Sent>>,
    /// A signal cut the `/start` ping short: its server did not answer in time, and the
    /// ping after the commands is not sent either.
    start_cut: bool,
}

/// Whether a ping went its whole way (answered or given up), or a signal cut it short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Done,
    Cut,
}

impl Pinger {
    /// Renders `job`'s ping URL and sends `/start`; `None` for a job without `ping:` or
    /// one whose URL does not render (said on stderr). Await [`Pinger::started`] before
    /// the commands start. Its pings give up once `stop` is asked.
    pub fn start(job: &Job, templates: &Templates, host: &Facts, stop: &Stop) -> Option<Pinger> {
        let ping = job.ping.as_ref()?;
        let context = UrlContext {
            job: JobInfo::of(job),
            host,
        };
        let url = match render_url(templates, &ping.url, &context) {
            Ok(url) => url,
            Err(e) => {
                warn!("{}: ping.url: {e}; not pinging", job.path.display());
                return None;
            }
        };
        let rid = uuid();
        let start = tokio::spawn(ping_url(
            Ping {
                job: job.name.clone(),
                which: "ping /start",
                url: with_rid(&url, Some("start"), &rid),
                method: Method::Get,
                body: Vec::new(),
                timeout: ping.timeout,
            },
            stop.clone(),
        ));
        Some(Pinger {
            job: job.name.clone(),
            url,
            rid,
            timeout: ping.timeout,
            stop: stop.clone(),
            start: Some(start),
            start_cut: false,
        })
    }

    /// Waits until the `/start` ping has been answered, given up or cut short.
    pub async fn started(&mut self) {
        if let Some(start) = self.start.take() {
            self.start_cut = start.await.is_ok_and(|sent| sent == Sent::Cut);
        }
    }

    /// Sends the ping after the commands: success when `ok`, else `/fail`, with `report`
    /// (its first [`MAX_BODY`] bytes) as the body.
    pub fn finish(mut self, ok: bool, mut report: Vec<u8>) -> JoinHandle<()> {
        if report.len() > MAX_BODY {
            report.truncate(MAX_BODY);
            // A character cut in two would make the body invalid UTF-8.
            while !report.is_empty() && std::str::from_utf8(&report).is_err() {
                report.pop();
            }
        }
        let url = with_rid(&self.url, (!ok).then_some("fail"), &self.rid);
        let which = if ok { "ping" } else { "ping /fail" };
        tokio::spawn(async move {
            // `/start` first, whatever happens: a success before its start would confuse
            // the check.
            self.started().await;
            if self.start_cut {
                // Its server did not answer before the signal: the run ends now.
                warn!("{}: {which} not sent: `/start` got no answer", self.job);
                return;
            }
            let ping = Ping {
                job: self.job,
                which,
                url,
                method: Method::Post,
                body: report,
                timeout: self.timeout,
            };
            ping_url(ping, self.stop).await;
        })
    }
}

/// Renders a URL template (`ping.url`, `webhooks[].url`) and checks it is an http(s) URL.
pub fn render_url(
    templates: &Templates,
    template: &str,
    context: &impl Serialize,
) -> Result<reqwest::Url, String> {
    let text = templates
        .render_inline(template, context)
        .map_err(|e| e.to_string())?;
    let url = reqwest::Url::parse(text.trim()).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme `{}` is not http or https", url.scheme()));
    }
    Ok(url)
}

/// `url` with `/suffix` added to its path and `rid=RID` to its query.
fn with_rid(url: &reqwest::Url, suffix: Option<&str>, rid: &str) -> String {
    let mut url = url.clone();
    if let Some(suffix) = suffix
        && let Ok(mut segments) = url.path_segments_mut()
    {
        segments.pop_if_empty().push(suffix);
    }
    url.query_pairs_mut().append_pair("rid", rid);
    url.to_string()
}

/// One ping to send: for `job`, `which` one (for the log), where, how, and within what
/// time in all.
struct Ping {
    job: String,
    which: &'static str,
    url: String,
    method: Method,
    body: Vec<u8>,
    timeout: Duration,
}

/// Sends `ping`, unless `stop` cuts it short (said on stderr).
async fn ping_url(ping: Ping, stop: Stop) -> Sent {
    let (job, which) = (ping.job.clone(), ping.which);
    match stop.bound(try_ping(ping)).await {
        Some(()) => Sent::Done,
        None => {
            warn!("{job}: {which} stopped by a signal");
            Sent::Cut
        }
    }
}

/// One ping, tried up to [`TRIES`] times within its timeout in all. Its URL holds the
/// check's key, so it is never logged.
async fn try_ping(ping: Ping) {
    let Ping {
        job,
        which,
        url,
        method,
        body,
        timeout,
    } = ping;
    let deadline = Instant::now() + timeout;
    for attempt in 1..=TRIES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // Each try gets its share of what is left, so a hanging server leaves time for the
        // others.
        let share = left / (TRIES - attempt + 1);
        let answer = http::send(Request {
            method,
            url: &url,
            headers: &[],
            content_type: (method == Method::Post).then_some("text/plain; charset=utf-8"),
            body: body.clone(),
            timeout: share,
        })
        .await;
        let problem = match answer {
            Ok(status) if (200..300).contains(&status) => {
                debug!("{job}: {which} answered {status}");
                return;
            }
            // The check does not exist, or the key is wrong: trying again will not help.
            Ok(status) if (400..500).contains(&status) && status != 408 && status != 429 => {
                warn!("{job}: {which} answered {status}; not tried again");
                return;
            }
            Ok(status) => format!("answered {status}"),
            Err(e) => e.to_string(),
        };
        if attempt == TRIES {
            warn!("{job}: {which} failed {TRIES} times, last: {problem}");
            return;
        }
        debug!("{job}: {which} try {attempt} failed: {problem}");
        let pause = Duration::from_millis(200 * u64::from(attempt))
            .min(deadline.saturating_duration_since(Instant::now()) / 4);
        tokio::time::sleep(pause).await;
    }
    warn!("{job}: {which} gave up: no answer within {timeout:?}");
}

/// A random (version 4) UUID.
pub fn uuid() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // No randomness: time and pid still make the id of this run unique enough.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = (now ^ (u128::from(std::process::id()) << 96)).to_be_bytes();
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4() {
        let id = uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid(), id);
    }

    #[test]
    fn suffixes_go_on_the_path_and_the_rid_in_the_query() {
        let url = reqwest::Url::parse("https://hc.example/abc/disk/").unwrap();
        assert_eq!(
            with_rid(&url, Some("start"), "R"),
            "https://hc.example/abc/disk/start?rid=R"
        );
        let url = reqwest::Url::parse("http://127.0.0.1:9/k").unwrap();
        assert_eq!(with_rid(&url, None, "R"), "http://127.0.0.1:9/k?rid=R");
        assert_eq!(
            with_rid(&url, Some("fail"), "R"),
            "http://127.0.0.1:9/k/fail?rid=R"
        );
    }
}
