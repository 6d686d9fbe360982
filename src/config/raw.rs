//! The raw shapes of `reporter.yaml` and `jobs/NAME.yaml`, exactly as written: serde types
//! that refuse unknown keys, and the value newtypes that check a value as it is read (so a
//! bad `timeout: 5 minutes` fails when the file loads, with its line and column).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::{self, Deserialize, Deserializer};

use crate::config::address::{AddressList, AddressSpec};
use crate::config::hosts::{HostSpec, TargetSpec};
use crate::config::name::is_name;
use crate::config::units::{ByteSize, HumanDuration, UnitError, deserialize_via_from_str};
use crate::schedule::{Schedule, Zone};

/// A value in a job file that does not mean what its key needs.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ValueError {
    #[error(transparent)]
    Unit(#[from] UnitError),
    #[error("max_output {0:?} out of range (4KiB..1GiB)")]
    OutputCap(String),
    #[error("invalid regular expression: {0}")]
    Pattern(regex::Error),
    #[error("invalid template: {0}")]
    Template(String),
    #[error("invalid template name {0:?} (letters, digits, `-` and `_`; no extension)")]
    TemplateName(String),
    #[error("environment values cannot contain NUL")]
    EnvNul,
}

// reporter.yaml

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub jobs_dir: Option<PathBuf>,
    pub templates_dir: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub pool_size: Option<usize>,
    pub shell: Option<PathBuf>,
    pub path: Option<String>,
    pub timezone: Option<Zone>,
    pub history_days: Option<u32>,
    #[serde(default)]
    pub defaults: RawDefaults,
    #[serde(default)]
    pub mail: RawMail,
    #[serde(default)]
    pub ssh: RawSsh,
    #[serde(default)]
    pub host_groups: BTreeMap<String, Vec<HostSpec>>,
    pub inventory: Option<RawInventory>,
    pub log_format: Option<LogFormat>,
    /// Prometheus textfile-collector gauges, rewritten after every run and flush (docs/monitoring.md).
    pub metrics_file: Option<PathBuf>,
}

/// `inventory:`: a program printing an Ansible inventory as JSON.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInventory {
    pub command: Vec<String>,
    pub timeout: Option<HumanDuration>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMail {
    pub from: Option<AddressSpec>,
    pub to: Option<AddressList>,
    pub transport: Option<TransportKind>,
    #[serde(default)]
    pub smtp: RawSmtp,
    #[serde(default)]
    pub sendmail: RawSendmail,
    #[serde(default)]
    pub file: RawFile,
    pub spool_max_age: Option<HumanDuration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    Smtp,
    Sendmail,
    File,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: Option<TlsMode>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub timeout: Option<HumanDuration>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSendmail {
    pub path: Option<PathBuf>,
    pub timeout: Option<HumanDuration>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSsh {
    pub command: Option<PathBuf>,
    pub options: Option<Vec<String>>,
}

/// How the SMTP connection is protected. `starttls` and `tls` verify the relay's certificate
/// against the system's trust store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    None,
    Starttls,
    Tls,
}

/// How diagnostics are written on stderr (`log_format`, `--log-format`; docs/monitoring.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `reporter: warning: ...` lines (with syslog priorities under systemd)
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, message and the event's fields
    Json,
}

// jobs/NAME.yaml (and the config's `defaults:`)

/// When a job's report is mailed (docs/history.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SendRule {
    #[default]
    Always,
    OnFailure,
    OnChange,
    Never,
}

/// `max_output:` — a per-stream cap between 4 KiB and 1 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputCap(pub u64);

impl FromStr for OutputCap {
    type Err = ValueError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let size: ByteSize = text.parse()?;
        if !(4 << 10..=1 << 30).contains(&size.0) {
            return Err(ValueError::OutputCap(text.to_owned()));
        }
        Ok(OutputCap(size.0))
    }
}

/// `fail_if:` — a regular expression over stdout.
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl FromStr for Pattern {
    type Err = ValueError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(shared) =
            SHARED_PATTERNS.with_borrow(|shared| shared.as_ref()?.get(text).cloned())
        {
            return Ok(Pattern(shared));
        }
        let regex = regex::RegexBuilder::new(text)
            .multi_line(true)
            .build()
            .map_err(ValueError::Pattern)?;
        SHARED_PATTERNS.with_borrow_mut(|shared| {
            if let Some(shared) = shared {
                shared.insert(text.to_owned(), regex.clone());
            }
        });
        Ok(Pattern(regex))
    }
}

thread_local! {
    /// While a [`SharedPatterns`] is alive: the patterns compiled so far, by source.
    static SHARED_PATTERNS: RefCell<Option<HashMap<String, regex::Regex>>> = const { RefCell::new(None) };
}

/// Jobs loaded while this lives share one compiled regex for each `fail_if` written the
/// same way: job files repeat theirs (the shipped disk-usage job has one twice, and those
/// written by configuration management share them), and compiling one, its literal
/// prefilter above all, was most of the cost of loading a thousand jobs. The sharing ends
/// with the outermost one, so a daemon's reloads do not keep the patterns of jobs gone.
pub struct SharedPatterns {
    outermost: bool,
}

impl SharedPatterns {
    pub fn start() -> SharedPatterns {
        let outermost = SHARED_PATTERNS.with_borrow_mut(|shared| {
            let outermost = shared.is_none();
            shared.get_or_insert_with(HashMap::new);
            outermost
        });
        SharedPatterns { outermost }
    }
}

impl Drop for SharedPatterns {
    fn drop(&mut self) {
        if self.outermost {
            SHARED_PATTERNS.with_borrow_mut(|shared| *shared = None);
        }
    }
}

/// `subject:` — a one-line Handlebars template, compiled once: when its file loads, which
/// checks it, and the compiled form goes on to the run that renders it.
#[derive(Debug, Clone)]
pub struct SubjectTemplate {
    pub text: String,
    pub compiled: Arc<handlebars::Template>,
}

impl PartialEq for SubjectTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for SubjectTemplate {}

impl FromStr for SubjectTemplate {
    type Err = ValueError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        handlebars::Template::compile(text)
            .map(|compiled| SubjectTemplate {
                text: text.to_owned(),
                compiled: Arc::new(compiled),
            })
            .map_err(|e| ValueError::Template(e.reason().to_string()))
    }
}

/// `template:` — the name of a template in `templates/` (or `default`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateName(pub String);

impl FromStr for TemplateName {
    type Err = ValueError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if is_name(text) {
            Ok(TemplateName(text.to_owned()))
        } else {
            Err(ValueError::TemplateName(text.to_owned()))
        }
    }
}

/// An environment value; numbers and booleans are taken as their text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvValue(pub String);

impl FromStr for EnvValue {
    type Err = ValueError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.contains('\0') {
            return Err(ValueError::EnvNul);
        }
        Ok(EnvValue(text.to_owned()))
    }
}

/// `ping.url:` and `webhooks[].url:` — a Handlebars template of a URL (job, host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate(pub String);

impl FromStr for UrlTemplate {
    type Err = ValueError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let template = SubjectTemplate::from_str(text)?;
        Ok(UrlTemplate(template.text))
    }
}

deserialize_via_from_str!(
    OutputCap,
    Pattern,
    SubjectTemplate,
    TemplateName,
    EnvValue,
    UrlTemplate
);

/// `ping:` — a dead man's switch on healthchecks.io's ping API (docs/monitoring.md).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPing {
    pub url: UrlTemplate,
    pub timeout: Option<HumanDuration>,
}

/// One `webhooks:` entry (docs/monitoring.md).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: UrlTemplate,
    pub send: Option<SendRule>,
    pub template: Option<TemplateName>,
    pub headers_file: Option<PathBuf>,
    pub timeout: Option<HumanDuration>,
}

/// The `mail:` section of a job (and of `defaults:`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJobMail {
    pub from: Option<AddressSpec>,
    pub to: Option<AddressList>,
    pub cc: Option<AddressList>,
    pub reply_to: Option<AddressSpec>,
    pub subject: Option<SubjectTemplate>,
    pub template: Option<TemplateName>,
    pub attach_output_over: Option<ByteSize>,
    pub per_host: Option<bool>,
}

/// The config's `defaults:`: the job keys that make sense for every job.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub send: Option<SendRule>,
    pub catch_up: Option<bool>,
    pub enabled: Option<bool>,
    pub random_delay: Option<HumanDuration>,
    pub retries: Option<u32>,
    pub retry_delay: Option<HumanDuration>,
    pub failures_before_mail: Option<u32>,
    pub disk_full_within: Option<HumanDuration>,
    pub timeout: Option<HumanDuration>,
    pub max_output: Option<OutputCap>,
    pub env: Option<BTreeMap<String, EnvValue>>,
    pub cwd: Option<PathBuf>,
    pub user: Option<String>,
    pub hosts: Option<Vec<HostSpec>>,
    pub mail: Option<RawJobMail>,
    pub ping: Option<RawPing>,
    pub webhooks: Option<Vec<RawWebhook>>,
}

/// A job file exactly as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    pub description: Option<String>,
    pub schedule: Option<Schedule>,
    pub send: Option<SendRule>,
    pub catch_up: Option<bool>,
    pub enabled: Option<bool>,
    pub random_delay: Option<HumanDuration>,
    pub retries: Option<u32>,
    pub retry_delay: Option<HumanDuration>,
    pub failures_before_mail: Option<u32>,
    pub disk_full_within: Option<HumanDuration>,
    pub timeout: Option<HumanDuration>,
    pub max_output: Option<OutputCap>,
    pub env: Option<BTreeMap<String, EnvValue>>,
    pub cwd: Option<PathBuf>,
    pub user: Option<String>,
    pub hosts: Option<Vec<HostSpec>>,
    pub targets: Option<Vec<TargetSpec>>,
    pub mail: Option<RawJobMail>,
    pub ping: Option<RawPing>,
    pub webhooks: Option<Vec<RawWebhook>>,
    pub commands: Option<Vec<RawCommand>>,
}

/// One `commands:` entry: a bare string is shorthand for `{run: STRING}`.
#[derive(Debug, Default)]
pub struct RawCommand {
    pub name: Option<String>,
    pub run: String,
    pub timeout: Option<HumanDuration>,
    pub ok_exit_codes: Option<Vec<i32>>,
    pub retries: Option<u32>,
    pub fail_if: Option<Pattern>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommandMap {
    name: Option<String>,
    run: String,
    timeout: Option<HumanDuration>,
    ok_exit_codes: Option<Vec<i32>>,
    retries: Option<u32>,
    fail_if: Option<Pattern>,
}

impl<'de> Deserialize<'de> for RawCommand {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = RawCommand;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a command line or a map with `run`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawCommand, E> {
                Ok(RawCommand {
                    run: v.to_owned(),
                    ..RawCommand::default()
                })
            }
            // `- true` and `- 42` are YAML booleans and numbers, but meant as command lines.
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawCommand, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawCommand, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawCommand, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawCommand, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RawCommand, A::Error> {
                let m = RawCommandMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawCommand {
                    name: m.name,
                    run: m.run,
                    timeout: m.timeout,
                    ok_exit_codes: m.ok_exit_codes,
                    retries: m.retries,
                    fail_if: m.fail_if,
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Option<usize> {
        SHARED_PATTERNS.with_borrow(|shared| shared.as_ref().map(HashMap::len))
    }

    #[test]
    fn patterns_are_shared_while_jobs_load_and_forgotten_after() {
        assert!(Pattern::from_str("9[0-9]%").is_ok());
        assert_eq!(shared(), None, "nothing kept outside a load");
        {
            let _all = SharedPatterns::start();
            {
                let _one = SharedPatterns::start();
                for _ in 0..3 {
                    let Pattern(regex) = Pattern::from_str("9[0-9]%").unwrap();
                    assert!(regex.is_match("/ 95%") && !regex.is_match("/ 85%"));
                }
                assert!(Pattern::from_str("(unclosed").is_err());
            }
            assert_eq!(shared(), Some(1), "an inner load keeps the outer one's");
            assert!(Pattern::from_str(r"\s100%").is_ok());
            assert_eq!(shared(), Some(2));
        }
        assert_eq!(shared(), None);
    }
}
