//! `reporter silence`, `silence --list` and `reporter unsilence` (docs/silences.md): the
//! silences kept in the state, made and ended by root or the state folder's owner only.

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;

use anyhow::{Context as _, bail};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

use crate::cli::{SilenceArgs, UnsilenceArgs};
use crate::config::Config;
use crate::config::units::HumanDuration;
use crate::exit;
use crate::history::{History, NewSilence};
use crate::run::load;
use crate::stdout;

use super::needs::{Loaded, Secured};

/// One entry of `silence --list`: a silence, or a maintenance window open or to come.
#[derive(Serialize)]
struct Entry {
    /// `null` for a maintenance window.
    id: Option<i64>,
    /// `null`: every job.
    jobs: Option<Vec<String>>,
    from: String,
    until: String,
    reason: String,
    /// Who made the silence; `null` for a maintenance window.
    by: Option<String>,
    /// The maintenance window's name; `null` for a silence.
    maintenance: Option<String>,
}

/// `reporter silence JOB... | --all (--for D | --until T) --reason TEXT`: prints the id.
pub fn silence(args: SilenceArgs, setup: Loaded) -> anyhow::Result<i32> {
    let config = &setup.config;
    let now = Utc::now();
    let jobs = match (args.all, args.jobs.is_empty()) {
        (true, _) => None,
        (false, false) => {
            let mut jobs = args.jobs;
            let mut seen = std::collections::HashSet::new();
            jobs.retain(|job| seen.insert(job.clone()));
            Some(jobs)
        }
        (false, true) => bail!("name the jobs to silence, or --all for every job"),
    };
    let until = until(args.for_, args.until.as_deref(), config, now)?;
    let reason = match args.reason.as_deref().map(str::trim) {
        Some(reason) if !reason.is_empty() => reason.to_owned(),
        _ => bail!(
            "a silence needs --reason TEXT: why the jobs are silenced (it is recorded with every run it silences)"
        ),
    };
    may_change(config, "silence jobs")?;
    let history = secured(config)?;
    for job in jobs.iter().flatten() {
        if let Some(unknown) = load::unknown_job(config, job) {
            bail!("{unknown}");
        }
    }
    let silence = NewSilence {
        jobs,
        from: now,
        until,
        reason,
        by: who(),
    };
    let id = history.add_silence(&silence)?;
    stdout::print(format!("{id}\n")).context("cannot write the silence's id")?;
    Ok(exit::OK)
}

/// `reporter unsilence ID... | --all`: the silences end now (and are kept for 30 days).
pub fn unsilence(args: UnsilenceArgs, setup: Loaded) -> anyhow::Result<i32> {
    let config = &setup.config;
    may_change(config, "end silences")?;
    let history = secured(config)?;
    let asked = (!args.all).then_some(args.ids.as_slice());
    let ended = history.end_silences(asked, Utc::now())?;
    if let Some(asked) = asked
        && let Some(missing) = asked.iter().find(|id| !ended.contains(id))
    {
        bail!(
            "no silence {missing} in force or to come (`reporter silence --list` shows them){}",
            if ended.is_empty() {
                String::new()
            } else {
                format!("; ended the others: {}", ids(&ended))
            }
        );
    }
    Ok(exit::OK)
}

/// `reporter silence --list [--json]`: the silences in force or to come, and the
/// maintenance windows open now or next.
pub fn list(args: SilenceArgs, setup: Secured) -> anyhow::Result<i32> {
    let config = &setup.config;
    let now = Utc::now();
    let zone = config.timezone;
    let history = History::new(&config.state_dir, config.history_days);
    let mut entries: Vec<Entry> = history
        .silences(now)?
        .into_iter()
        .map(|s| Entry {
            id: Some(s.id),
            jobs: s.jobs,
            from: zone.rfc3339(s.from),
            until: zone.rfc3339(s.until),
            reason: s.reason,
            by: Some(s.by),
            maintenance: None,
        })
        .collect();
    entries.extend(config.maintenance.iter().filter_map(|window| {
        let (from, until) = window.current_or_next(now, zone)?;
        Some(Entry {
            id: None,
            jobs: window.jobs.clone(),
            from: zone.rfc3339(from),
            until: zone.rfc3339(until),
            reason: format!(
                "maintenance: {} ({} for {})",
                window.name,
                window.schedule,
                HumanDuration(window.duration)
            ),
            by: None,
            maintenance: Some(window.name.clone()),
        })
    }));
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&entries).expect("silences serialize");
        text.push('\n');
        text
    } else {
        table(&entries)
    };
    stdout::print(text).context("cannot write the silences")?;
    Ok(exit::OK)
}

/// When a silence of `for_` or `until` made at `now` ends.
fn until(
    for_: Option<HumanDuration>,
    until: Option<&str>,
    config: &Config,
    now: DateTime<Utc>,
) -> anyhow::Result<DateTime<Utc>> {
    let end = match (for_, until) {
        (None, None) => bail!("say how long: --for DURATION (2h, 1d) or --until TIME"),
        (Some(_), Some(_)) => bail!("--for and --until both say when the silence ends: give one"),
        (Some(HumanDuration(duration)), None) => {
            if duration.is_zero() {
                bail!("--for 0s: a silence must last (e.g. --for 2h)");
            }
            now + chrono::Duration::from_std(duration).context("--for: too long")?
        }
        (None, Some(text)) => parse_time(text, config)?,
    };
    if end <= now {
        bail!(
            "--until {} is in the past (now is {}): a silence must end later",
            config.timezone.rfc3339(end),
            config.timezone.rfc3339(now)
        );
    }
    Ok(end)
}

/// `--until`: RFC 3339, or `YYYY-MM-DD HH:MM` in the config's time zone.
fn parse_time(text: &str, config: &Config) -> anyhow::Result<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.to_utc());
    }
    let zone = config.timezone;
    match NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M") {
        Ok(local) => zone.instant_of(local).with_context(|| {
            format!("--until {text:?}: that time does not exist in time zone {zone} (the clock skips it)")
        }),
        Err(_) => bail!(
            "--until {text:?}: expected RFC 3339 (2026-12-08T06:00:00+01:00) or \"YYYY-MM-DD HH:MM\" in time zone {zone}"
        ),
    }
}

/// Only root, or the owner of the state folder, makes or ends silences: another user could
/// otherwise quiet root's jobs.
fn may_change(config: &Config, what: &str) -> anyhow::Result<()> {
    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        return Ok(());
    }
    let dir = &config.state_dir;
    match std::fs::metadata(dir) {
        Ok(meta) if meta.uid() == uid.as_raw() => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        _ => bail!(
            "only root or the owner of the state folder `{}` may {what} (running as `{}`)",
            dir.display(),
            user_name(uid)
        ),
    }
}

/// The history store, once the state folder has been checked as for any subcommand.
fn secured(config: &Config) -> anyhow::Result<History> {
    if let Some(problem) = load::state_dir_problem(config) {
        bail!("{problem}");
    }
    Ok(History::new(&config.state_dir, config.history_days))
}

/// Who makes the silence: the user who ran sudo, else the user running reporter.
fn who() -> String {
    let uid = nix::unistd::geteuid();
    match std::env::var("SUDO_USER") {
        Ok(user) if uid.is_root() && !user.is_empty() => user,
        _ => user_name(uid),
    }
}

fn user_name(uid: nix::unistd::Uid) -> String {
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| format!("uid {uid}"), |user| user.name)
}

fn ids(ids: &[i64]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The entries as a table.
fn table(entries: &[Entry]) -> String {
    let jobs = |e: &Entry| {
        e.jobs
            .as_ref()
            .map_or_else(|| "every job".to_owned(), |jobs| jobs.join(","))
    };
    let width = entries
        .iter()
        .map(|e| jobs(e).len())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:4}  {:width$}  {:25}  {:25}  {:8}  REASON",
        "ID", "JOBS", "FROM", "UNTIL", "BY"
    );
    for e in entries {
        let _ = writeln!(
            text,
            "{:4}  {:width$}  {:25}  {:25}  {:8}  {}",
            e.id.map_or_else(|| "-".to_owned(), |id| id.to_string()),
            jobs(e),
            e.from,
            e.until,
            e.by.as_deref().unwrap_or("-"),
            e.reason
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(zone: &str) -> Config {
        Config::parse(
            &format!("timezone: {zone}\n"),
            Path::new("/etc/r/reporter.yaml"),
            Path::new("/etc/r"),
        )
        .unwrap()
    }

    #[test]
    fn until_takes_rfc_3339_or_a_local_time_in_the_configured_zone() {
        let berlin = config("Europe/Berlin");
        assert_eq!(
            parse_time("2026-12-08 06:30", &berlin)
                .unwrap()
                .to_rfc3339(),
            "2026-12-08T05:30:00+00:00"
        );
        assert_eq!(
            parse_time("2026-12-08T06:30:00Z", &berlin)
                .unwrap()
                .to_rfc3339(),
            "2026-12-08T06:30:00+00:00"
        );
        assert_eq!(
            parse_time("2026-03-29 02:30", &berlin)
                .unwrap_err()
                .to_string(),
            "--until \"2026-03-29 02:30\": that time does not exist in time zone Europe/Berlin (the clock skips it)"
        );
        assert_eq!(
            parse_time("tomorrow", &berlin).unwrap_err().to_string(),
            "--until \"tomorrow\": expected RFC 3339 (2026-12-08T06:00:00+01:00) or \"YYYY-MM-DD HH:MM\" in time zone Europe/Berlin"
        );
    }
}
