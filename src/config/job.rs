//! Job files (`jobs/NAME.yaml`): the validated [`Job`], with every default applied from the
//! config's `defaults:` and `mail:`, and the jobs folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::account::RunAs;
use crate::config::address::AddressSpec;
use crate::config::error::{ConfigError, Source};
use crate::config::escalation::{Escalation, RawEscalation};
use crate::config::global::Config;
use crate::config::hosts::{self, HostSpec, MAX_TARGETS, TARGET, TargetSpec};
use crate::config::limits::{self, MAX_FILE_SIZE};
use crate::config::name::is_name;
use crate::config::raw::{
    self, EnvValue, Parse, RawCommand, RawJob, RawJobMail, RawPing, RawWebhook, SendRule,
};
use crate::config::units::HumanDuration;
use crate::config::values::{Checker, Expect, Ordered, RawExpect, RawValue, ValueDef};
use crate::config::{shell, trust};
use crate::schedule::Schedule;

/// The status first, so a failure shows in the inbox list (reporter.yaml(5)).
pub const DEFAULT_SUBJECT: &str = "[{{upper summary.status}}] {{job.name}} on {{host.hostname}}{{#if summary.failed_expectation}}: {{summary.failed_expectation}}{{/if}}";
/// The default subject of a `mail.per_host` job's messages: each is about one host.
pub const DEFAULT_NODE_SUBJECT: &str = "[{{upper summary.status}}] {{job.name}} on {{node}}{{#if summary.failed_expectation}}: {{summary.failed_expectation}}{{/if}}";
pub const DEFAULT_TEMPLATE: &str = "default";
/// A command's `timeout:` when neither it, its job nor `defaults:` sets one; also how long
/// `status --hosts` waits for a host.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_MAX_OUTPUT: u64 = 1 << 20;
/// A first run looks back a day: what a daily report covers.
const DEFAULT_SINCE: Duration = Duration::from_secs(24 * 60 * 60);
const MAX_COMMANDS: usize = 1000;
const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(30);
/// More retries than this, doubling, would wait for years.
const MAX_RETRIES: u32 = 20;
/// How long a ping or a webhook may take, tries included, unless its `timeout:` says.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// One command of a validated job.
#[derive(Debug, Clone)]
pub struct CommandDef {
    pub name: String,
    pub run: String,
    pub timeout: Duration,
    pub ok_exit_codes: Vec<i32>,
    /// Exit codes that say the command could not make its check (`error_exit_codes`): the
    /// result is `error`, as for a command that could not start.
    pub error_exit_codes: Vec<i32>,
    pub fail_if: Option<regex::Regex>,
    /// How stdout is read into the result's `data` (`commands[].parse`).
    pub parse: Parse,
    /// How often a result that is not ok runs again (`commands[].retries`, else the job's).
    pub retries: u32,
    /// The wait before the first retry; each next one waits twice as long.
    pub retry_delay: Duration,
    /// The numbers kept from its output (`commands[].values`, docs/values.md).
    pub values: Vec<ValueDef>,
    /// The rules they keep (`commands[].expect`).
    pub expect: Vec<Expect>,
}

impl CommandDef {
    /// A command `c` for tests, ok with `ok` exit codes unless stdout matches `fail_if`.
    #[cfg(test)]
    pub fn fixture(ok: &[i32], fail_if: Option<&str>) -> CommandDef {
        CommandDef {
            name: "c".into(),
            run: "c".into(),
            timeout: Duration::from_secs(1),
            ok_exit_codes: ok.to_vec(),
            error_exit_codes: Vec::new(),
            fail_if: fail_if.map(|p| regex::Regex::new(p).unwrap()),
            parse: Parse::None,
            retries: 0,
            retry_delay: DEFAULT_RETRY_DELAY,
            values: Vec::new(),
            expect: Vec::new(),
        }
    }
}

/// A job's validated `mail:` settings, merged with `defaults:` and the config's `mail:`.
#[derive(Debug, Clone)]
pub struct JobMail {
    pub from: AddressSpec,
    pub to: Vec<AddressSpec>,
    pub cc: Vec<AddressSpec>,
    pub reply_to: Option<AddressSpec>,
    pub subject: String,
    /// `subject` as compiled when the job loaded (`None` for the built-in subject), for
    /// the run to render without compiling it again.
    pub compiled_subject: Option<Arc<handlebars::Template>>,
    pub template: String,
    pub attach_output_over: Option<u64>,
    pub per_host: bool,
}

/// `ping:`: the URL template of a dead man's switch (docs/monitoring.md).
#[derive(Debug, Clone)]
pub struct Ping {
    pub url: String,
    pub timeout: Duration,
}

/// One `webhooks:` entry, its send rule and headers file settled.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    pub send: SendRule,
    /// `templates/NAME.json.hbs`; `None`: the built-in body (the job's `run --json` object).
    pub template: Option<String>,
    /// "Name: value" lines (mode 0600/0400), read when the webhook is sent.
    pub headers_file: Option<PathBuf>,
    pub timeout: Duration,
}

/// A job that can run: every value checked, every default applied.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub path: PathBuf,
    pub description: Option<String>,
    pub schedule: Option<Schedule>,
    pub send: SendRule,
    pub catch_up: bool,
    /// `false`: left out of `--all`, `--schedule` and the daemon; still runs by name.
    pub enabled: bool,
    /// Every fire time is shifted by a fixed offset in `[0, random_delay)` (see
    /// [`Job::delay_on`]).
    pub random_delay: Duration,
    /// `send: on-failure` mails from the Nth failing run in a row on (at least 1).
    pub failures_before_mail: u32,
    /// A local filesystem forecast to be full within this time marks the report failed.
    pub disk_full_within: Option<HumanDuration>,
    pub max_output: u64,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// The account the commands run as.
    pub user: Option<RunAs>,
    /// Hosts with `@group`s expanded, in the order listed; empty means local.
    pub hosts: Vec<HostSpec>,
    pub targets: Vec<TargetSpec>,
    pub mail: JobMail,
    pub commands: Vec<CommandDef>,
    pub ping: Option<Ping>,
    pub webhooks: Vec<Webhook>,
    /// How far back a job's first run looks: `REPORTER_SINCE` when the history holds no
    /// run of it (docs/jobs.md).
    pub since_default: Duration,
    /// A job that stays not ok mails again once its last mail about the failure is older
    /// than this (docs/silences.md).
    pub remind_every: Option<Duration>,
    /// Who else is told once a failure lasts (docs/silences.md).
    pub escalate: Vec<Escalation>,
}

/// Is `file_name` a job file (`*.yaml`/`*.yml`, not hidden, not a backup)? Returns the job name.
pub fn job_name(file_name: &str) -> Option<&str> {
    if file_name.starts_with('.') || file_name.ends_with('~') {
        return None;
    }
    file_name
        .strip_suffix(".yaml")
        .or_else(|| file_name.strip_suffix(".yml"))
}

impl Job {
    /// Parses and validates the text of job file `path`.
    pub fn parse(
        name: &str,
        path: &Path,
        text: &str,
        config: &Config,
    ) -> Result<Job, Vec<ConfigError>> {
        if !is_name(name) {
            return Err(vec![ConfigError::new(
                path,
                format!("job name {name:?} must be letters, digits, `-` and `_` (rename the file)"),
            )]);
        }
        if text.trim().is_empty() {
            return Err(vec![ConfigError::new(
                path,
                "empty job file (expected at least `commands:`)",
            )]);
        }
        limits::check(path, text).map_err(|e| vec![e])?;
        let source = Source::new(path, text);
        let raw: RawJob = source.parse_all()?;
        Job::from_raw(name, &source, raw, config)
    }

    /// Reads and validates one job file (as root, one only root could have written; its
    /// folder is checked by whoever lists it, see [`job_files`]).
    pub fn load(path: &Path, config: &Config) -> Result<Job, Vec<ConfigError>> {
        let _shared = raw::SharedPatterns::start();
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let name = job_name(file_name).unwrap_or(file_name);
        let text = trust::read_trusted(path, Some(MAX_FILE_SIZE))
            .map_err(|e| vec![ConfigError::new(path, e.to_string())])?;
        Job::parse(name, path, &text, config)
    }

    /// The job `raw` describes over the config's `defaults:`, once every value is checked.
    fn from_raw(
        name: &str,
        source: &Source,
        raw: RawJob,
        config: &Config,
    ) -> Result<Job, Vec<ConfigError>> {
        let keys = raw.keys.over(&config.defaults);
        let mut check = Check {
            source,
            errors: Vec::new(),
        };
        let timeout = keys.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
        let retry = Retry {
            retries: check.retries("retries", keys.retries.unwrap_or(0)),
            delay: keys.retry_delay.map_or(DEFAULT_RETRY_DELAY, |d| d.0),
        };
        let commands = check.commands(raw.commands.unwrap_or_default(), timeout, retry);
        let failures_before_mail =
            check.failures_before_mail(keys.failures_before_mail.unwrap_or(1));
        let escalate = check.loudness(keys.remind_every, keys.escalate.unwrap_or_default());
        // Variable names are checked as written, so that an error names the section with
        // the bad one; `keys.env` holds both sections merged.
        check.env_names("defaults.env", &config.defaults.env);
        check.env_names("env", &raw.keys.env);
        let cwd = check.cwd(keys.cwd);
        let user = check.user(keys.user);
        let hosts = check.hosts(&keys.hosts.unwrap_or_default(), config);
        let targets = raw.targets.unwrap_or_default();
        check.targets(&targets, &commands);
        let random_delay = keys.random_delay.map_or(Duration::ZERO, |d| d.0);
        let delay_key = if raw.keys.random_delay.is_some() {
            "random_delay"
        } else {
            "defaults.random_delay"
        };
        check.random_delay(delay_key, random_delay, raw.schedule.as_ref());
        if !check.errors.is_empty() {
            return Err(check.errors);
        }
        let send = keys.send.unwrap_or_default();
        Ok(Job {
            name: name.to_owned(),
            path: source.path.to_owned(),
            description: raw.description,
            schedule: raw.schedule,
            send,
            catch_up: keys.catch_up.unwrap_or(false),
            enabled: keys.enabled.unwrap_or(true),
            random_delay,
            failures_before_mail,
            disk_full_within: keys.disk_full_within,
            max_output: keys.max_output.map_or(DEFAULT_MAX_OUTPUT, |c| c.0),
            env: keys
                .env
                .unwrap_or_default()
                .into_iter()
                .map(|(key, value)| (key, value.0))
                .collect(),
            cwd,
            user,
            hosts,
            targets,
            mail: JobMail::of(keys.mail.unwrap_or_default(), config),
            commands,
            ping: keys.ping.map(Ping::of),
            webhooks: keys
                .webhooks
                .unwrap_or_default()
                .into_iter()
                .map(|hook| Webhook::of(hook, send, config))
                .collect(),
            since_default: keys.since_default.map_or(DEFAULT_SINCE, |d| d.0),
            remind_every: keys.remind_every.map(|d| d.0),
            escalate,
        })
    }
}

impl Job {
    /// This job's `random_delay` offset on the host named `hostname`.
    pub fn delay_on(&self, hostname: &str) -> Duration {
        crate::schedule::delay::fixed_offset(hostname, &self.name, self.random_delay)
    }

    /// The job's first fire time after `after`, shifted by its offset on `hostname`.
    pub fn next_run(
        &self,
        after: chrono::DateTime<chrono::Utc>,
        zone: crate::schedule::Zone,
        hostname: &str,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let schedule = self.schedule.as_ref()?;
        crate::schedule::delay::next_after(schedule, after, zone, self.delay_on(hostname))
    }
}

/// The job's (or `defaults:`') retry settings, which a command's own `retries` overrides.
#[derive(Clone, Copy)]
struct Retry {
    retries: u32,
    delay: Duration,
}

impl JobMail {
    /// A job's `mail:` (over `defaults.mail:`) over the config's `mail:`.
    fn of(mail: RawJobMail, config: &Config) -> JobMail {
        let per_host = mail.per_host.unwrap_or(false);
        let default_subject = if per_host {
            DEFAULT_NODE_SUBJECT
        } else {
            DEFAULT_SUBJECT
        };
        JobMail {
            from: mail.from.unwrap_or_else(|| config.mail.from.clone()),
            to: mail
                .to
                .map(|l| l.0)
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| config.mail.to.clone()),
            cc: mail.cc.map(|l| l.0).unwrap_or_default(),
            reply_to: mail.reply_to,
            subject: mail
                .subject
                .as_ref()
                .map_or_else(|| default_subject.to_owned(), |s| s.text.clone()),
            compiled_subject: mail.subject.map(|s| s.compiled),
            template: mail
                .template
                .map_or_else(|| DEFAULT_TEMPLATE.to_owned(), |t| t.0),
            attach_output_over: mail.attach_output_over.map(|s| s.0),
            per_host,
        }
    }
}

impl Ping {
    fn of(ping: RawPing) -> Ping {
        Ping {
            url: ping.url.0,
            timeout: ping.timeout.map_or(DEFAULT_HTTP_TIMEOUT, |d| d.0),
        }
    }
}

impl Webhook {
    /// `hook`, sent by the job's own `send` rule unless it has one, its headers file
    /// found from the config's folder.
    fn of(hook: RawWebhook, send: SendRule, config: &Config) -> Webhook {
        Webhook {
            url: hook.url.0,
            send: hook.send.unwrap_or(send),
            template: hook.template.map(|t| t.0),
            headers_file: hook.headers_file.map(|p| config.base.join(p)),
            timeout: hook.timeout.map_or(DEFAULT_HTTP_TIMEOUT, |d| d.0),
        }
    }
}

/// The checks of one job file's values that serde cannot make, each problem collected
/// with its key and position so that a file with several shows them all.
struct Check<'a> {
    source: &'a Source<'a>,
    errors: Vec<ConfigError>,
}

impl Check<'_> {
    fn error(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.errors.push(self.source.error(key, message));
    }

    fn retries(&mut self, key: &str, retries: u32) -> u32 {
        if retries > MAX_RETRIES {
            self.error(
                key,
                format!("retries {retries} out of range (0-{MAX_RETRIES}; each retry waits twice as long as the one before)"),
            );
        }
        retries.min(MAX_RETRIES)
    }

    fn commands(
        &mut self,
        raw: Vec<RawCommand>,
        timeout: Duration,
        retry: Retry,
    ) -> Vec<CommandDef> {
        if raw.len() > MAX_COMMANDS {
            self.error(
                "commands",
                format!(
                    "{} commands (at most {MAX_COMMANDS}; use `targets:` for many similar ones)",
                    raw.len()
                ),
            );
        }
        let mut commands = Vec::new();
        for (i, command) in raw.into_iter().enumerate() {
            if command.run.trim().is_empty() {
                self.error(format!("commands[{i}].run"), "empty command");
                continue;
            }
            self.exit_codes(i, &command);
            let retries = match command.retries {
                Some(retries) => self.retries(&format!("commands[{i}].retries"), retries),
                None => retry.retries,
            };
            let parse = command.parse.unwrap_or_default();
            let (values, expect) = self.values(i, parse, command.values, command.expect);
            commands.push(CommandDef {
                name: command
                    .name
                    .unwrap_or_else(|| command.run.trim().to_owned()),
                run: command.run,
                timeout: command.timeout.map_or(timeout, |d| d.0),
                ok_exit_codes: command.ok_exit_codes.unwrap_or_else(|| vec![0]),
                error_exit_codes: command.error_exit_codes.unwrap_or_default(),
                fail_if: command.fail_if.map(|p| p.0),
                parse,
                retries,
                retry_delay: retry.delay,
                values,
                expect,
            });
        }
        commands
    }

    /// Checks command `i`'s `ok_exit_codes` and `error_exit_codes`: exit codes, and no code
    /// in both.
    fn exit_codes(&mut self, i: usize, command: &RawCommand) {
        let lists = [
            ("ok_exit_codes", &command.ok_exit_codes),
            ("error_exit_codes", &command.error_exit_codes),
        ];
        for (key, codes) in lists {
            if let Some(code) = codes.iter().flatten().find(|c| !(0..=255).contains(*c)) {
                self.error(
                    format!("commands[{i}].{key}"),
                    format!("exit code {code} out of range (0-255)"),
                );
            }
        }
        let ok = command.ok_exit_codes.as_deref().unwrap_or(&[0]);
        if let Some(code) = command
            .error_exit_codes
            .iter()
            .flatten()
            .find(|c| ok.contains(c))
        {
            self.error(
                format!("commands[{i}].error_exit_codes"),
                format!("exit code {code} is also in ok_exit_codes"),
            );
        }
    }

    /// Command `i`'s `values:` and `expect:`, checked.
    fn values(
        &mut self,
        i: usize,
        parse: Parse,
        values: Option<Ordered<RawValue>>,
        expect: Option<Ordered<RawExpect>>,
    ) -> (Vec<ValueDef>, Vec<Expect>) {
        let mut problems = Vec::new();
        let mut checker = Checker {
            at: format!("commands[{i}]"),
            parsed: parse != Parse::None,
            compile: |text| {
                raw::Pattern::from_str(text)
                    .map(|pattern| pattern.0)
                    .map_err(|e| e.to_string())
            },
            problem: &mut |key, message| problems.push((key, message)),
        };
        let values = checker.values(values.unwrap_or_default());
        let expect = checker.expect(expect.unwrap_or_default(), &values);
        for (key, message) in problems {
            self.error(key, message);
        }
        (values, expect)
    }

    /// Checks the names of the variables of `section` (`env` or `defaults.env`).
    fn env_names(&mut self, section: &str, vars: &Option<BTreeMap<String, EnvValue>>) {
        for key in vars.iter().flat_map(BTreeMap::keys) {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                self.error(format!("{section}.{key}"), "invalid variable name");
            }
        }
    }

    /// `remind_every` must be a time, and each `escalate:` step must tell someone.
    fn loudness(
        &mut self,
        remind_every: Option<HumanDuration>,
        escalate: Vec<RawEscalation>,
    ) -> Vec<Escalation> {
        if remind_every.is_some_and(|d| d.0.is_zero()) {
            self.error(
                "remind_every",
                "remind_every 0s: a reminder needs an interval (e.g. 1d)",
            );
        }
        for (i, step) in escalate.iter().enumerate() {
            if step.to.0.is_empty() {
                self.error(
                    format!("escalate[{i}].to"),
                    "no address: a step names whom it tells",
                );
            }
        }
        escalate.into_iter().map(Escalation::of).collect()
    }

    fn failures_before_mail(&mut self, failures: u32) -> u32 {
        if failures == 0 {
            self.error(
                "failures_before_mail",
                "failures_before_mail 0 out of range (at least 1: the first failing run)",
            );
        }
        failures
    }

    /// The offset of `random_delay` is below it, so a delay up to the time between two
    /// fire times keeps each run before the next one; a longer one would move runs past
    /// the next (and one far longer made the job never run).
    fn random_delay(&mut self, key: &str, delay: Duration, schedule: Option<&Schedule>) {
        let Some(schedule) = schedule.filter(|_| !delay.is_zero()) else {
            return;
        };
        let Some(interval) = schedule.shortest_interval() else {
            return;
        };
        if delay > interval {
            self.error(
                key,
                format!(
                    "random_delay {} is longer than {}, the shortest time between two runs of schedule `{schedule}` (a run could be delayed past the next one)",
                    HumanDuration(delay),
                    HumanDuration(interval)
                ),
            );
        }
    }

    fn cwd(&mut self, cwd: Option<PathBuf>) -> PathBuf {
        let cwd = cwd.unwrap_or_else(|| PathBuf::from("/"));
        if !cwd.is_absolute() {
            self.error(
                "cwd",
                format!("{:?} is not an absolute path", cwd.display().to_string()),
            );
        }
        cwd
    }

    fn user(&mut self, user: Option<String>) -> Option<RunAs> {
        let user = user?;
        if user.is_empty() || user.chars().any(|c| c.is_whitespace() || c == ':') {
            self.error("user", format!("invalid user name {user:?}"));
            return None;
        }
        RunAs::resolve(&user)
            .map_err(|e| self.error("user", e.to_string()))
            .ok()
    }

    fn hosts(&mut self, hosts: &[HostSpec], config: &Config) -> Vec<HostSpec> {
        hosts::expand_groups(hosts, &config.host_groups, |i, group| {
            self.error(
                format!("hosts[{i}]"),
                format!(
                    "unknown host group `@{group}` (not in the config's host_groups or inventory)"
                ),
            );
        })
    }

    fn targets(&mut self, targets: &[TargetSpec], commands: &[CommandDef]) {
        for (i, command) in commands.iter().enumerate() {
            if shell::in_quotes(&command.run, TARGET) {
                // `run` of a command written in full, or the command itself in short.
                let full = format!("commands[{i}].run");
                let key = if self.source.locates(&full) {
                    full
                } else {
                    format!("commands[{i}]")
                };
                self.error(
                    key,
                    format!(
                        "`{TARGET}` inside quotes in `run`: it is substituted already shell-quoted, \
                         and inside quotes a target's `$(...)` would run; write it without quotes"
                    ),
                );
            }
        }
        if targets.is_empty()
            && let Some(i) = commands.iter().position(|c| c.run.contains(TARGET))
        {
            self.error(
                format!("commands[{i}]"),
                format!("`{TARGET}` in `run` needs a `targets:` list to take its values from"),
            );
        }
        let count: u128 = targets.iter().map(TargetSpec::count).sum();
        if count > MAX_TARGETS {
            self.error(
                "targets",
                format!("{count} targets in all (at most {MAX_TARGETS})"),
            );
        }
    }
}

/// Every job file in `dir`, sorted by name: the valid jobs and the problems of the others.
pub fn load_all(dir: &Path, config: &Config) -> (Vec<Job>, Vec<ConfigError>) {
    let _shared = raw::SharedPatterns::start();
    let mut jobs = Vec::new();
    let mut errors = Vec::new();
    for path in job_files(dir, &mut errors) {
        match Job::load(&path, config) {
            Ok(job) => jobs.push(job),
            Err(mut e) => errors.append(&mut e),
        }
    }
    (jobs, errors)
}

/// The job files in `dir` (see [`job_name`]), sorted by file name; none when, as root,
/// the folder is one others could swap files in.
pub fn job_files(dir: &Path, errors: &mut Vec<ConfigError>) -> Vec<PathBuf> {
    if let Err(e) = check_jobs_dir(dir) {
        errors.push(e);
        return Vec::new();
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(ConfigError::new(
                dir,
                format!("cannot read jobs folder: {e}"),
            ));
            return Vec::new();
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().and_then(job_name).is_some())
        .map(|e| e.path())
        .collect();
    paths.sort();
    paths
}

/// As root, refuses a jobs folder another user owns or can write to (docs/security.md).
pub fn check_jobs_dir(dir: &Path) -> Result<(), ConfigError> {
    trust::check_folder(dir).map_err(|e| ConfigError::new(dir, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::parse(
            "host_groups: {web: [web1, web2]}\n",
            Path::new("r.yaml"),
            Path::new("/etc/r"),
        )
        .unwrap()
    }

    fn parse(text: &str) -> Result<Job, Vec<ConfigError>> {
        Job::parse("disk", Path::new("jobs/disk.yaml"), text, &config())
    }

    fn first_error(text: &str) -> String {
        parse(text).unwrap_err()[0].to_string()
    }

    #[test]
    fn shorthand_and_full_commands() {
        let job = parse("commands:\n  - df -h\n  - {name: inodes, run: df -i, timeout: 5s, ok_exit_codes: [0, 1]}\n").unwrap();
        assert_eq!(job.commands[0].name, "df -h");
        assert_eq!(job.commands[0].timeout, DEFAULT_TIMEOUT);
        assert_eq!(job.commands[1].name, "inodes");
        assert_eq!(job.commands[1].timeout, Duration::from_secs(5));
        assert_eq!(job.commands[1].ok_exit_codes, [0, 1]);
        assert_eq!(job.mail.subject, DEFAULT_SUBJECT);
        assert_eq!(job.mail.to[0].as_str(), "root@localhost");
    }

    #[test]
    fn facts_only_job_is_valid() {
        assert!(
            parse("description: facts\nmail: {template: summary}\n")
                .unwrap()
                .commands
                .is_empty()
        );
    }

    #[test]
    fn host_groups_expand_in_order() {
        let job = parse("hosts: [db1, \"@web\", localhost]\ncommands: [uptime]\n").unwrap();
        let shown: Vec<String> = job.hosts.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["db1", "web1", "web2", "localhost"]);
        let job = parse("hosts: [\"@web\", web2, web1]\ncommands: [uptime]\n").unwrap();
        assert_eq!(job.hosts.len(), 2, "each host once: {:?}", job.hosts);
        let err = first_error("hosts: [\"@db\"]\ncommands: [uptime]\n");
        assert_eq!(
            err,
            "jobs/disk.yaml:1:9: hosts[0]: unknown host group `@db` (not in the config's host_groups or inventory)"
        );
    }

    #[test]
    fn per_host_messages_name_their_host_by_default() {
        let job = parse("hosts: [web1]\nmail: {per_host: true}\ncommands: [uptime]\n").unwrap();
        assert_eq!(job.mail.subject, DEFAULT_NODE_SUBJECT);
        let job = parse("hosts: [web1]\nmail: {per_host: true, subject: x}\ncommands: [uptime]\n")
            .unwrap();
        assert_eq!(job.mail.subject, "x");
    }

    #[test]
    fn target_placeholder_needs_targets() {
        let err = first_error("commands:\n  - uptime\n  - ping -c 1 {{target}}\n");
        assert_eq!(
            err,
            "jobs/disk.yaml:3:5: commands[1]: `{{target}}` in `run` needs a `targets:` list to take its values from"
        );
        assert!(parse("targets: [a]\ncommands: ['ping -c 1 {{target}}']\n").is_ok());
    }

    #[test]
    fn quoted_targets_are_refused_where_they_are() {
        let err = first_error("targets: [a]\ncommands:\n  - ping \"{{target}}\"\n");
        assert!(
            err.starts_with("jobs/disk.yaml:3:5: commands[0]: `{{target}}` inside quotes in `run`"),
            "{err}"
        );
        let err =
            first_error("targets: [a]\ncommands:\n  - {name: p, run: \"ping '{{target}}'\"}\n");
        assert!(
            err.starts_with("jobs/disk.yaml:3:20: commands[0].run: `{{target}}` inside quotes"),
            "{err}"
        );
    }

    #[test]
    fn errors_are_located() {
        let err = first_error("commands:\n  - run: df\n    timeout: 5 minutes\n");
        assert_eq!(
            err,
            "jobs/disk.yaml:3:14: commands[0].timeout: invalid duration \"5 minutes\" (expected e.g. 30s, 5m, 1h30m)"
        );
        let err = first_error("commands: [df]\ntimeot: 5s\n");
        assert!(
            err.starts_with("jobs/disk.yaml:2:1: timeot: unknown field `timeot`, expected one of"),
            "{err}"
        );
        let err = first_error("commands:\n  - {run: df, fail_if: '(9'}\n");
        assert!(
            err.contains("commands[0].fail_if: invalid regular expression"),
            "{err}"
        );
        let err = first_error("mail: {to: not-an-address}\ncommands: [df]\n");
        assert!(
            err.contains("mail.to: invalid mail address \"not-an-address\""),
            "{err}"
        );
        let err = first_error("max_output: 1KiB\ncommands: [df]\n");
        assert!(
            err.contains("max_output: max_output \"1KiB\" out of range"),
            "{err}"
        );
        let err = first_error("commands: [df\n");
        assert!(err.starts_with("jobs/disk.yaml:"), "{err}");
        let err = first_error("commands:\n  - {run: df, error_exit_codes: [300]}\n");
        assert!(
            err.contains("commands[0].error_exit_codes: exit code 300 out of range (0-255)"),
            "{err}"
        );
        let err =
            first_error("commands:\n  - {run: df, ok_exit_codes: [0, 3], error_exit_codes: [3]}\n");
        assert!(
            err.contains("commands[0].error_exit_codes: exit code 3 is also in ok_exit_codes"),
            "{err}"
        );
        let err = first_error("commands:\n  - {run: df, error_exit_codes: [0]}\n");
        assert!(
            err.contains("exit code 0 is also in ok_exit_codes"),
            "{err}"
        );
    }

    #[test]
    fn values_and_expectations_are_read_in_order() {
        let job = parse(
            "commands:\n  - run: backup\n    parse: json\n    values:\n      sent: 'sent (\\S+) bytes'\n      free: {json: /0/avail}\n    expect:\n      sent: {min: 1GiB, change: 50%}\n      duration_ms: {max: 1h, anomaly: 4}\n",
        )
        .unwrap();
        let command = &job.commands[0];
        let names: Vec<&str> = command.values.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["sent", "free"]);
        let sent = &command.expect[0];
        assert_eq!((sent.min, sent.change), (Some(1073741824.0), Some(50.0)));
        assert_eq!(sent.unit, crate::config::values::Unit::Bytes);
        let duration = &command.expect[1];
        assert_eq!(
            (duration.max, duration.anomaly),
            (Some(3_600_000.0), Some(4.0))
        );
    }

    #[test]
    fn bad_values_and_expectations_are_located() {
        let cases = [
            (
                "commands:\n  - run: a\n    values: {Files: '(\\d+)'}\n",
                "jobs/disk.yaml:3:21: commands[0].values.Files: invalid value name \"Files\" (a lowercase letter, then lowercase letters, digits and `_`)",
            ),
            (
                "commands:\n  - run: a\n    values: {files: '(\\d+'}\n",
                "jobs/disk.yaml:3:21: commands[0].values.files: invalid regular expression: ",
            ),
            (
                "commands:\n  - run: a\n    values: {files: 'files \\d+'}\n",
                "jobs/disk.yaml:3:21: commands[0].values.files: the regular expression \"files \\\\d+\" has no capture group: put the number in ( ), as 'files: (\\d+)'",
            ),
            (
                "commands:\n  - run: a\n    values: {duration_ms: '(\\d+)'}\n",
                "jobs/disk.yaml:3:27: commands[0].values.duration_ms: `duration_ms` is built in (every result has it): name this value otherwise",
            ),
            (
                "commands:\n  - run: a\n    parse: json\n    values: {free: {json: 0/avail}}\n",
                "jobs/disk.yaml:4:27: commands[0].values.free.json: invalid JSON pointer \"0/avail\" (it starts with `/`, as /0/avail; the empty pointer is the whole value)",
            ),
            (
                "commands:\n  - run: a\n    values: {free: {json: /0/avail}}\n",
                "jobs/disk.yaml:3:27: commands[0].values.free.json: a JSON pointer reads the command's data, which needs `parse: json` or `parse: json-lines`",
            ),
            (
                "commands:\n  - run: a\n    values: {files: '(\\d+)'}\n    expect: {fils: {max: 3}}\n",
                "jobs/disk.yaml:4:20: commands[0].expect.fils: no value `fils` (its values: files; `duration_ms` is built in)",
            ),
            (
                "commands:\n  - run: a\n    values: {sent: '(\\S+)'}\n    expect: {sent: {min: 1 GB/s}}\n",
                "jobs/disk.yaml:4:26: commands[0].expect.sent.min: invalid min \"1 GB/s\" (expected a number, or a size such as 1.5GiB)",
            ),
            (
                "commands:\n  - run: a\n    expect: {duration_ms: {max: 5 minutes}}\n",
                "jobs/disk.yaml:3:33: commands[0].expect.duration_ms.max: invalid max \"5 minutes\" (expected milliseconds, or a duration such as 30s or 1h30m)",
            ),
            (
                "commands:\n  - run: a\n    expect: {duration_ms: {change: fifty}}\n",
                "jobs/disk.yaml:3:36: commands[0].expect.duration_ms.change: invalid change \"fifty\" (expected a percentage such as 50%)",
            ),
            (
                "commands:\n  - run: a\n    expect: {duration_ms: {anomaly: 0}}\n",
                "jobs/disk.yaml:3:37: commands[0].expect.duration_ms.anomaly: anomaly 0 out of range (more than 0: how many robust deviations from the median are normal)",
            ),
            (
                "commands:\n  - run: a\n    expect: {duration_ms: {}}\n",
                "jobs/disk.yaml:3:27: commands[0].expect.duration_ms: no rule (min, max, change or anomaly)",
            ),
            (
                "commands:\n  - run: a\n    expect: {duration_ms: {min: 2s, max: 1s}}\n",
                "jobs/disk.yaml:3:27: commands[0].expect.duration_ms: min is above max: no value could keep both",
            ),
            (
                "commands:\n  - run: a\n    expect: {duration_ms: {mni: 2s}}\n",
                "jobs/disk.yaml:3:28: commands[0].expect.duration_ms.mni: unknown field `mni`, expected one of `min`, `max`, `change`, `anomaly`",
            ),
        ];
        for (text, expected) in cases {
            let err = first_error(text);
            assert!(
                err.starts_with(expected),
                "{text}\n  got: {err}\n want: {expected}"
            );
        }
        let many: String = (0..33).map(|i| format!("v{i}: '(\\d+)', ")).collect();
        let err = first_error(&format!("commands:\n  - run: a\n    values: {{{many}}}\n"));
        assert_eq!(
            err,
            "jobs/disk.yaml:3:13: commands[0].values: 33 values (at most 32 per command)"
        );
    }

    #[test]
    fn several_mistakes_in_one_file_are_all_reported() {
        let text = "tmeout: 5s\ncommands:\n  - run: df\n    timeout: 5 minutes\n  - {run: df -i, nmae: x}\nmail:\n  to: [nobody]\n";
        let shown: Vec<String> = parse(text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown.len(), 4, "{shown:#?}");
        assert!(
            shown[0].starts_with("jobs/disk.yaml:1:1: tmeout: unknown field `tmeout`"),
            "{shown:#?}"
        );
        assert!(
            shown.iter().any(|e| e.starts_with(
                "jobs/disk.yaml:4:14: commands[0].timeout: invalid duration \"5 minutes\""
            )),
            "{shown:#?}"
        );
        assert!(
            shown
                .iter()
                .any(|e| e
                    .starts_with("jobs/disk.yaml:5:18: commands[1].nmae: unknown field `nmae`")),
            "{shown:#?}"
        );
        assert!(
            shown.iter().any(|e| e
                .starts_with("jobs/disk.yaml:7:8: mail.to[0]: invalid mail address \"nobody\"")),
            "{shown:#?}"
        );
    }

    #[test]
    fn several_semantic_errors_are_all_reported() {
        let errors = parse("cwd: tmp\nuser: \"a b\"\ncommands: [\"  \"]\n").unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
    }

    #[test]
    fn retries_come_from_the_command_the_job_or_the_defaults() {
        let job =
            parse("retries: 2\nretry_delay: 1s\ncommands: [a, {run: b, retries: 0}]\n").unwrap();
        let tries: Vec<(u32, Duration)> = job
            .commands
            .iter()
            .map(|c| (c.retries, c.retry_delay))
            .collect();
        assert_eq!(
            tries,
            [(2, Duration::from_secs(1)), (0, Duration::from_secs(1))]
        );
        let defaults = Config::parse(
            "defaults: {retries: 1, random_delay: 10m, failures_before_mail: 2}\n",
            Path::new("r.yaml"),
            Path::new("/etc/r"),
        )
        .unwrap();
        let job = Job::parse("j", Path::new("j.yaml"), "commands: [a]\n", &defaults).unwrap();
        assert_eq!(job.commands[0].retries, 1);
        assert_eq!(job.commands[0].retry_delay, DEFAULT_RETRY_DELAY);
        assert_eq!(job.random_delay, Duration::from_secs(600));
        assert_eq!(job.failures_before_mail, 2);
        let err = first_error("commands: [{run: a, retries: 21}]\n");
        assert!(
            err.contains("commands[0].retries: retries 21 out of range (0-20"),
            "{err}"
        );
    }

    #[test]
    fn a_job_sets_its_keys_over_the_defaults_env_and_mail_one_at_a_time() {
        let defaults = Config::parse(
            "defaults:\n  env: {A: '1', B: '2'}\n  cwd: /srv\n  \
             mail: {cc: [ops@example.com], subject: theirs}\n  \
             ping: {url: 'http://127.0.0.1/ping'}\n  webhooks: [{url: 'http://127.0.0.1/a'}]\n",
            Path::new("r.yaml"),
            Path::new("/etc/r"),
        )
        .unwrap();
        let job = Job::parse(
            "j",
            Path::new("j.yaml"),
            "env: {B: '3', C: '4'}\ncwd: /tmp\nmail: {subject: mine}\nwebhooks: []\ncommands: [a]\n",
            &defaults,
        )
        .unwrap();
        let var = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(job.env, [var("A", "1"), var("B", "3"), var("C", "4")]);
        assert_eq!(job.cwd, Path::new("/tmp"));
        assert_eq!(job.mail.subject, "mine");
        assert_eq!(job.mail.cc.len(), 1);
        assert_eq!(job.mail.cc[0].as_str(), "ops@example.com");
        assert_eq!(
            job.ping.map(|p| p.url).as_deref(),
            Some("http://127.0.0.1/ping")
        );
        assert!(job.webhooks.is_empty(), "the job's empty list wins");
        let job = Job::parse("j", Path::new("j.yaml"), "commands: [a]\n", &defaults).unwrap();
        assert_eq!(job.env, [var("A", "1"), var("B", "2")]);
        assert_eq!(job.cwd, Path::new("/srv"));
        assert_eq!(job.mail.subject, "theirs");
        assert_eq!(job.webhooks.len(), 1);
    }

    #[test]
    fn the_next_run_is_shifted_by_the_hosts_offset_also_after_a_late_start() {
        let job = parse("schedule: 0 3 * * *\nrandom_delay: 1h\ncommands: [a]\n").unwrap();
        let zone: crate::schedule::Zone = "UTC".parse().unwrap();
        let offset = chrono::Duration::from_std(job.delay_on("web1")).unwrap();
        let day = |d: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 3, d)
                .unwrap()
                .and_hms_opt(3, 0, 0)
                .unwrap()
                .and_utc()
        };
        // The run of the 1st started at its shifted time: the next is the 2nd's, shifted.
        let last = day(1) + offset;
        assert_eq!(job.next_run(last, zone, "web1"), Some(day(2) + offset));
        // So a daemon up again on the 2nd after 03:00 but before the shifted time has
        // missed nothing (`catch_up` compares with this).
        let up_again = day(2) + offset / 2;
        assert!(offset > chrono::Duration::minutes(1), "{offset}");
        assert!(job.next_run(last, zone, "web1").unwrap() > up_again);
        assert_ne!(job.delay_on("web1"), job.delay_on("web2"));
    }

    #[test]
    fn bad_file_names() {
        let err = Job::parse(
            "disk usage",
            Path::new("jobs/disk usage.yaml"),
            "commands: [df]",
            &config(),
        )
        .unwrap_err();
        assert!(err[0].to_string().contains("must be letters, digits"));
        assert_eq!(job_name("disk.yaml"), Some("disk"));
        assert_eq!(job_name("disk.yml"), Some("disk"));
        assert_eq!(job_name(".disk.yaml"), None);
        assert_eq!(job_name("disk.yaml~"), None);
        assert_eq!(job_name("disk.yaml.dpkg-old"), None);
    }
}
