//! What each subcommand does: load what it needs, report problems, run, and return an exit code.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::{Cli, Command, HistoryArgs, RunArgs, Selection};
use crate::config::{self, Config, SmtpConfig, TransportConfig};
use crate::error::{ConfigError, Source};
use crate::exit::{self, Tally};
use crate::facts::{Facts, Scope};
use crate::history::{History, RunStatus};
use crate::hosts;
use crate::job::{self, Job};
use crate::mailer::Mailer;
use crate::report::Trigger;
use crate::runner::{self, RunOptions};
use crate::schedule::{Gaps, Period};
use crate::template::Templates;

/// Prints configuration problems, once each, the way every command does.
pub(crate) fn report(errors: &[ConfigError]) {
    for error in errors {
        tracing::error!("{error}");
    }
}

fn load_config(explicit: Option<&Path>) -> Result<Config, i32> {
    let path = config::discover(explicit);
    Config::load(path.as_deref()).map_err(|errors| {
        report(&errors);
        exit::USAGE
    })
}

/// Loads every template; broken ones are reported and left out.
pub(crate) fn load_templates(config: &Config, errors: &mut Vec<ConfigError>) -> Templates {
    let (templates, mut problems) = Templates::load_some(&config.templates_dir, None);
    errors.append(&mut problems);
    templates
}

/// Loads only the templates `jobs` use (and the built-in ones, and the digest's).
fn templates_for(
    config: &Config,
    jobs: &[Job],
    digest: bool,
    errors: &mut Vec<ConfigError>,
) -> Templates {
    let mut names: Vec<&str> = jobs.iter().map(|job| job.mail.template.as_str()).collect();
    if digest {
        names.push(crate::digest::TEMPLATE);
    }
    let (templates, mut problems) = Templates::load_some(&config.templates_dir, Some(&names));
    errors.append(&mut problems);
    templates
}

/// The jobs a selection names, validated; the problems of the others.
fn select(config: &Config, selection: &Selection, errors: &mut Vec<ConfigError>) -> Vec<Job> {
    let jobs = if selection.all || selection.schedule.is_some() {
        let (jobs, mut problems) = job::load_all(&config.jobs_dir, config);
        errors.append(&mut problems);
        jobs
    } else {
        selection
            .jobs
            .iter()
            .filter_map(|name| match find_job(&config.jobs_dir, name) {
                Some(path) => Job::load(&path, config)
                    .map_err(|mut e| errors.append(&mut e))
                    .ok(),
                None => {
                    errors.push(ConfigError::new(
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
    };
    match selection.schedule {
        Some(period) => jobs
            .into_iter()
            .filter(|j| j.schedule.as_ref().and_then(|s| s.period()) == Some(period))
            .collect(),
        None => jobs,
    }
}

fn find_job(dir: &Path, name: &str) -> Option<PathBuf> {
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
                .and_then(job::job_name)
                .map(str::to_owned)
        })
        .collect();
    if names.is_empty() {
        format!("none in `{}`", dir.display())
    } else {
        names.join(", ")
    }
}

/// The SMTP password file must be private; checked up front so the problem is a
/// configuration error and not only a failed delivery.
fn check_password_file(config: &Config, errors: &mut Vec<ConfigError>) {
    if let TransportConfig::Smtp(SmtpConfig {
        password_file: Some(file),
        ..
    }) = &config.mail.transport
        && let Err(e) = crate::security::check_password_file(file)
    {
        errors.push(ConfigError::at_key(
            config.display_path(),
            "mail.smtp.password_file",
            e,
        ));
    }
}

/// Drops the jobs whose template does not exist, reporting each.
pub(crate) fn with_templates(
    jobs: Vec<Job>,
    templates: &Templates,
    errors: &mut Vec<ConfigError>,
) -> Vec<Job> {
    jobs.into_iter()
        .filter(|job| {
            let found = templates.has_text(&job.mail.template);
            if !found {
                let text = std::fs::read_to_string(&job.path).unwrap_or_default();
                errors.push(Source::new(&job.path, &text).error(
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

pub fn main(cli: Cli, argv0: Option<&Path>) -> i32 {
    let command = match cli.command {
        Some(command) => command,
        None => match cron_period(argv0) {
            Some(period) => {
                let selection = Selection {
                    jobs: Vec::new(),
                    all: false,
                    schedule: Some(period),
                    hosts: None,
                    pool_size: None,
                };
                Command::Run(RunArgs {
                    selection,
                    to: Vec::new(),
                    digest: false,
                })
            }
            None => {
                use clap::CommandFactory;
                let _ = Cli::command().print_help();
                return exit::USAGE;
            }
        },
    };
    let triggered_by_cron =
        matches!(&command, Command::Run(args) if args.selection.schedule.is_some());
    match command {
        Command::Daemon(args) => return crate::daemon::main(cli.config.as_deref(), args),
        // Neither needs a configuration.
        Command::Completions { shell } => return completions(shell),
        Command::Man => return man(),
        _ => {}
    }
    let color = cli.color.enabled(&std::io::stdout());
    let config = match load_config(cli.config.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    match command {
        Command::Run(args) => {
            let trigger = if triggered_by_cron {
                Trigger::Cron
            } else {
                Trigger::Manual
            };
            let mode = Mode {
                preview: Preview::No,
                digest: args.digest,
            };
            run(&config, &args.selection, args.to, mode, trigger)
        }
        Command::Preview(args) => {
            let preview = if args.html {
                Preview::Html
            } else {
                Preview::Mbox
            };
            let mode = Mode {
                preview,
                digest: args.digest,
            };
            run(&config, &args.selection, Vec::new(), mode, Trigger::Manual)
        }
        Command::List { json } => list(&config, json, color),
        Command::Check => check(&config, cli.quiet, argv0),
        Command::Flush => flush(&config),
        Command::History(args) => history(&config, &args, color),
        Command::Daemon(_) | Command::Completions { .. } | Command::Man => {
            unreachable!("handled before the configuration is loaded")
        }
    }
}

fn completions(shell: clap_complete::Shell) -> i32 {
    use clap::CommandFactory;
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "reporter",
        &mut std::io::stdout(),
    );
    exit::OK
}

fn man() -> i32 {
    use clap::CommandFactory;
    match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
        Ok(()) => exit::OK,
        Err(e) => {
            tracing::error!("cannot write the manual page: {e}");
            exit::USAGE
        }
    }
}

/// Whether a run sends its messages or prints them, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Preview {
    No,
    Mbox,
    Html,
}

/// How a run hands out its reports.
#[derive(Debug, Clone, Copy)]
struct Mode {
    preview: Preview,
    /// One message for all the jobs.
    digest: bool,
}

/// The period a copy of the binary in `/etc/cron.daily` (and friends) stands for.
fn cron_period(argv0: Option<&Path>) -> Option<Period> {
    let argv0 = argv0?;
    let folder = argv0.parent()?.file_name()?.to_str()?;
    Period::from_cron_folder(folder)
}

fn run(
    config: &Config,
    selection: &Selection,
    to: Vec<String>,
    mode: Mode,
    trigger: Trigger,
) -> i32 {
    let preview = mode.preview;
    if selection.jobs.is_empty() && !selection.all && selection.schedule.is_none() {
        tracing::error!("name the jobs to run, or use --all or --schedule PERIOD");
        return exit::USAGE;
    }
    let mut errors = Vec::new();
    let to = to
        .iter()
        .filter_map(|a| {
            a.parse()
                .map_err(|e| {
                    errors.push(ConfigError::at_key(Path::new("(command line)"), "--to", e))
                })
                .ok()
        })
        .collect();
    check_password_file(config, &mut errors);
    let mut unknown_groups = Vec::new();
    let hosts = selection.hosts.as_ref().map(|hosts| {
        hosts::expand_groups(hosts, &config.host_groups, |_, group| {
            unknown_groups.push(ConfigError::at_key(
                Path::new("(command line)"),
                "--hosts",
                format!("unknown host group `@{group}` (not in the config's host_groups)"),
            ));
        })
    });
    if !unknown_groups.is_empty() {
        // A one-off run on the wrong hosts is worse than none.
        report(&unknown_groups);
        return exit::USAGE;
    }
    let mut jobs = select(config, selection, &mut errors);
    let templates = templates_for(config, &jobs, mode.digest, &mut errors);
    if let Some(hosts) = hosts {
        for job in &mut jobs {
            job.hosts.clone_from(&hosts);
        }
    }
    let jobs = with_templates(jobs, &templates, &mut errors);
    report(&errors);
    let options = RunOptions {
        pool_size: selection.pool_size.map_or(config.pool_size, usize::from),
        to,
        preview: preview != Preview::No,
        html: preview == Preview::Html,
        trigger,
        problems: if preview == Preview::No {
            errors.clone()
        } else {
            Vec::new()
        },
        history: history_store(config),
        digest: mode.digest,
    };
    let mut tally = if jobs.is_empty() && options.problems.is_empty() {
        Tally::default()
    } else {
        runner::run(config, &templates, jobs, &options)
    };
    tally.config_error |= !errors.is_empty();
    tally.code()
}

/// The run history, unless `history_days: 0` turns it off.
pub(crate) fn history_store(config: &Config) -> Option<History> {
    (config.history_days > 0).then(|| History::new(&config.state_dir, config.history_days))
}

fn check(config: &Config, quiet: bool, argv0: Option<&Path>) -> i32 {
    let mut errors = Vec::new();
    check_password_file(config, &mut errors);
    let templates = load_templates(config, &mut errors);
    let (jobs, mut problems) = job::load_all(&config.jobs_dir, config);
    errors.append(&mut problems);
    let jobs = with_templates(jobs, &templates, &mut errors);
    // Address templates are rendered with this host's facts, as a run would.
    let facts = Facts::gather(Scope::Full, config.timezone);
    let context = serde_json::json!({
        "host": facts, "job": {}, "results": [], "hosts": [], "summary": {}, "run": {},
        "node": "localhost",
    });
    let addresses = jobs.iter().flat_map(|job| {
        let mail = &job.mail;
        let fields = [
            ("mail.from", Some(&mail.from)),
            ("mail.reply_to", mail.reply_to.as_ref()),
        ];
        let lists = mail
            .to
            .iter()
            .map(|a| ("mail.to", Some(a)))
            .chain(mail.cc.iter().map(|a| ("mail.cc", Some(a))));
        fields
            .into_iter()
            .chain(lists)
            .filter_map(move |(key, a)| Some((job, key, a?)))
    });
    for (job, key, address) in addresses.filter(|(_, _, a)| a.is_template()) {
        let rendered = templates.render_inline(address.as_str(), &context);
        if let Err(e) = rendered
            .and_then(|r| crate::address::parse_mailbox(&crate::mail::one_line(&r)).map(drop))
        {
            errors.push(ConfigError::at_key(&job.path, key, e));
        }
    }
    errors.append(&mut lint_cron_folders(argv0));
    for warning in dst_gaps(config, &jobs) {
        tracing::warn!("{warning}");
    }
    // As root the loaders refuse such files outright; anyone else gets a warning.
    if !nix::unistd::Uid::effective().is_root() {
        for warning in writable_files(config)
            .iter()
            .filter_map(|p| crate::security::writable_by_others(p))
        {
            tracing::warn!("{warning}");
        }
    }
    report(&errors);
    if !errors.is_empty() {
        tracing::error!(
            "{} problem{} found",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        );
        return exit::USAGE;
    }
    if !quiet {
        println!(
            "{}: {} job{} ok",
            config.display_path().display(),
            jobs.len(),
            if jobs.len() == 1 { "" } else { "s" }
        );
    }
    exit::OK
}

#[derive(Serialize)]
struct ListEntry {
    name: String,
    description: Option<String>,
    schedule: Option<String>,
    next_run: Option<String>,
    last_status: Option<String>,
}

fn list(config: &Config, json: bool, color: bool) -> i32 {
    let (jobs, errors) = job::load_all(&config.jobs_dir, config);
    report(&errors);
    let now = chrono::Utc::now();
    let history = history_store(config);
    let mut history_failed = false;
    let entries: Vec<ListEntry> = jobs
        .iter()
        .map(|job| {
            let last = history.as_ref().and_then(|h| {
                h.last_run(&job.name)
                    .map_err(|e| {
                        if !std::mem::replace(&mut history_failed, true) {
                            tracing::warn!("{e}");
                        }
                    })
                    .ok()
                    .flatten()
            });
            ListEntry {
                name: job.name.clone(),
                description: job.description.clone(),
                schedule: job.schedule.as_ref().map(ToString::to_string),
                next_run: job
                    .schedule
                    .as_ref()
                    .and_then(|s| s.next_after(now, config.timezone))
                    .map(|t| timestamp(t, config)),
                last_status: last.map(|run| run.status.as_str().to_owned()),
            }
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&entries).expect("list entries serialize")
        );
    } else {
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
        let width = entries
            .iter()
            .map(|e| e.name.len())
            .max()
            .unwrap_or(0)
            .max(4);
        let schedule_width = entries
            .iter()
            .map(|e| dash(&e.schedule).len())
            .max()
            .unwrap_or(0)
            .max(8);
        println!(
            "{:width$}  {:schedule_width$}  {:25}  {:11}  DESCRIPTION",
            "NAME", "SCHEDULE", "NEXT RUN", "LAST STATUS"
        );
        for e in &entries {
            println!(
                "{:width$}  {:schedule_width$}  {:25}  {}  {}",
                e.name,
                dash(&e.schedule),
                dash(&e.next_run),
                crate::log::status(&dash(&e.last_status), 11, color),
                e.description.as_deref().unwrap_or("")
            );
        }
    }
    if errors.is_empty() {
        exit::OK
    } else {
        exit::USAGE
    }
}

fn flush(config: &Config) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return exit::USAGE;
        }
    };
    let mailer = Mailer::new(config);
    let report = runtime.block_on(mailer.flush(mailer.spool().list()));
    tracing::info!(
        "flush: {} sent, {} kept, {} moved to the dead letters",
        report.sent,
        report.kept,
        report.buried
    );
    if report.kept > 0 || report.buried > 0 {
        exit::TEMPFAIL
    } else {
        exit::OK
    }
}

/// `t` as RFC 3339 in the configured time zone.
fn timestamp(t: chrono::DateTime<chrono::Utc>, config: &Config) -> String {
    config
        .timezone
        .at(t)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One run in `history --json` (SPEC §5).
#[derive(Serialize)]
struct HistoryEntry {
    run_id: String,
    job: String,
    trigger: crate::report::Trigger,
    started_at: String,
    finished_at: String,
    status: &'static str,
    /// `null` for a fire time that was skipped because the job was still running.
    summary: Option<crate::report::Summary>,
    sent: bool,
    /// Why the report was not mailed (its send rule), or why the run was skipped.
    reason: Option<String>,
}

fn history(config: &Config, args: &HistoryArgs, color: bool) -> i32 {
    let Some(store) = history_store(config) else {
        tracing::error!(
            "the run history is off (`history_days: 0` in `{}`)",
            config.display_path().display()
        );
        return exit::USAGE;
    };
    let runs = match store.runs(args.job.as_deref(), args.limit as usize) {
        Ok(runs) => runs,
        Err(e) => {
            tracing::error!("{e}");
            return exit::USAGE;
        }
    };
    let entries: Vec<HistoryEntry> = runs
        .into_iter()
        .map(|run| HistoryEntry {
            run_id: run.run_id,
            job: run.job,
            trigger: run.trigger,
            started_at: timestamp(run.started_at, config),
            finished_at: timestamp(run.finished_at, config),
            status: run.status.as_str(),
            summary: (run.status != RunStatus::Skipped).then_some(run.summary),
            sent: run.sent,
            reason: run.reason.or(run.note),
        })
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&entries).expect("history entries serialize")
        );
        return exit::OK;
    }
    let width = entries
        .iter()
        .map(|e| e.job.len())
        .max()
        .unwrap_or(0)
        .max(3);
    println!(
        "{:25}  {:width$}  {:7}  {:7}  {:>7}  {:>9}  SENT",
        "STARTED", "JOB", "TRIGGER", "STATUS", "RESULTS", "DURATION"
    );
    for e in &entries {
        let trigger = serde_json::to_value(e.trigger).expect("a trigger serializes");
        let (results, duration) = match &e.summary {
            Some(s) => (
                format!("{}/{}", s.ok, s.total),
                format!("{} ms", s.duration_ms),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        println!(
            "{:25}  {:width$}  {:7}  {}  {:>7}  {:>9}  {}",
            e.started_at,
            e.job,
            trigger.as_str().unwrap_or_default(),
            crate::log::status(e.status, 7, color),
            results,
            duration,
            match (&e.reason, e.sent) {
                (_, true) => "yes".to_owned(),
                (Some(reason), false) => format!("no: {reason}"),
                (None, false) => "no".to_owned(),
            }
        );
    }
    exit::OK
}

/// Copies of this binary in `cron.*` folders that `run-parts` would never run: a name
/// with characters other than letters, digits, `_` and `-` (Debian's run-parts skips
/// `reporter.sh` without a word), or no exec bit. Looks in `/etc/cron.*` and in the
/// `cron.*` folder this copy was started from.
fn lint_cron_folders(argv0: Option<&Path>) -> Vec<ConfigError> {
    let Ok(exe) = std::env::current_exe() else {
        return Vec::new();
    };
    let mut folders: Vec<PathBuf> = ["hourly", "daily", "weekly", "monthly"]
        .iter()
        .map(|p| PathBuf::from(format!("/etc/cron.{p}")))
        .collect();
    for own in [Some(exe.as_path()), argv0]
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
    let exe_len = std::fs::metadata(&exe).map(|m| m.len()).ok();
    let exe_real = std::fs::canonicalize(&exe).ok();
    let mut exe_bytes: Option<Vec<u8>> = None;
    let mut problems = Vec::new();
    for folder in folders {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        paths.sort();
        for path in paths {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let is_copy = meta.is_file()
                && (std::fs::canonicalize(&path).ok() == exe_real
                    || Some(meta.len()) == exe_len
                        && std::fs::read(&path).is_ok_and(|bytes| {
                            let exe_bytes = exe_bytes
                                .get_or_insert_with(|| std::fs::read(&exe).unwrap_or_default());
                            bytes == *exe_bytes
                        }));
            if !is_copy {
                continue;
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                let suggestion: String = name
                    .split('.')
                    .next()
                    .unwrap_or("")
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect();
                let suggestion = if suggestion.is_empty() {
                    "reporter".to_owned()
                } else {
                    suggestion
                };
                problems.push(ConfigError::new(
                    &path,
                    format!(
                        "run-parts skips this copy of reporter: its name may only have letters, digits, `_` and `-` (rename it to `{}`)",
                        folder.join(suggestion).display()
                    ),
                ));
            }
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o111 == 0 {
                problems.push(ConfigError::new(
                    &path,
                    format!(
                        "run-parts skips this copy of reporter: it is not executable (chmod 0755 {})",
                        path.display()
                    ),
                ));
            }
        }
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

/// Schedules that name a wall-clock time the configured time zone skips in the coming
/// year, with when that run happens instead.
fn dst_gaps(config: &Config, jobs: &[Job]) -> Vec<ConfigError> {
    let now = chrono::Utc::now();
    let gaps = Gaps::between(config.timezone, now, now + chrono::Duration::days(366));
    jobs.iter()
        .filter_map(|job| {
            let schedule = job.schedule.as_ref()?;
            let gap = schedule.gap_within(&gaps)?;
            let text = std::fs::read_to_string(&job.path).unwrap_or_default();
            Some(Source::new(&job.path, &text).error(
                "schedule",
                format!(
                    "`{schedule}` names {}, which does not exist on {} in time zone {} (clocks go forward); that day it runs at {} instead",
                    gap.skipped.format("%H:%M:%S"),
                    gap.skipped.format("%Y-%m-%d"),
                    config.timezone,
                    timestamp(gap.runs_at, config)
                ),
            ))
        })
        .collect()
}
