//! `reporter status` on a terminal: one row per job, its status coloured when stdout is a
//! terminal (`--color`), with a sparkline of its last durations, and the silence it is in.

use std::fmt::Write as _;

use crate::log;
use crate::report::format::format_duration;

use super::JobStatus;

/// How many durations the terminal's sparkline shows.
pub const SPARK_RUNS: usize = 20;

/// The jobs as a table, their statuses coloured with `color`.
pub fn render(jobs: &[JobStatus], color: bool) -> String {
    let width = jobs.iter().map(|j| j.job.len()).max().unwrap_or(0).max(3);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:width$}  {:7}  {:>6}  {:16}  {:16}  {:>8}  {:SPARK_RUNS$}  NEXT RUN",
        "JOB", "STATUS", "STREAK", "SINCE", "LAST OK", "DURATION", "DURATIONS"
    );
    for job in jobs {
        let dash = |v: Option<&str>| v.map_or_else(|| "-".to_owned(), short_time);
        let recent = &job.durations[job.durations.len().saturating_sub(SPARK_RUNS)..];
        let _ = writeln!(
            text,
            "{:width$}  {}  {:>6}  {:16}  {:16}  {:>8}  {:SPARK_RUNS$}  {}",
            job.job,
            log::status(job.status.as_deref().unwrap_or("never"), 7, color),
            if job.status.is_some() {
                format!("×{}", job.streak)
            } else {
                "-".to_owned()
            },
            dash(job.status_since.as_deref()),
            dash(job.last_ok.as_deref()),
            job.duration_ms
                .map_or_else(|| "-".to_owned(), |ms| format_duration(ms as f64)),
            sparkline(recent),
            next_and_silence(job),
        );
    }
    text
}

/// The job's next run, then the silence it is in, if any.
fn next_and_silence(job: &JobStatus) -> String {
    let next = job
        .next_run
        .as_deref()
        .map_or_else(|| "-".to_owned(), short_time);
    match &job.silenced {
        Some(silenced) => format!(
            "{next:16}  silenced until {} ({})",
            short_time(&silenced.until),
            silenced.reason
        ),
        None => next,
    }
}

/// `2026-12-07T06:25:00+01:00` as `2026-12-07 06:25`: the minute, in the zone it was
/// written in.
pub fn short_time(rfc3339: &str) -> String {
    match rfc3339.get(..16) {
        Some(start) if rfc3339.as_bytes().get(10) == Some(&b'T') => start.replacen('T', " ", 1),
        _ => rfc3339.to_owned(),
    }
}

/// Each of `values` as one of `▁▂▃▄▅▆▇█`, from 0 to the largest of them.
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    values
        .iter()
        .map(|&v| BARS[((v as f64 / max) * 7.0).round() as usize])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_the_longest() {
        assert_eq!(sparkline(&[0, 50, 100]), "▁▅█");
        assert_eq!(sparkline(&[0, 0]), "▁▁");
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn times_are_cut_to_the_minute() {
        assert_eq!(short_time("2026-12-07T06:25:09+01:00"), "2026-12-07 06:25");
        assert_eq!(short_time("soon"), "soon");
    }
}
