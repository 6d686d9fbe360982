//! What each subcommand does: load what it needs, report problems, run, and return an exit code.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::{Cli, Command, RunArgs, Selection};
use crate::config::{self, Config};
use crate::error::{ConfigError, Source};
use crate::exit::{self, Tally};
use crate::facts::{Facts, Scope};
use crate::job::{self, Job};
use crate::report::Trigger;
use crate::runner::{self, RunOptions};
use crate::schedule::Period;
use crate::template::Templates;

/// Prints configuration problems, once each, the way every command does.
fn report(errors: &[ConfigError]) {
    for error in errors {
        eprintln!("reporter: error: {error}");
    }
}

fn load_config(explicit: Option<&Path>) -> Result<Config, i32> {
    let path = config::discover(explicit);
    Config::load(path.as_deref()).map_err(|e| {
        report(&[e]);
        exit::USAGE
    })
}

/// Loads the templates; broken ones are reported and left out.
fn load_templates(config: &Config, errors: &mut Vec<ConfigError>) -> Templates {
    match Templates::load(&config.templates_dir) {
        Ok(templates) => templates,
        Err(mut problems) => {
            errors.append(&mut problems);
            Templates::load(Path::new("/nonexistent"))
                .unwrap_or_else(|_| unreachable!("the built-in template compiles"))
        }
    }
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

/// Drops the jobs whose template does not exist, reporting each.
fn with_templates(
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
                    pool_size: None,
                };
                Command::Run(RunArgs {
                    selection,
                    to: Vec::new(),
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
            run(&config, &args.selection, args.to, Preview::No, trigger)
        }
        Command::Preview(args) => {
            let preview = if args.html {
                Preview::Html
            } else {
                Preview::Mbox
            };
            run(
                &config,
                &args.selection,
                Vec::new(),
                preview,
                Trigger::Manual,
            )
        }
        Command::List { json } => list(&config, json),
        Command::Check => check(&config, cli.quiet),
    }
}

/// Whether a run sends its messages or prints them, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Preview {
    No,
    Mbox,
    Html,
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
    preview: Preview,
    trigger: Trigger,
) -> i32 {
    if selection.jobs.is_empty() && !selection.all && selection.schedule.is_none() {
        eprintln!("reporter: error: name the jobs to run, or use --all or --schedule PERIOD");
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
    let templates = load_templates(config, &mut errors);
    let jobs = select(config, selection, &mut errors);
    let jobs = with_templates(jobs, &templates, &mut errors);
    report(&errors);
    let options = RunOptions {
        pool_size: selection.pool_size.map_or(config.pool_size, usize::from),
        to,
        preview: preview != Preview::No,
        html: preview == Preview::Html,
        trigger,
    };
    let mut tally = if jobs.is_empty() {
        Tally::default()
    } else {
        runner::run(config, &templates, jobs, &options)
    };
    tally.config_error |= !errors.is_empty();
    tally.code()
}

fn check(config: &Config, quiet: bool) -> i32 {
    let mut errors = Vec::new();
    let templates = load_templates(config, &mut errors);
    let (jobs, mut problems) = job::load_all(&config.jobs_dir, config);
    errors.append(&mut problems);
    let jobs = with_templates(jobs, &templates, &mut errors);
    // Address templates are rendered with this host's facts, as a run would.
    let facts = Facts::gather(Scope::Full, config.timezone);
    let context =
        serde_json::json!({ "host": facts, "job": {}, "results": [], "summary": {}, "run": {} });
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
    report(&errors);
    if !errors.is_empty() {
        eprintln!(
            "reporter: {} problem{} found",
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

fn list(config: &Config, json: bool) -> i32 {
    let (jobs, errors) = job::load_all(&config.jobs_dir, config);
    report(&errors);
    let entries: Vec<ListEntry> = jobs
        .iter()
        .map(|job| ListEntry {
            name: job.name.clone(),
            description: job.description.clone(),
            schedule: job.schedule.as_ref().map(ToString::to_string),
            next_run: None,
            last_status: None,
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
                "{:width$}  {:schedule_width$}  {:25}  {:11}  {}",
                e.name,
                dash(&e.schedule),
                dash(&e.next_run),
                dash(&e.last_status),
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
