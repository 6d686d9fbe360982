//! What a run works from: the jobs it selects (by name, all of them, or those of a cron
//! period) on the hosts and to the recipients the command line says, the templates they
//! use, and every problem found on the way. `run`, `preview`, `check` and the daemon all
//! load through here.

use std::path::{Path, PathBuf};

use crate::config::address::{AddressError, AddressSpec};
use crate::config::error::Source;
use crate::config::hosts::{self, HostSpec};
use crate::config::job::{self, job_name};
use crate::config::limits::MAX_FILE_SIZE;
use crate::config::name::is_name;
use crate::config::{Config, ConfigError, Job, SmtpConfig, TransportConfig, trust};
use crate::history::History;
use crate::log;
use crate::render::{DIGEST_TEMPLATE, Templates};
use crate::run::Reports;
use crate::schedule::Period;

/// Where problems with the command line itself are said to be.
const COMMAND_LINE: &str = "(command line)";

/// What the command line of `run` or `preview` selects (reporter(1)): which jobs, on which
/// hosts, to whom.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The job arguments, `--all` or `--schedule`.
    pub pick: Pick,
    /// `--hosts`: every job runs on these instead of its own `hosts:`.
    pub hosts: Option<Vec<HostSpec>>,
    /// `--to`: every report goes to these instead of its job's recipients.
    pub to: Vec<String>,
}

/// A selection resolved: the jobs to run, on the hosts asked for, and where their reports
/// go instead of their recipients.
pub struct Resolved {
    /// The problems of the jobs left out, of `--to` and of the config come first.
    pub workload: Workload,
    pub to: Vec<AddressSpec>,
}

/// Why a command line runs nothing at all.
#[derive(Debug)]
pub enum Refusal {
    /// No job names, no `--all`, no `--schedule`.
    NothingNamed,
    /// A job argument that is a path, or a `--hosts` group that does not exist.
    Problems(Vec<ConfigError>),
}

impl Refusal {
    /// Says why on stderr.
    pub fn report(&self) {
        match self {
            Refusal::NothingNamed => {
                tracing::error!("name the jobs to run, or use --all or --schedule PERIOD");
            }
            Refusal::Problems(problems) => log::problems(problems),
        }
    }
}

impl Selection {
    /// The jobs this selection runs with `reports`, each on the `--hosts` when given, and
    /// the `--to` recipients; a bad recipient or a broken job is a problem the others run
    /// despite, a bad name or host group refuses the whole command line.
    pub fn resolve(self, config: &Config, reports: Reports) -> Result<Resolved, Refusal> {
        if matches!(&self.pick, Pick::Names(names) if names.is_empty()) {
            return Err(Refusal::NothingNamed);
        }
        if let Pick::Names(names) = &self.pick {
            let not_names: Vec<ConfigError> = names
                .iter()
                .filter(|name| !is_name(name))
                .map(|name| not_a_name(name))
                .collect();
            if !not_names.is_empty() {
                // A path could lead outside `jobs_dir`: nothing of such a command line runs.
                return Err(Refusal::Problems(not_names));
            }
        }
        let (to, mut problems) = recipients(&self.to);
        problems.extend(password_problem(config));
        problems.extend(ca_file_problem(config));
        // A one-off run on the wrong hosts is worse than none.
        let hosts = self
            .hosts
            .map(|hosts| expand_hosts(&hosts, config))
            .transpose()
            .map_err(Refusal::Problems)?;
        let mut workload = Workload::pick(config, &self.pick, reports);
        problems.append(&mut workload.problems);
        workload.problems = problems;
        if let Some(hosts) = hosts {
            for job in &mut workload.jobs {
                job.hosts.clone_from(&hosts);
            }
        }
        Ok(Resolved { workload, to })
    }
}

/// A job argument that is not a job name (reporter(1): names, never paths).
fn not_a_name(argument: &str) -> ConfigError {
    let mut message = format!(
        "`{argument}` is not a job name: a job is named by its file stem in `jobs_dir` \
         (letters, digits, `-` and `_`), never by a path"
    );
    if let Some(stem) = [".yaml", ".yml"]
        .iter()
        .find_map(|ext| argument.strip_suffix(ext))
        .filter(|stem| is_name(stem))
    {
        message.push_str(&format!(" (did you mean `{stem}`?)"));
    }
    ConfigError::new(Path::new(COMMAND_LINE), message)
}

/// The addresses of `--to`, and a problem for each that is not one.
fn recipients(to: &[String]) -> (Vec<AddressSpec>, Vec<ConfigError>) {
    let mut problems = Vec::new();
    let to = to
        .iter()
        .filter_map(|a| {
            a.parse()
                .map_err(|e: AddressError| {
                    problems.push(ConfigError::at_key(
                        Path::new(COMMAND_LINE),
                        "--to",
                        e.to_string(),
                    ))
                })
                .ok()
        })
        .collect();
    (to, problems)
}

/// The hosts of `--hosts` with their groups expanded; every group that `config` does not
/// have is a problem.
pub fn expand_hosts(
    hosts: &[HostSpec],
    config: &Config,
) -> Result<Vec<HostSpec>, Vec<ConfigError>> {
    let mut unknown = Vec::new();
    let expanded = hosts::expand_groups(hosts, &config.host_groups, |_, group| {
        unknown.push(ConfigError::at_key(
            Path::new(COMMAND_LINE),
            "--hosts",
            format!("unknown host group `@{group}` (not in the config's host_groups or inventory)"),
        ));
    });
    if unknown.is_empty() {
        Ok(expanded)
    } else {
        Err(unknown)
    }
}

/// Which jobs a run takes.
#[derive(Debug, Clone)]
pub enum Pick {
    /// By name: the file stems in `jobs_dir`.
    Names(Vec<String>),
    All,
    /// Those whose schedule is this period (what `cron.daily` and friends run).
    Period(Period),
}

/// The valid jobs of a selection with their templates, and the problems of the rest.
pub struct Workload {
    pub jobs: Vec<Job>,
    pub templates: Templates,
    pub problems: Vec<ConfigError>,
}

impl Workload {
    /// The jobs `pick` selects and only the templates they use (and the digest's, for a
    /// digest): compiling is most of the cost of loading.
    pub fn pick(config: &Config, pick: &Pick, reports: Reports) -> Workload {
        let mut problems: Vec<ConfigError> = config.inventory_problem.iter().cloned().collect();
        let jobs = select(config, pick, &mut problems);
        let mut names: Vec<&str> = jobs.iter().map(|job| job.mail.template.as_str()).collect();
        if reports.is_digest() {
            names.push(DIGEST_TEMPLATE);
        }
        let (templates, mut broken) = Templates::load_some(&config.templates_dir, Some(&names));
        problems.append(&mut broken);
        Workload::of(jobs, templates, problems)
    }

    /// Every job and every template (for `check` and the daemon).
    pub fn everything(config: &Config) -> Workload {
        let (templates, mut problems) = Templates::load_some(&config.templates_dir, None);
        problems.extend(config.inventory_problem.iter().cloned());
        let (jobs, mut broken) = job::load_all(&config.jobs_dir, config);
        problems.append(&mut broken);
        Workload::of(jobs, templates, problems)
    }

    /// `jobs` without those whose template does not exist, each of which is reported.
    fn of(jobs: Vec<Job>, templates: Templates, mut problems: Vec<ConfigError>) -> Workload {
        let jobs = with_templates(jobs, &templates, &mut problems);
        templates.adopt_subjects(&jobs);
        Workload {
            jobs,
            templates,
            problems,
        }
    }
}

/// The run history, unless `history_days: 0` turns it off.
pub fn history_store(config: &Config) -> Option<History> {
    (config.history_days > 0).then(|| History::new(&config.state_dir, config.history_days))
}

/// As root, a state folder (or a folder in it) that another user owns or can write to is
/// refused before anything reads or writes it (docs/security.md), as a problem of the config's
/// `state_dir`; otherwise reporter's own folders in it are made private.
pub fn state_dir_problem(config: &Config) -> Option<ConfigError> {
    let e = crate::state::dir::secure(&config.state_dir).err()?;
    Some(ConfigError::at_key(
        config.display_path(),
        "state_dir",
        e.to_string(),
    ))
}

/// The SMTP password file must be private; checked up front so the problem is a
/// configuration error and not only a failed delivery.
pub fn password_problem(config: &Config) -> Option<ConfigError> {
    let TransportConfig::Smtp(SmtpConfig {
        password_file: Some(file),
        ..
    }) = &config.mail.transport
    else {
        return None;
    };
    let e = trust::check_password_file(file).err()?;
    Some(ConfigError::at_key(
        config.display_path(),
        "mail.smtp.password_file",
        e.to_string(),
    ))
}

/// `mail.smtp.ca_file` must be root's, readable and hold certificates; checked up front so
/// the problem is a configuration error and not only a failed delivery.
pub fn ca_file_problem(config: &Config) -> Option<ConfigError> {
    let TransportConfig::Smtp(SmtpConfig {
        ca_file: Some(file),
        ..
    }) = &config.mail.transport
    else {
        return None;
    };
    let e = crate::deliver::transport::tls::read_ca_file(file).err()?;
    Some(ConfigError::at_key(
        config.display_path(),
        "mail.smtp.ca_file",
        e.to_string(),
    ))
}

/// The jobs `pick` selects, validated; the problems of the others.
fn select(config: &Config, pick: &Pick, problems: &mut Vec<ConfigError>) -> Vec<Job> {
    match pick {
        Pick::All | Pick::Period(_) => {
            let (jobs, mut broken) = job::load_all(&config.jobs_dir, config);
            problems.append(&mut broken);
            // `enabled: false` leaves a job out of these; it still runs by name.
            let enabled = jobs.into_iter().filter(|j| j.enabled);
            match pick {
                Pick::Period(period) => enabled
                    .filter(|j| j.schedule.as_ref().and_then(|s| s.period()) == Some(*period))
                    .collect(),
                _ => enabled.collect(),
            }
        }
        Pick::Names(names) => {
            if let Err(e) = job::check_jobs_dir(&config.jobs_dir) {
                problems.push(e);
                return Vec::new();
            }
            by_name(config, names, problems)
        }
    }
}

/// The jobs `names` names, validated; a problem for each that is not there or not valid.
fn by_name(config: &Config, names: &[String], problems: &mut Vec<ConfigError>) -> Vec<Job> {
    names
        .iter()
        .filter_map(|name| match find_job(&config.jobs_dir, name) {
            Some(path) => Job::load(&path, config)
                .map_err(|mut e| problems.append(&mut e))
                .ok(),
            None => {
                problems.push(ConfigError::new(
                    &config.jobs_dir.join(format!("{name}.yaml")),
                    format!(
                        "no job `{name}` (known jobs: {})",
                        known_jobs(&config.jobs_dir)
                    ),
                ));
                None
            }
        })
        .collect()
}

/// Why `name` names no job of `config`'s jobs folder, as `run` says it; `None` when it does.
pub fn unknown_job(config: &Config, name: &str) -> Option<String> {
    find_job(&config.jobs_dir, name).is_none().then(|| {
        format!(
            "no job `{name}` (known jobs: {})",
            known_jobs(&config.jobs_dir)
        )
    })
}

/// The file of job `name` in `dir`; none for a name that is not one (`../x`, `a/b`): a
/// job argument never reaches outside `jobs_dir`.
fn find_job(dir: &Path, name: &str) -> Option<PathBuf> {
    if !is_name(name) {
        return None;
    }
    ["yaml", "yml"]
        .iter()
        .map(|ext| dir.join(format!("{name}.{ext}")))
        .find(|p| p.is_file())
}

fn known_jobs(dir: &Path) -> String {
    let names: Vec<String> = job::job_files(dir, &mut Vec::new())
        .iter()
        .filter_map(|p| {
            p.file_name()?
                .to_str()
                .and_then(job_name)
                .map(str::to_owned)
        })
        .collect();
    if names.is_empty() {
        format!("none in `{}`", dir.display())
    } else {
        names.join(", ")
    }
}

/// Drops the jobs whose template does not exist, reporting each.
fn with_templates(
    jobs: Vec<Job>,
    templates: &Templates,
    problems: &mut Vec<ConfigError>,
) -> Vec<Job> {
    jobs.into_iter()
        .filter(|job| {
            let found = templates.has_text(&job.mail.template);
            if !found {
                // Only to locate the key: read as the job was, within the same limit.
                let text = trust::read_trusted(&job.path, Some(MAX_FILE_SIZE)).unwrap_or_default();
                problems.push(Source::new(&job.path, &text).error(
                    "mail.template",
                    format!(
                        "template `{}` not found (expected `{}`)",
                        job.mail.template,
                        templates.text_path(&job.mail.template).display()
                    ),
                ));
            }
            found
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults, with files under a folder that does not exist.
    fn config() -> Config {
        Config::parse(
            "# defaults\n",
            Path::new("/nonexistent/reporter.yaml"),
            Path::new("/nonexistent"),
        )
        .expect("the defaults are valid")
    }

    fn selection(pick: Pick, hosts: &[&str], to: &[&str]) -> Selection {
        Selection {
            pick,
            hosts: (!hosts.is_empty())
                .then(|| hosts.iter().map(|h| h.parse().expect("a host")).collect()),
            to: to.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn refusal(selection: Selection) -> Vec<String> {
        match selection.resolve(&config(), Reports::Each) {
            Err(Refusal::Problems(problems)) => problems.iter().map(ToString::to_string).collect(),
            Err(Refusal::NothingNamed) => vec!["nothing named".to_owned()],
            Ok(_) => Vec::new(),
        }
    }

    #[test]
    fn a_command_line_that_names_no_job_is_refused() {
        let nothing = selection(Pick::Names(Vec::new()), &[], &[]);
        assert_eq!(refusal(nothing), ["nothing named"]);
    }

    #[test]
    fn a_path_for_a_job_is_refused_with_the_name_it_may_mean() {
        let paths = selection(
            Pick::Names(vec!["disk".into(), "disk.yaml".into(), "../x".into()]),
            &[],
            &[],
        );
        assert_eq!(
            refusal(paths),
            [
                "(command line): `disk.yaml` is not a job name: a job is named by its file stem in \
                 `jobs_dir` (letters, digits, `-` and `_`), never by a path (did you mean `disk`?)",
                "(command line): `../x` is not a job name: a job is named by its file stem in \
                 `jobs_dir` (letters, digits, `-` and `_`), never by a path",
            ]
        );
    }

    #[test]
    fn an_unknown_host_group_refuses_the_run_and_a_bad_recipient_waits() {
        let unknown = selection(Pick::All, &["web1", "@nope"], &["not an address"]);
        assert_eq!(
            refusal(unknown),
            [
                "(command line): --hosts: unknown host group `@nope` (not in the config's \
              host_groups or inventory)"
            ]
        );
    }

    #[test]
    fn a_bad_recipient_is_a_problem_the_run_goes_on_despite() {
        let bad_to = selection(Pick::All, &[], &["ops@example.com", "not an address"]);
        let Ok(resolved) = bad_to.resolve(&config(), Reports::Each) else {
            panic!("a bad recipient refuses nothing");
        };
        assert_eq!(resolved.to.len(), 1);
        let first = resolved.workload.problems[0].to_string();
        assert!(first.starts_with("(command line): --to: "), "{first}");
    }
}
