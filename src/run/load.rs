//! What a run works from: the jobs it selects (by name, all of them, or those of a cron
//! period), the templates they use, and every problem found on the way. `run`, `preview`,
//! `check` and the daemon all load through here.

use std::path::{Path, PathBuf};

use crate::config::error::Source;
use crate::config::job::{self, job_name};
use crate::config::limits::MAX_FILE_SIZE;
use crate::config::name::is_name;
use crate::config::{Config, ConfigError, Job, SmtpConfig, TransportConfig, trust};
use crate::history::History;
use crate::render::{DIGEST_TEMPLATE, Templates};
use crate::schedule::Period;

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
    /// The jobs `pick` selects and only the templates they use (and the digest's, with
    /// `digest`): compiling is most of the cost of loading.
    pub fn pick(config: &Config, pick: &Pick, digest: bool) -> Workload {
        let mut problems: Vec<ConfigError> = config.inventory_problem.iter().cloned().collect();
        let jobs = select(config, pick, &mut problems);
        let mut names: Vec<&str> = jobs.iter().map(|job| job.mail.template.as_str()).collect();
        if digest {
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

/// The file of job `name` in `dir`; none for a name that is not one (`../x`, `a/b`): a
/// job argument never reaches outside `jobs_dir`.
/// Why `name` names no job of `config`'s jobs folder, as `run` says it; `None` when it does.
pub fn unknown_job(config: &Config, name: &str) -> Option<String> {
    find_job(&config.jobs_dir, name).is_none().then(|| {
        format!(
            "no job `{name}` (known jobs: {})",
            known_jobs(&config.jobs_dir)
        )
    })
}

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
