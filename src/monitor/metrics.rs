//! `metrics_file:` (docs/monitoring.md): the jobs' last runs and the spool as Prometheus gauges, for
//! node_exporter's textfile collector. Rewritten after every run and flush, atomically
//! (the collector reads only `*.prom`, never the `.NAME.PID.tmp` being written), through
//! a folder no one else can swap (`state::outside`), and world-readable (0644): node_exporter runs as its own user, and nothing in it is secret.

use std::fmt::Write as _;
use std::path::Path;

use tracing::{debug, error, warn};

use crate::config::Config;
use crate::deliver::spool::Spool;
use crate::history::{History, JobGauges};
use crate::report::Status;
use crate::state::Access;
use crate::state::outside::{self, OutsideError};

const STATUSES: [Status; 4] = [Status::Ok, Status::Failed, Status::Timeout, Status::Error];

/// Rewrites the config's `metrics_file`, if it has one; a failure is logged, never fatal.
pub fn update(config: &Config) {
    let Some(path) = &config.metrics_file else {
        return;
    };
    let history =
        (config.history_days > 0).then(|| History::new(&config.state_dir, config.history_days));
    let gauges = match history.as_ref().map(History::gauges) {
        Some(Ok(gauges)) => gauges,
        Some(Err(e)) => {
            error!("metrics_file: {e}");
            return;
        }
        None => Vec::new(),
    };
    let spool = Spool::new(&config.state_dir);
    let waiting = spool.list().len();
    let dead = count_files(&spool.dead_dir());
    let text = render(&gauges, waiting, dead);
    match outside::write_file(path, &[text.as_bytes()], Access::WorldReadable) {
        Ok(()) => debug!("metrics written to `{}`", path.display()),
        Err(OutsideError::Io { path, source }) => {
            error!("metrics_file: cannot write `{}`: {source}", path.display());
        }
        // Not a failure of the run: the folder is left for its owner to fix.
        Err(refused) => warn!("metrics_file: {refused}"),
    }
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                !name.starts_with('.') && e.file_type().is_ok_and(|t| t.is_file())
            })
            .count()
    })
}

/// The Prometheus text format of the gauges: every family once, with `# HELP` and `# TYPE`.
pub fn render(gauges: &[JobGauges], waiting: usize, dead: usize) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, samples: &mut dyn Iterator<Item = String>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for sample in samples {
            let _ = writeln!(out, "{name}{sample}");
        }
    };
    let seconds = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);
    family(
        "reporter_job_last_run_timestamp_seconds",
        "When the job's last run ended, in seconds since the epoch.",
        &mut gauges
            .iter()
            .map(|g| format!("{{job=\"{}\"}} {}", g.job, seconds(g.last_run_ms))),
    );
    family(
        "reporter_job_last_success_timestamp_seconds",
        "When the job's last run with every result ok ended (0: never).",
        &mut gauges.iter().map(|g| {
            format!(
                "{{job=\"{}\"}} {}",
                g.job,
                g.last_success_ms.map_or("0".to_owned(), seconds)
            )
        }),
    );
    family(
        "reporter_job_last_duration_seconds",
        "How long the job's last run took.",
        &mut gauges
            .iter()
            .map(|g| format!("{{job=\"{}\"}} {}", g.job, seconds(g.duration_ms))),
    );
    family(
        "reporter_job_last_status",
        "1 for the worst result status of the job's last run, 0 for the others.",
        &mut gauges.iter().flat_map(|g| {
            STATUSES.iter().map(move |status| {
                format!(
                    "{{job=\"{}\",status=\"{}\"}} {}",
                    g.job,
                    status.as_str(),
                    u8::from(*status == g.status)
                )
            })
        }),
    );
    family(
        "reporter_job_consecutive_failures",
        "Runs of the job in a row, up to the last, that were not ok.",
        &mut gauges
            .iter()
            .map(|g| format!("{{job=\"{}\"}} {}", g.job, g.consecutive_failures)),
    );
    family(
        "reporter_value",
        "A value of the job's last run (docs/values.md): bytes for sizes, milliseconds for duration_ms.",
        &mut value_samples(gauges),
    );
    family(
        "reporter_spool_messages",
        "Messages and webhooks waiting in the spool for a retry.",
        &mut std::iter::once(format!(" {waiting}")),
    );
    family(
        "reporter_dead_messages",
        "Messages and webhooks in spool/dead, never to be sent.",
        &mut std::iter::once(format!(" {dead}")),
    );
    out
}

/// The samples of `reporter_value`: every value of every job's last run, labelled with
/// the job, the command, the value's name, and the result's host and target if it has them.
fn value_samples(gauges: &[JobGauges]) -> impl Iterator<Item = String> + '_ {
    gauges.iter().flat_map(|g| {
        g.values.iter().map(move |v| {
            let mut labels = format!(
                "job=\"{}\",command=\"{}\",name=\"{}\"",
                label(&g.job),
                label(&v.command),
                v.name
            );
            for (key, value) in [("host", &v.host), ("target", &v.target)] {
                if let Some(value) = value {
                    let _ = write!(labels, ",{key}=\"{}\"", label(value));
                }
            }
            format!("{{{labels}}} {}", v.value)
        })
    })
}

/// `text` as a label value: `\\`, `"` and line feeds escaped.
fn label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_is_a_sample_and_one_is_set() {
        let text = render(
            &[JobGauges {
                job: "disk".into(),
                last_run_ms: 1_500,
                duration_ms: 250,
                status: Status::Failed,
                last_success_ms: None,
                consecutive_failures: 2,
                values: vec![
                    crate::history::ValueGauge {
                        command: "say \"hi\"".into(),
                        host: None,
                        target: Some("10.0.0.1".into()),
                        name: "files".into(),
                        value: 42.0,
                    },
                    crate::history::ValueGauge {
                        command: "df".into(),
                        host: None,
                        target: None,
                        name: "free".into(),
                        value: 1.5,
                    },
                ],
            }],
            3,
            1,
        );
        assert!(text.contains("reporter_job_last_run_timestamp_seconds{job=\"disk\"} 1.500\n"));
        assert!(text.contains("reporter_job_last_success_timestamp_seconds{job=\"disk\"} 0\n"));
        assert!(text.contains("reporter_job_last_status{job=\"disk\",status=\"failed\"} 1\n"));
        assert!(text.contains("reporter_job_last_status{job=\"disk\",status=\"ok\"} 0\n"));
        assert!(text.contains("reporter_job_consecutive_failures{job=\"disk\"} 2\n"));
        assert!(text.contains("reporter_spool_messages 3\n"));
        assert!(text.contains("reporter_dead_messages 1\n"));
        assert!(text.contains(
            "reporter_value{job=\"disk\",command=\"say \\\"hi\\\"\",name=\"files\",target=\"10.0.0.1\"} 42\n"
        ), "{text}");
        assert!(text.contains("reporter_value{job=\"disk\",command=\"df\",name=\"free\"} 1.5\n"));
        assert_eq!(text.matches("# TYPE").count(), 8);
    }
}
