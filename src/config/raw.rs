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
use crate::config::escalation::RawEscalation;
use crate::config::hosts::{HostSpec, TargetSpec};
use crate::config::maintenance::RawWindow;
use crate::config::name::is_name;
use crate::config::units::{ByteSize, HumanDuration, UnitError, deserialize_via_from_str};
use crate::config::values::{Ordered, RawExpect, RawValue};
use crate::schedule::{Schedule, Zone};

/// A value in a job file that does not mean what its key needs.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ValueError {
    #[error(transparent)]
    Unit(#[from] UnitError),
    #[error("max_output {0:?} out of range (4KiB..1GiB)")]
    OutputCap(String),
    #[error("timeout {0:?} is below the minimum of 1s (every command would time out)")]
    CommandTimeout(String),
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
    pub defaults: RawJobKeys,
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
    /// The status page, rewritten after every run, flush and daemon fire (docs/status.md).
    pub status_page: Option<PathBuf>,
    /// Recurring maintenance windows, during which jobs are silenced (docs/silences.md).
    #[serde(default)]
    pub maintenance: Vec<RawWindow>,
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
    pub ca_file: Option<PathBuf>,
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
    /// The command line that runs reporter on a host, for `status --hosts` (docs/status.md).
    pub reporter: Option<String>,
}

/// How the SMTP connection is protected. `starttls` and `tls` verify the relay's certificate
/// against the system's trust store, plus `ca_file`'s certificates.
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

/// `commands[].parse:` — how a command's stdout is read into its result's `data`
/// (docs/jobs.md, "Structured output").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Parse {
    /// Not read: `data` is null.
    #[default]
    None,
    /// The whole of stdout is one JSON value.
    Json,
    /// Every non-empty line is one JSON value; `data` is their list.
    JsonLines,
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

/// A command's `timeout:` — a duration of at least [`CommandTimeout::MIN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandTimeout(pub std::time::Duration);

impl CommandTimeout {
    /// Below it a command is killed before a shell has even started.
    pub const MIN: std::time::Duration = std::time::Duration::from_secs(1);
}

impl FromStr for CommandTimeout {
    type Err = ValueError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let duration: HumanDuration = text.parse()?;
        if duration.0 < CommandTimeout::MIN {
            return Err(ValueError::CommandTimeout(text.to_owned()));
        }
        Ok(CommandTimeout(duration.0))
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
    CommandTimeout,
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

impl RawJobMail {
    /// A job's `mail:` over the `defaults:` one: each key the job sets wins.
    fn over(&self, defaults: &RawJobMail) -> RawJobMail {
        RawJobMail {
            from: or(&self.from, &defaults.from),
            to: or(&self.to, &defaults.to),
            cc: or(&self.cc, &defaults.cc),
            reply_to: or(&self.reply_to, &defaults.reply_to),
            subject: or(&self.subject, &defaults.subject),
            template: or(&self.template, &defaults.template),
            attach_output_over: or(&self.attach_output_over, &defaults.attach_output_over),
            per_host: or(&self.per_host, &defaults.per_host),
        }
    }
}

/// Declares, from one list of the job keys, [`RawJobKeys`] (what the config's `defaults:`
/// holds) and [`RawJob`] (a job file: its own keys, and the same job keys in `keys`).
///
/// Why a macro: a job file refuses an unknown key with serde's own message, which names
/// every key the file may have (``unknown field `timeot`, expected one of ...``) and which
/// tests and users read. serde's `#[serde(flatten)]` would embed `RawJobKeys` in `RawJob`,
/// but it cannot be combined with `deny_unknown_fields`. So serde reads a job file as
/// `JobFile`, every key at one level (`..RawJobKeys` says where the job keys go among the
/// job's own), and `RawJob` is made from that; the job keys are still listed once, here.
macro_rules! job_keys {
    (
        $(#[$keys_attr:meta])*
        pub struct RawJobKeys { $($(#[$key_attr:meta])* $key:ident: $key_ty:ty,)* }
        $(#[$job_attr:meta])*
        pub struct RawJob {
            $($(#[$first_attr:meta])* $first:ident: $first_ty:ty,)*
            ..RawJobKeys,
            $($(#[$last_attr:meta])* $last:ident: $last_ty:ty,)*
        }
    ) => {
        $(#[$keys_attr])*
        #[derive(Debug, Clone, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawJobKeys {
            $($(#[$key_attr])* pub $key: $key_ty,)*
        }

        $(#[$job_attr])*
        #[derive(Debug, serde::Deserialize)]
        #[serde(from = "JobFile")]
        pub struct RawJob {
            $($(#[$first_attr])* pub $first: $first_ty,)*
            $($(#[$last_attr])* pub $last: $last_ty,)*
            pub keys: RawJobKeys,
        }

        /// A job file as serde reads it: every key at one level.
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct JobFile {
            $($first: $first_ty,)*
            $($key: $key_ty,)*
            $($last: $last_ty,)*
        }

        impl From<JobFile> for RawJob {
            fn from(file: JobFile) -> RawJob {
                RawJob {
                    $($first: file.$first,)*
                    $($last: file.$last,)*
                    keys: RawJobKeys { $($key: file.$key,)* },
                }
            }
        }
    };
}

job_keys! {
    /// The job keys: what the config's `defaults:` sets for every job, and a job file for
    /// itself.
    pub struct RawJobKeys {
        send: Option<SendRule>,
        catch_up: Option<bool>,
        enabled: Option<bool>,
        random_delay: Option<HumanDuration>,
        retries: Option<u32>,
        retry_delay: Option<HumanDuration>,
        failures_before_mail: Option<u32>,
        disk_full_within: Option<HumanDuration>,
        timeout: Option<CommandTimeout>,
        max_output: Option<OutputCap>,
        env: Option<BTreeMap<String, EnvValue>>,
        cwd: Option<PathBuf>,
        user: Option<String>,
        hosts: Option<Vec<HostSpec>>,
        mail: Option<RawJobMail>,
        ping: Option<RawPing>,
        webhooks: Option<Vec<RawWebhook>>,
        since_default: Option<HumanDuration>,
        remind_every: Option<HumanDuration>,
        escalate: Option<Vec<RawEscalation>>,
    }

    /// A job file exactly as written.
    pub struct RawJob {
        description: Option<String>,
        schedule: Option<Schedule>,
        ..RawJobKeys,
        targets: Option<Vec<TargetSpec>>,
        commands: Option<Vec<RawCommand>>,
    }
}

impl RawJobKeys {
    /// A job's keys over the config's `defaults:`: each key the job sets wins, but `env`
    /// and `mail` are merged one variable and one key at a time. (Every key is named, with
    /// no `..`, so a key added to the list above does not compile until it merges too.)
    pub fn over(&self, defaults: &RawJobKeys) -> RawJobKeys {
        RawJobKeys {
            send: or(&self.send, &defaults.send),
            catch_up: or(&self.catch_up, &defaults.catch_up),
            enabled: or(&self.enabled, &defaults.enabled),
            random_delay: or(&self.random_delay, &defaults.random_delay),
            retries: or(&self.retries, &defaults.retries),
            retry_delay: or(&self.retry_delay, &defaults.retry_delay),
            failures_before_mail: or(&self.failures_before_mail, &defaults.failures_before_mail),
            disk_full_within: or(&self.disk_full_within, &defaults.disk_full_within),
            timeout: or(&self.timeout, &defaults.timeout),
            max_output: or(&self.max_output, &defaults.max_output),
            env: match (&self.env, &defaults.env) {
                (Some(job), Some(defaults)) => {
                    Some(defaults.clone().into_iter().chain(job.clone()).collect())
                }
                (job, defaults) => or(job, defaults),
            },
            cwd: or(&self.cwd, &defaults.cwd),
            user: or(&self.user, &defaults.user),
            hosts: or(&self.hosts, &defaults.hosts),
            mail: match (&self.mail, &defaults.mail) {
                (Some(job), Some(defaults)) => Some(job.over(defaults)),
                (job, defaults) => or(job, defaults),
            },
            ping: or(&self.ping, &defaults.ping),
            webhooks: or(&self.webhooks, &defaults.webhooks),
            since_default: or(&self.since_default, &defaults.since_default),
            remind_every: or(&self.remind_every, &defaults.remind_every),
            escalate: or(&self.escalate, &defaults.escalate),
        }
    }
}

/// A job's value of a key if it sets one, else the `defaults:` one.
fn or<T: Clone>(job: &Option<T>, defaults: &Option<T>) -> Option<T> {
    job.as_ref().or(defaults.as_ref()).cloned()
}

/// One `commands:` entry: a bare string is shorthand for `{run: STRING}`.
#[derive(Debug, Default)]
pub struct RawCommand {
    pub name: Option<String>,
    pub run: String,
    pub timeout: Option<CommandTimeout>,
    pub ok_exit_codes: Option<Vec<i32>>,
    pub error_exit_codes: Option<Vec<i32>>,
    pub retries: Option<u32>,
    pub fail_if: Option<Pattern>,
    pub parse: Option<Parse>,
    pub values: Option<Ordered<RawValue>>,
    pub expect: Option<Ordered<RawExpect>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommandMap {
    name: Option<String>,
    run: String,
    timeout: Option<CommandTimeout>,
    ok_exit_codes: Option<Vec<i32>>,
    error_exit_codes: Option<Vec<i32>>,
    retries: Option<u32>,
    fail_if: Option<Pattern>,
    parse: Option<Parse>,
    values: Option<Ordered<RawValue>>,
    expect: Option<Ordered<RawExpect>>,
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
                    error_exit_codes: m.error_exit_codes,
                    retries: m.retries,
                    fail_if: m.fail_if,
                    parse: m.parse,
                    values: m.values,
                    expect: m.expect,
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
    fn unknown_keys_are_told_every_key_there_is() {
        let job = serde_yaml::from_str::<RawJob>("comands: [df]\n").unwrap_err();
        assert!(
            job.to_string().starts_with(
                "unknown field `comands`, expected one of `description`, `schedule`, `send`, \
                 `catch_up`, `enabled`, `random_delay`, `retries`, `retry_delay`, \
                 `failures_before_mail`, `disk_full_within`, `timeout`, `max_output`, `env`, \
                 `cwd`, `user`, `hosts`, `mail`, `ping`, `webhooks`, `since_default`, \
                 `remind_every`, `escalate`, `targets`, `commands`"
            ),
            "{job}"
        );
        let defaults = serde_yaml::from_str::<RawJobKeys>("commands: [df]\n").unwrap_err();
        assert!(
            defaults.to_string().starts_with(
                "unknown field `commands`, expected one of `send`, `catch_up`, `enabled`, \
                 `random_delay`, `retries`, `retry_delay`, `failures_before_mail`, \
                 `disk_full_within`, `timeout`, `max_output`, `env`, `cwd`, `user`, `hosts`, \
                 `mail`, `ping`, `webhooks`, `since_default`, `remind_every`, `escalate`"
            ),
            "{defaults}"
        );
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
