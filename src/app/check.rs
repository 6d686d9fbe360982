//! `reporter check`: the configuration, every job and every template validated, templated
//! addresses checked against their context and rendered where check knows what they read,
//! and the installation around them linted (copies of the binary that run-parts would
//! skip, files others can write, schedules that fall into a DST gap, webhooks' headers
//! files that a delivery could not use).

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::config::address::{AddressSpec, parse_mailbox};
use crate::config::error::Source;
use crate::config::hosts::HostSpec;
use crate::config::limits::MAX_FILE_SIZE;
use crate::config::{
    Config, ConfigError, Job, SmtpConfig, TlsMode, TransportConfig, headers, job, trust,
};
use crate::exit;
use crate::log;
use crate::mail::message::one_line;
use crate::render::Templates;
use crate::report::{Facts, JobInfo, Scope};
use crate::run::load::{self, Workload};
use crate::schedule::{Gaps, Period, Zone};
use crate::stdout;

use super::needs::Loaded;

/// `reporter check`: every problem of the configuration, the jobs and the templates, and
/// of the installation around them; exit 2 when there is one.
pub fn check((): (), loaded: Loaded) -> anyhow::Result<i32> {
    let Loaded {
        mut config,
        invocation,
    } = loaded;
    // The jobs may name the inventory's host groups.
    config.load_inventory();
    let mut errors: Vec<ConfigError> = load::password_problem(&config).into_iter().collect();
    errors.extend(load::ca_file_problem(&config));
    let Workload {
        jobs,
        templates,
        mut problems,
    } = Workload::everything(&config);
    errors.append(&mut problems);
    errors.append(&mut template_problems(&templates, &jobs));
    errors.append(&mut address_problems(&config, &templates, &jobs));
    errors.append(&mut headers_problems(&config, &jobs));
    errors.append(&mut url_problems(&config, &jobs));
    for window in &config.maintenance {
        errors.extend(window.unknown_jobs(|job| load::unknown_job(&config, job).is_none()));
    }
    errors.append(&mut lint_cron_folders(invocation.argv0.as_deref()));
    errors.extend(state_dir_problem(&config));
    warn(&config, &jobs);
    log::problems(&errors);
    if !errors.is_empty() {
        tracing::error!(
            "{} problem{} found",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        );
        return Ok(exit::USAGE);
    }
    if !invocation.quiet {
        let summary = format!(
            "{}: {} job{} ok\n",
            config.display_path().display(),
            jobs.len(),
            if jobs.len() == 1 { "" } else { "s" }
        );
        stdout::print(summary).context("cannot write the summary")?;
    }
    Ok(exit::OK)
}

/// Partials that nest too deep, and variables that no template could be given: nothing
/// is rendered blindly.
fn template_problems(templates: &Templates, jobs: &[Job]) -> Vec<ConfigError> {
    let mut problems = templates.nesting_problems();
    problems.extend(templates.unknown_variables());
    for job in jobs {
        for problem in templates.unknown_inline_variables(&job.mail.subject) {
            problems.push(ConfigError::at_key(&job.path, "mail.subject", problem));
        }
    }
    problems
}

/// The templated addresses of `jobs` that read variables that cannot exist, or that do
/// not render to one address from what a run of the job would hold (where check knows it),
/// each located where it is written; an address the config gives many jobs, once.
fn address_problems(config: &Config, templates: &Templates, jobs: &[Job]) -> Vec<ConfigError> {
    let check = AddressCheck {
        templates,
        zone: config.timezone,
        facts: OnceCell::new(),
    };
    let mut problems = Vec::new();
    for job in jobs {
        for (field, index, address) in templated_addresses(job) {
            for message in check.problems(job, address.as_str()) {
                let problem = locate_address(config, job, field, index, message);
                if !problems.contains(&problem) {
                    problems.push(problem);
                }
            }
        }
    }
    problems
}

/// The templated addresses of `job`, each with its field (`to`) and its index in a list.
fn templated_addresses(
    job: &Job,
) -> impl Iterator<Item = (&'static str, Option<usize>, &AddressSpec)> {
    let mail = &job.mail;
    let single = [
        ("from", Some(&mail.from)),
        ("reply_to", mail.reply_to.as_ref()),
    ]
    .into_iter()
    .filter_map(|(field, address)| Some((field, None, address?)));
    let lists = [("to", &mail.to), ("cc", &mail.cc)]
        .into_iter()
        .flat_map(|(field, list)| {
            list.iter()
                .enumerate()
                .map(move |(index, address)| (field, Some(index), address))
        });
    single
        .chain(lists)
        .filter(|(_, _, address)| address.is_template())
}

/// The variables of a job's context that check holds as a run would: the job, this host's
/// facts, the host a per-host message is about, and that the message is no digest section.
/// The results, their summary and the run exist only when the job has run.
const KNOWN_AT_CHECK: [&str; 4] = ["job", "host", "node", "section"];

/// Checks address templates as a run renders them, with what check can know of their
/// context.
struct AddressCheck<'a> {
    templates: &'a Templates,
    zone: Zone,
    /// Gathered for the first address that reads only what check knows.
    facts: OnceCell<Facts>,
}

impl AddressCheck<'_> {
    /// What is wrong with `job`'s address template `address`: the variables it reads that
    /// cannot exist (as `LINE:COLUMN: MESSAGE` within it, as for a subject); or, when it
    /// reads nothing but [`KNOWN_AT_CHECK`], why what it renders to is not one address, for
    /// any message of the job. An address that reads the results renders only in a run.
    fn problems(&self, job: &Job, address: &str) -> Vec<String> {
        let unknown = self.templates.unknown_inline_variables(address);
        if !unknown.is_empty() {
            return unknown;
        }
        if !self.templates.inline_reads_only(address, &KNOWN_AT_CHECK) {
            return Vec::new();
        }
        let facts = self
            .facts
            .get_or_init(|| Facts::gather(Scope::Full, self.zone));
        for node in nodes(job) {
            let context = known_context(job, facts, node);
            let parsed = match self.templates.render_inline(address, &context) {
                Ok(rendered) => parse_mailbox(&one_line(&rendered))
                    .map(drop)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(problem) = parsed {
                return vec![problem];
            }
        }
        Vec::new()
    }
}

/// The variables [`KNOWN_AT_CHECK`] of a message of `job` about `node`.
fn known_context(job: &Job, facts: &Facts, node: Option<String>) -> serde_json::Value {
    serde_json::json!({
        "job": JobInfo::of(job), "host": facts, "node": node, "section": false,
    })
}

/// The `node` of each message of `job`: with `mail.per_host` each of its hosts as the job
/// writes it (`localhost` for a job without hosts), otherwise null.
fn nodes(job: &Job) -> Vec<Option<String>> {
    if !job.mail.per_host {
        return vec![None];
    }
    if job.hosts.is_empty() {
        return vec![Some(HostSpec::Local.to_string())];
    }
    job.hosts
        .iter()
        .map(|host| Some(host.to_string()))
        .collect()
}

/// A problem with the address at `mail.FIELD` (item `index` of a list) of `job`, located
/// where the job has it from: its own file, else the config's `defaults.mail` or `mail`.
fn locate_address(
    config: &Config,
    job: &Job,
    field: &str,
    index: Option<usize>,
    message: String,
) -> ConfigError {
    let job_text = reread(&job.path);
    let config_text = config
        .file
        .as_ref()
        .map(|path| reread(path))
        .unwrap_or_default();
    let job_file = Source::new(&job.path, &job_text);
    let config_file = Source::new(config.display_path(), &config_text);
    let places = [
        (&job_file, "mail"),
        (&config_file, "defaults.mail"),
        (&config_file, "mail"),
    ];
    for (source, section) in places {
        let key = format!("{section}.{field}");
        if !source.locates(&key) {
            continue;
        }
        let item = index
            .map(|i| format!("{key}[{i}]"))
            .filter(|item| source.locates(item));
        return source.error(item.unwrap_or(key), message);
    }
    ConfigError::at_key(&job.path, format!("mail.{field}"), message)
}

/// A state folder that others could write to, checked without changing it.
fn state_dir_problem(config: &Config) -> Option<ConfigError> {
    let e = crate::state::dir::check(&config.state_dir).err()?;
    Some(ConfigError::at_key(
        config.display_path(),
        "state_dir",
        e.to_string(),
    ))
}

/// Warns (check's exit code stays) of schedules that fall into a DST gap, of a password
/// that would cross the network in clear, and, when not root, of files others can write.
fn warn(config: &Config, jobs: &[Job]) {
    for warning in dst_gaps(config, jobs)
        .into_iter()
        .chain(password_in_clear(config))
    {
        tracing::warn!("{warning}");
    }
    // As root the loaders refuse such files outright; anyone else gets a warning.
    if !nix::unistd::Uid::effective().is_root() {
        for warning in writable_files(config)
            .iter()
            .filter_map(|p| trust::writable_by_others(p))
        {
            tracing::warn!("{warning}");
        }
    }
}

/// Copies of this binary in `cron.*` folders that `run-parts` would never run: a name
/// with characters other than letters, digits, `_` and `-` (Debian's run-parts skips
/// `reporter.sh` without a word), or no exec bit. Looks in `/etc/cron.*` and in the
/// `cron.*` folder this copy was started from.
fn lint_cron_folders(argv0: Option<&Path>) -> Vec<ConfigError> {
    let Ok(exe) = std::env::current_exe() else {
        return Vec::new();
    };
    let mut this = ThisBinary {
        len: std::fs::metadata(&exe).map(|m| m.len()).ok(),
        real: std::fs::canonicalize(&exe).ok(),
        bytes: None,
        path: exe,
    };
    let mut problems = Vec::new();
    for folder in cron_folders(&this.path, argv0) {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        paths.sort();
        for path in paths.iter().filter(|p| this.is_copy(p)) {
            problems.extend(run_parts_skips(&folder, path));
        }
    }
    problems
}

/// `/etc/cron.*`, and the `cron.*` folder this copy was started from.
fn cron_folders(exe: &Path, argv0: Option<&Path>) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = ["hourly", "daily", "weekly", "monthly"]
        .iter()
        .map(|p| PathBuf::from(format!("/etc/cron.{p}")))
        .collect();
    for own in [Some(exe), argv0]
        .into_iter()
        .flatten()
        .filter_map(Path::parent)
    {
        let is_cron_folder = own
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| Period::from_cron_folder(n).is_some());
        if is_cron_folder && !folders.iter().any(|f| f == own) {
            folders.push(own.to_owned());
        }
    }
    folders
}

/// The running binary, to recognise copies of it.
struct ThisBinary {
    path: PathBuf,
    len: Option<u64>,
    real: Option<PathBuf>,
    /// Read the first time a file of the same length turns up.
    bytes: Option<Vec<u8>>,
}

impl ThisBinary {
    /// Whether `path` is this binary: a link to it, or a file with the same bytes.
    fn is_copy(&mut self, path: &Path) -> bool {
        let Ok(meta) = std::fs::metadata(path) else {
            return false;
        };
        meta.is_file()
            && (std::fs::canonicalize(path).ok() == self.real
                || Some(meta.len()) == self.len
                    && std::fs::read(path).is_ok_and(|bytes| {
                        let own = self
                            .bytes
                            .get_or_insert_with(|| std::fs::read(&self.path).unwrap_or_default());
                        bytes == *own
                    }))
    }
}

/// Why run-parts would skip the copy at `path` in `folder`: a name with anything but
/// letters, digits, `_` and `-`, or no exec bit.
fn run_parts_skips(folder: &Path, path: &Path) -> Vec<ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let mut problems = Vec::new();
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.is_empty() || !name.chars().all(allowed) {
        let suggestion: String = name
            .split('.')
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| allowed(*c))
            .collect();
        let suggestion = if suggestion.is_empty() {
            "reporter".to_owned()
        } else {
            suggestion
        };
        problems.push(ConfigError::new(
            path,
            format!(
                "run-parts skips this copy of reporter: its name may only have letters, digits, `_` and `-` (rename it to `{}`)",
                folder.join(suggestion).display()
            ),
        ));
    }
    let executable = std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
    if !executable {
        problems.push(ConfigError::new(
            path,
            format!(
                "run-parts skips this copy of reporter: it is not executable (chmod 0755 {})",
                path.display()
            ),
        ));
    }
    problems
}

/// The config file, the job files and the template files.
fn writable_files(config: &Config) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = config.file.iter().cloned().collect();
    files.extend(job::job_files(&config.jobs_dir, &mut Vec::new()));
    for dir in [
        config.templates_dir.clone(),
        config.templates_dir.join("partials"),
    ] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            files.extend(
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_file()),
            );
        }
    }
    files
}

/// Webhooks' headers files that a delivery could not read or use: found now rather than
/// when a hook waits in the spool.
fn headers_problems(config: &Config, jobs: &[Job]) -> Vec<ConfigError> {
    located_problems(config, jobs, |job| {
        let files = job.webhooks.iter().enumerate().filter_map(|(i, hook)| {
            let e = headers::read(hook.headers_file.as_ref()?).err()?;
            Some((format!("webhooks[{i}].headers_file"), e.to_string()))
        });
        files.collect()
    })
}

/// Ping and webhook URLs whose scheme is written out and is not http or https: the
/// request would fail at every run. A URL that a variable starts is left to the run.
fn url_problems(config: &Config, jobs: &[Job]) -> Vec<ConfigError> {
    located_problems(config, jobs, |job| {
        let ping = job.ping.iter().map(|p| ("ping.url".to_string(), &p.url));
        let hooks = (job.webhooks.iter().enumerate())
            .map(|(i, hook)| (format!("webhooks[{i}].url"), &hook.url));
        ping.chain(hooks)
            .filter_map(|(key, url)| Some((key, url_scheme_problem(url)?)))
            .collect()
    })
}

/// What is wrong with the scheme of the URL template `url`, if it is written out.
fn url_scheme_problem(url: &str) -> Option<String> {
    let literal = url.split("{{").next().unwrap_or_default().trim_start();
    let (scheme, _) = literal.split_once(':')?;
    let scheme = scheme.to_ascii_lowercase();
    (scheme != "http" && scheme != "https").then(|| {
        format!("scheme `{scheme}` is not http or https: pings and webhooks are HTTP requests")
    })
}

/// The problems `find` sees in each job, as (key, message), each located where the key is
/// written: in the job file, or in the config's `defaults:` (there once, whatever the
/// number of jobs that inherit it).
fn located_problems(
    config: &Config,
    jobs: &[Job],
    find: impl Fn(&Job) -> Vec<(String, String)>,
) -> Vec<ConfigError> {
    let config_text = reread(config.display_path());
    let config_file = Source::new(config.display_path(), &config_text);
    let mut problems: Vec<ConfigError> = Vec::new();
    for job in jobs {
        let found = find(job);
        if found.is_empty() {
            continue;
        }
        let job_text = reread(&job.path);
        let job_file = Source::new(&job.path, &job_text);
        for (key, message) in found {
            let problem = if job_file.locates(&key) {
                job_file.error(key, message)
            } else {
                config_file.error(format!("defaults.{key}"), message)
            };
            if !problems.contains(&problem) {
                problems.push(problem);
            }
        }
    }
    problems
}

/// Schedules that name a wall-clock time the configured time zone skips in the coming
/// year, with when that run happens instead.
fn dst_gaps(config: &Config, jobs: &[Job]) -> Vec<ConfigError> {
    let now = chrono::Utc::now();
    let gaps = Gaps::between(config.timezone, now, now + chrono::Duration::days(366));
    jobs.iter()
        .filter_map(|job| {
            let schedule = job.schedule.as_ref()?;
            let gap = schedule.gap_within(&gaps)?;
            let text = reread(&job.path);
            Some(Source::new(&job.path, &text).error(
                "schedule",
                format!(
                    "`{schedule}` names {}, which does not exist on {} in time zone {} (clocks go forward); that day it runs at {} instead",
                    gap.skipped.format("%H:%M:%S"),
                    gap.skipped.format("%Y-%m-%d"),
                    config.timezone,
                    config.timezone.rfc3339(gap.runs_at)
                ),
            ))
        })
        .collect()
}

/// A warning (not an error: check's exit code stays) when the SMTP password would cross
/// the network in clear: a username with `tls: none` to a relay not on this machine.
/// Decided from the config alone; check connects to no relay.
fn password_in_clear(config: &Config) -> Option<ConfigError> {
    let TransportConfig::Smtp(SmtpConfig {
        host,
        username: Some(username),
        tls: TlsMode::None,
        ..
    }) = &config.mail.transport
    else {
        return None;
    };
    if is_loopback(host) {
        return None;
    }
    let path = config.display_path();
    let text = reread(path);
    Some(Source::new(path, &text).error(
        "mail.smtp.tls",
        format!(
            "the password of `{username}` goes unencrypted to `{host}` (`tls: none` to a relay that is not this machine); use `tls: starttls` or `tls: tls`"
        ),
    ))
}

/// `localhost`, 127.0.0.0/8 or ::1: a relay on this machine.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = host.trim_end_matches('.');
    name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// A file that loaded, read again to locate a problem in it, as it was read then (within
/// the same limit, nothing but a regular file); empty if it no longer reads.
fn reread(path: &Path) -> String {
    trust::read_trusted(path, Some(MAX_FILE_SIZE)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_of_an_address_at_check_holds_what_it_says() {
        let config = Config::parse("", Path::new("r.yaml"), Path::new("/etc/r")).unwrap();
        let job = Job::parse("j", Path::new("j.yaml"), "commands: [a]\n", &config).unwrap();
        let facts = Facts::gather(Scope::Names, Zone::Local);
        let context = known_context(&job, &facts, None);
        let mut keys: Vec<&str> = context
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut known = KNOWN_AT_CHECK.to_vec();
        known.sort_unstable();
        assert_eq!(keys, known);
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "LOCALHOST.",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "relay.invalid",
            "10.0.0.1",
            "::2",
            "localhost.example.com",
            "128.0.0.1",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
