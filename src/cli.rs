//! The command line (reporter(1)).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::hosts::HostSpec;
use crate::config::units::HumanDuration;
use crate::log::{ColorChoice, LogFormat};
use crate::schedule::Period;

#[derive(Debug, Parser)]
#[command(
    name = "reporter",
    version,
    about = "Run sysadmin report jobs and mail their results",
    max_term_width = 100
)]
pub struct Cli {
    /// Configuration file [default: ./reporter.yaml, else /etc/reporter/reporter.yaml]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Say more (-v: each event, -vv: debugging)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print errors only
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Colour diagnostics and statuses: on a terminal (auto, unless NO_COLOR is set), always, never
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
    /// Diagnostics on stderr as text lines or one JSON object per line [default: the config's log_format, else text]
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run jobs and mail their reports
    Run(RunArgs),
    /// Run jobs and print their messages as mbox on stdout; send nothing
    Preview(PreviewArgs),
    /// List the jobs with their schedule, next run and last status
    List(ListArgs),
    /// Check the configuration, every job and every template; print every problem
    Check,
    /// Retry the mail waiting in the spool now
    Flush,
    /// Show the recorded runs, newest first
    History(HistoryArgs),
    /// Show every job at a glance: last status and for how long, last ok, durations, next run
    Status(StatusArgs),
    /// Run the jobs on their schedules until SIGTERM
    Daemon(DaemonArgs),
    /// Silence jobs for a while: they run and are recorded, but mail nobody
    ///
    /// A silenced job still runs, is recorded in the history with its silence, writes
    /// metrics and pings its dead man's switch; it sends no mail and no webhook, and its
    /// failures stay out of the line a cron run prints on stderr; its exit code is
    /// unchanged. The first run after the silence ends mails when the job is not ok, whatever
    /// its send rule (but never). Prints the new silence's id. Only root or the owner of
    /// the state folder may make or end silences; cron runs, run and the daemon all see them.
    /// With --list: the silences in force or to come, and the maintenance windows open now
    /// or next.
    Silence(SilenceArgs),
    /// End silences before their time (they are kept, as ended ones, for 30 days)
    Unsilence(UnsilenceArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff) on stdout: reporter(1), reporter.yaml(5) or reporter-templates(7)
    Man {
        #[arg(value_enum, value_name = "PAGE", default_value_t = ManPage::Reporter)]
        page: ManPage,
    },
}

/// The manual pages `reporter man` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ManPage {
    /// reporter(1): the command line
    Reporter,
    /// reporter.yaml(5): the configuration and job files
    #[value(name = "reporter.yaml")]
    ReporterYaml,
    /// reporter-templates(7): the template context and helpers
    #[value(name = "reporter-templates")]
    ReporterTemplates,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only the runs of this job
    #[arg(value_name = "JOB")]
    pub job: Option<String>,
    /// At most N runs
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Print a JSON array
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only these jobs, by name [default: every job]
    #[arg(value_name = "JOB")]
    pub jobs: Vec<String>,
    /// Print one JSON object (the jobs of this host) instead of the table
    #[arg(long, conflicts_with = "html")]
    pub json: bool,
    /// Write the status page (self-contained HTML) to FILE instead of printing the table
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Ask these hosts over ssh (`ssh.reporter status --json`) and show them as one host × job matrix
    #[arg(long, value_name = "H1,H2", value_delimiter = ',')]
    pub hosts: Option<Vec<HostSpec>>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print a JSON array
    #[arg(long)]
    pub json: bool,
    /// Print only the job names, one per line (for shell completion)
    #[arg(long, hide = true, conflicts_with = "json")]
    pub names: bool,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Go to the background (double fork, setsid); for init systems without supervision
    #[arg(long, requires_all = ["pidfile", "log_file"])]
    pub detach: bool,
    /// Write the daemon's process id here; removed on exit
    #[arg(long, value_name = "P")]
    pub pidfile: Option<PathBuf>,
    /// Append the log here instead of stderr; reopened on SIGHUP
    #[arg(long, value_name = "F")]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SilenceArgs {
    /// Jobs to silence, by name (the file name without .yaml)
    #[arg(value_name = "JOB")]
    pub jobs: Vec<String>,
    /// Every job, those added later too
    #[arg(long, conflicts_with = "jobs")]
    pub all: bool,
    /// How long, from now (30m, 2h, 1d)
    #[arg(long = "for", value_name = "DURATION")]
    pub for_: Option<HumanDuration>,
    /// Until when: RFC 3339, or "YYYY-MM-DD HH:MM" in the config's time zone
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Why: shown with the silence and recorded with every run it silences
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// List the silences in force or to come, and the maintenance windows
    #[arg(long, conflicts_with_all = ["jobs", "all", "for_", "until", "reason"])]
    pub list: bool,
    /// With --list: print a JSON array
    #[arg(long, requires = "list")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UnsilenceArgs {
    /// Silences to end, by the id `silence` printed
    #[arg(value_name = "ID", required_unless_present = "all")]
    pub ids: Vec<i64>,
    /// Every silence in force or to come
    #[arg(long, conflicts_with = "ids")]
    pub all: bool,
}

/// Which jobs to run, and how many commands at once.
#[derive(Debug, Args)]
pub struct SelectionArgs {
    /// Jobs to run, by name (the file name without .yaml)
    #[arg(value_name = "JOB")]
    pub jobs: Vec<String>,
    /// Every job in the jobs folder
    #[arg(long, conflicts_with = "jobs")]
    pub all: bool,
    /// The jobs whose schedule is this period (what cron.daily and friends run)
    #[arg(long, value_enum, conflicts_with_all = ["jobs", "all"])]
    pub schedule: Option<Period>,
    /// Run on these hosts instead of each job's `hosts:` (ssh destinations, @groups, localhost)
    #[arg(long, value_name = "H1,H2", value_delimiter = ',')]
    pub hosts: Option<Vec<HostSpec>>,
    /// Concurrent commands [default: the config's pool_size]
    #[arg(long = "jobs", short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub pool_size: Option<u16>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Send every report to ADDR instead of its recipients (repeatable)
    #[arg(long, value_name = "ADDR")]
    pub to: Vec<String>,
    /// One message for all the selected jobs, a section each, from and to the config's addresses
    #[arg(long)]
    pub digest: bool,
    /// Also print the run's outcome as one JSON object on stdout (nothing else goes there)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Print only the rendered HTML body of each message (to open in a browser)
    #[arg(long)]
    pub html: bool,
    /// One message for all the selected jobs, a section each
    #[arg(long)]
    pub digest: bool,
}
