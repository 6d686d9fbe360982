//! The global configuration (`reporter.yaml`): where things are, how commands run, how mail leaves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::address::AddressSpec;
use crate::config::error::{ConfigError, Source};
use crate::config::hosts::HostSpec;
use crate::config::inventory::Inventory;
use crate::config::limits::{self, MAX_FILE_SIZE};
use crate::config::maintenance::Window;
use crate::config::name::is_name;
use crate::config::raw::{LogFormat, RawConfig, RawJobKeys, RawMail, TlsMode, TransportKind};
use crate::config::trust;
use crate::schedule::Zone;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const SYSTEM_CONFIG: &str = "/etc/reporter/reporter.yaml";

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    /// PEM certificates trusted besides the system's, for an internal CA.
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum TransportConfig {
    Smtp(SmtpConfig),
    Sendmail { path: PathBuf, timeout: Duration },
    File { dir: PathBuf },
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    pub from: AddressSpec,
    pub to: Vec<AddressSpec>,
    pub transport: TransportConfig,
    pub spool_max_age: Duration,
}

#[derive(Debug, Clone)]
pub struct SshConfig {
    pub command: PathBuf,
    pub options: Vec<String>,
    /// `ssh.reporter`: the command line that runs reporter on another host, to which
    /// `status --json` is appended (`status --hosts`).
    pub reporter: String,
}

/// The validated global configuration, with every path made absolute or config-relative.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from; `None` for the built-in defaults.
    pub file: Option<PathBuf>,
    pub jobs_dir: PathBuf,
    pub templates_dir: PathBuf,
    pub state_dir: PathBuf,
    pub pool_size: usize,
    pub shell: PathBuf,
    pub path: String,
    pub timezone: Zone,
    pub history_days: u32,
    pub defaults: RawJobKeys,
    pub mail: MailConfig,
    pub ssh: SshConfig,
    pub host_groups: BTreeMap<String, Vec<HostSpec>>,
    /// `inventory:`, until [`Config::load_inventory`] has merged its groups.
    pub inventory: Option<Inventory>,
    /// Why the inventory's groups are missing: reported with the jobs' problems.
    pub inventory_problem: Option<ConfigError>,
    pub log_format: LogFormat,
    /// `metrics_file:`: the Prometheus textfile written after every run and flush.
    pub metrics_file: Option<PathBuf>,
    /// `status_page:`: the HTML status page written after every run, flush and daemon fire.
    pub status_page: Option<PathBuf>,
    /// `maintenance:`: recurring windows during which jobs are silenced.
    pub maintenance: Vec<Window>,
    /// The folder relative paths in the config and the jobs (`headers_file`) are taken from.
    pub base: PathBuf,
}

/// Where the configuration comes from, in the order reporter.yaml(5) gives.
pub fn discover(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_owned());
    }
    if let Some(path) = std::env::var_os("REPORTER_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    [Path::new("reporter.yaml"), Path::new(SYSTEM_CONFIG)]
        .into_iter()
        .find(|p| p.is_file())
        .map(Path::to_owned)
}

impl Config {
    /// Reads the configuration at `path`, or the built-in defaults when there is none.
    pub fn load(path: Option<&Path>) -> Result<Config, Vec<ConfigError>> {
        let Some(path) = path else {
            let source = Source::new(Path::new("(built-in defaults)"), "");
            return Config::from_raw(
                RawConfig::default(),
                &source,
                None,
                Path::new("/etc/reporter"),
            )
            .map_err(|e| vec![e]);
        };
        let base = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        // As root: only root may have written the file, or could swap it in its folder.
        trust::check_folder(&base).map_err(|e| vec![ConfigError::new(&base, e.to_string())])?;
        let text = trust::read_trusted(path, Some(MAX_FILE_SIZE))
            .map_err(|e| vec![ConfigError::new(path, e.to_string())])?;
        Config::parse(&text, path, &base)
    }

    /// Parses config text; `base` is the folder relative paths are taken from.
    /// Every problem of the file is reported, not only the first.
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Config, Vec<ConfigError>> {
        limits::check(path, text).map_err(|e| vec![e])?;
        // An empty file (or one with only comments) means "all defaults".
        let source = Source::new(path, text);
        let raw = if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            RawConfig::default()
        } else {
            source.parse_all()?
        };
        Config::from_raw(raw, &source, Some(path), base).map_err(|e| vec![e])
    }

    fn from_raw(
        mut raw: RawConfig,
        source: &Source,
        file: Option<&Path>,
        base: &Path,
    ) -> Result<Config, ConfigError> {
        let relative = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let pool_size = match raw.pool_size {
            Some(0) | Some(1025..) => {
                return Err(source.error("pool_size", "must be between 1 and 1024"));
            }
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map_or(4, |n| n.get() * 2)
                .max(4),
        };
        check_host_groups(&raw.host_groups, source)?;
        let transport = TransportConfig::from_raw(&mut raw.mail, source, &relative)?;
        let maintenance = Window::all_of(std::mem::take(&mut raw.maintenance), source)?;
        let default_from = AddressSpec::default_from();
        let default_to = vec!["root@localhost".parse().expect("built-in address is valid")];
        Ok(Config {
            file: file.map(Path::to_owned),
            jobs_dir: relative(raw.jobs_dir.unwrap_or_else(|| "jobs".into())),
            templates_dir: relative(raw.templates_dir.unwrap_or_else(|| "templates".into())),
            state_dir: raw
                .state_dir
                .map(relative)
                .unwrap_or_else(default_state_dir),
            pool_size,
            shell: raw.shell.unwrap_or_else(|| "/bin/sh".into()),
            path: raw.path.unwrap_or_else(|| DEFAULT_PATH.to_owned()),
            timezone: raw.timezone.unwrap_or_default(),
            history_days: raw.history_days.unwrap_or(90),
            defaults: raw.defaults,
            mail: MailConfig {
                from: raw.mail.from.unwrap_or(default_from),
                to: raw
                    .mail
                    .to
                    .map(|l| l.0)
                    .filter(|l| !l.is_empty())
                    .unwrap_or(default_to),
                transport,
                spool_max_age: raw
                    .mail
                    .spool_max_age
                    .map_or(Duration::from_secs(7 * 86_400), |d| d.0),
            },
            ssh: SshConfig {
                command: raw.ssh.command.unwrap_or_else(|| "ssh".into()),
                options: raw.ssh.options.unwrap_or_else(|| {
                    ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
                        .map(String::from)
                        .to_vec()
                }),
                reporter: raw.ssh.reporter.unwrap_or_else(|| "reporter".to_owned()),
            },
            host_groups: raw.host_groups,
            inventory: raw.inventory.map(|raw| Inventory {
                command: raw.command,
                timeout: raw.timeout.map_or(Duration::from_secs(30), |d| d.0),
                origin: source.error("inventory.command", ""),
            }),
            inventory_problem: None,
            log_format: raw.log_format.unwrap_or_default(),
            metrics_file: raw.metrics_file.map(relative),
            status_page: raw.status_page.map(relative),
            maintenance,
            base: base.to_owned(),
        })
    }

    /// Runs the inventory command, if there is one, and adds its groups to `host_groups`
    /// (for the commands that validate the jobs' hosts: once per run, check or list, and
    /// per daemon reload). A failure is kept in `inventory_problem`; the jobs that use none of its
    /// groups still run.
    pub fn load_inventory(&mut self) {
        let Some(inventory) = self.inventory.take() else {
            return;
        };
        let groups = match inventory.groups() {
            Ok(groups) => groups,
            Err(problem) => {
                self.inventory_problem = Some(problem);
                return;
            }
        };
        for (name, hosts) in groups {
            if self.host_groups.contains_key(&name) {
                self.inventory_problem = Some(ConfigError {
                    message: format!(
                        "group `{name}` is both in host_groups and in the inventory; rename one of them"
                    ),
                    ..inventory.origin.clone()
                });
                continue;
            }
            self.host_groups.insert(name, hosts);
        }
    }

    /// The file named in error messages about the config itself.
    pub fn display_path(&self) -> &Path {
        self.file
            .as_deref()
            .unwrap_or(Path::new("(built-in defaults)"))
    }
}

impl TransportConfig {
    /// `mail.transport` with its section; `relative` makes paths config-relative.
    fn from_raw(
        mail: &mut RawMail,
        source: &Source,
        relative: &dyn Fn(PathBuf) -> PathBuf,
    ) -> Result<TransportConfig, ConfigError> {
        let smtp = std::mem::take(&mut mail.smtp);
        let tls = smtp.tls.unwrap_or(TlsMode::None);
        if smtp.username.is_some() != smtp.password_file.is_some() {
            return Err(source.error("mail.smtp", "`username` and `password_file` go together"));
        }
        if smtp.ca_file.is_some() && tls == TlsMode::None {
            return Err(source.error(
                "mail.smtp.ca_file",
                "`ca_file` is for `tls: starttls` or `tls: tls`; with `tls: none` no certificate is checked",
            ));
        }
        Ok(match mail.transport.unwrap_or(TransportKind::Smtp) {
            TransportKind::Smtp => TransportConfig::Smtp(SmtpConfig {
                host: smtp.host.unwrap_or_else(|| "localhost".to_owned()),
                port: smtp.port.unwrap_or(match tls {
                    TlsMode::None => 25,
                    TlsMode::Starttls => 587,
                    TlsMode::Tls => 465,
                }),
                tls,
                username: smtp.username,
                password_file: smtp.password_file.map(relative),
                ca_file: smtp.ca_file.map(relative),
                timeout: smtp.timeout.map_or(Duration::from_secs(30), |d| d.0),
            }),
            TransportKind::Sendmail => TransportConfig::Sendmail {
                path: mail
                    .sendmail
                    .path
                    .take()
                    .unwrap_or_else(|| "/usr/sbin/sendmail".into()),
                timeout: mail
                    .sendmail
                    .timeout
                    .map_or(Duration::from_secs(30), |d| d.0),
            },
            TransportKind::File => TransportConfig::File {
                dir: mail.file.dir.take().map(relative).ok_or_else(|| {
                    source.error("mail.file.dir", "required with `transport: file`")
                })?,
            },
        })
    }
}

/// Group names are names, and groups list hosts, not other groups.
fn check_host_groups(
    groups: &BTreeMap<String, Vec<HostSpec>>,
    source: &Source,
) -> Result<(), ConfigError> {
    for (name, members) in groups {
        if !is_name(name) {
            return Err(source.error(
                format!("host_groups.{name}"),
                "a group name is letters, digits, `-` and `_`",
            ));
        }
        if let Some(i) = members.iter().position(|h| matches!(h, HostSpec::Group(_))) {
            return Err(source.error(
                format!("host_groups.{name}[{i}]"),
                format!("`{}`: a group lists hosts, not other groups", members[i]),
            ));
        }
    }
    Ok(())
}

/// `/var/lib/reporter` for root, else `$XDG_STATE_HOME/reporter` or `~/.local/state/reporter`.
fn default_state_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/reporter");
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("reporter");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".local/state/reporter")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/r/reporter.yaml"), Path::new("/etc/r"))
            .map_err(|mut errors| errors.remove(0))
    }

    #[test]
    fn defaults_fill_everything() {
        let config = parse("# nothing\n").unwrap();
        assert_eq!(config.jobs_dir, Path::new("/etc/r/jobs"));
        assert_eq!(config.shell, Path::new("/bin/sh"));
        assert!(config.pool_size >= 4);
        assert_eq!(config.mail.to[0].as_str(), "root@localhost");
        let TransportConfig::Smtp(smtp) = &config.mail.transport else {
            panic!("smtp is the default")
        };
        assert_eq!((smtp.host.as_str(), smtp.port), ("localhost", 25));
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let config =
            parse("jobs_dir: j\nstate_dir: /var/x\nmail: {transport: file, file: {dir: out}}\n")
                .unwrap();
        assert_eq!(config.jobs_dir, Path::new("/etc/r/j"));
        assert_eq!(config.state_dir, Path::new("/var/x"));
        let TransportConfig::File { dir } = &config.mail.transport else {
            panic!("file transport")
        };
        assert_eq!(dir, Path::new("/etc/r/out"));
    }

    #[test]
    fn tls_mode_picks_the_port() {
        let config = parse("mail: {smtp: {host: relay, tls: starttls}}\n").unwrap();
        let TransportConfig::Smtp(smtp) = &config.mail.transport else {
            panic!()
        };
        assert_eq!(smtp.port, 587);
    }

    #[test]
    fn errors_name_the_key() {
        let err = parse("mail:\n  smtp:\n    tls: ssl\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/etc/r/reporter.yaml:3:10: mail.smtp.tls: unknown variant `ssl`"),
            "{err}"
        );
        let err = parse("pool_size: 0\n").unwrap_err().to_string();
        assert_eq!(
            err,
            "/etc/r/reporter.yaml:1:12: pool_size: must be between 1 and 1024"
        );
        let err = parse("mail: {to: [nobody]}\n").unwrap_err().to_string();
        assert!(
            err.contains("mail.to[0]: invalid mail address \"nobody\""),
            "{err}"
        );
        let err = parse("host_groups:\n  web: [web1]\n  all: [db1, \"@web\"]\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "/etc/r/reporter.yaml:3:14: host_groups.all[1]: `@web`: a group lists hosts, not other groups"
        );
        let err = parse("timezone: Mars/Olympus\n").unwrap_err().to_string();
        assert!(err.contains("timezone: unknown time zone"), "{err}");
    }
}
