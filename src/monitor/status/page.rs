//! The status page (docs/status.md): one self-contained HTML file — inline CSS and SVG, no
//! script, nothing fetched — with every job, failing ones first, its last runs as coloured
//! cells, a sparkline of its durations and of each of its values, the silence it is in, its
//! disks' forecast and its last run's output. It
//! is written by `status --html FILE`, and rewritten as `status_page:` after every run,
//! flush and daemon fire, atomically and through a folder no one else can swap
//! (`state::outside`). Every text in it is escaped: job output is anyone's to write.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

use tracing::{debug, error, warn};

use crate::config::Config;
use crate::history::History;
use crate::history::overview::Detail;
use crate::report::forecast;
use crate::report::format::{format_bytes, format_duration, format_percent};
use crate::report::values::plain;
use crate::state::Access;
use crate::state::outside::{self, OutsideError};

use super::{HostStatus, JobStatus, Selection};

/// The most of one output the page shows: the history keeps up to `max_output`.
const OUTPUT_SHOWN: usize = 16 << 10;

/// Rewrites the config's `status_page`, if it has one; a failure is logged, never fatal.
pub fn update(config: &Config) {
    let Some(path) = &config.status_page else {
        return;
    };
    let history =
        (config.history_days > 0).then(|| History::new(&config.state_dir, config.history_days));
    let selection = Selection {
        names: &[],
        detail: Detail::Full,
    };
    let host = match super::gather(config, history.as_ref(), &selection) {
        Ok((host, _)) => host,
        Err(e) => {
            error!("status_page: {e}");
            return;
        }
    };
    match write(path, &render(&host)) {
        Ok(()) => debug!("status page written to `{}`", path.display()),
        Err(OutsideError::Io { path, source }) => {
            error!("status_page: cannot write `{}`: {source}", path.display());
        }
        // Not a failure of the run: the folder is left for its owner to fix.
        Err(refused) => warn!("status_page: {refused}"),
    }
}

/// Writes `html` to `path` atomically, world-readable (a web server serves it), through a
/// folder no one else can swap.
pub fn write(path: &Path, html: &str) -> Result<(), OutsideError> {
    outside::write_file(path, &[html.as_bytes()], Access::WorldReadable)
}

/// The page of one host.
pub fn render(host: &HostStatus) -> String {
    let title = format!("{}: reporter status", host.host);
    // About what a job takes, so that the page is not copied as it grows.
    let mut body = String::with_capacity(host.jobs.len() * 4096);
    host_section(&mut body, host, 2);
    document(&title, &body)
}

/// A whole page around `body`.
pub fn document(title: &str, body: &str) -> String {
    let mut page = String::with_capacity(body.len() + STYLE.len() + 512);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        Html(title)
    );
    page.push_str(body);
    page.push_str("</body>\n</html>\n");
    page
}

/// One host's heading, counts and jobs, failing first, its heading at `level`.
pub fn host_section(out: &mut String, host: &HostStatus, level: u8) {
    let mut jobs: Vec<&JobStatus> = host.jobs.iter().collect();
    jobs.sort_by_key(|job| (rank(job.status.as_deref()), job.job.clone()));
    let failing = jobs
        .iter()
        .filter(|job| job.status.as_deref().is_some_and(|s| s != "ok"))
        .count();
    let ok = jobs
        .iter()
        .filter(|j| j.status.as_deref() == Some("ok"))
        .count();
    let _ = write!(
        out,
        "<header><h{level}>{}</h{level}>\n<p class=\"counts\" data-jobs=\"{}\" data-failing=\"{failing}\" data-ok=\"{ok}\">\
         {} jobs: <b class=\"{}\">{failing} not ok</b>, {ok} ok, {} never run · generated {}</p></header>\n",
        Html(&host.host),
        jobs.len(),
        jobs.len(),
        if failing > 0 { "bad" } else { "good" },
        jobs.len() - failing - ok,
        Html(&short(&host.generated_at)),
    );
    out.push_str("<div class=\"jobs\">\n");
    for job in jobs {
        job_section(out, job);
    }
    out.push_str("</div>\n");
}

/// Not ok first, the worst first; then ok; then never run.
fn rank(status: Option<&str>) -> u8 {
    match status {
        Some("error") => 0,
        Some("timeout") => 1,
        Some("failed") => 2,
        Some("ok") => 4,
        Some(_) => 3,
        None => 5,
    }
}

/// One job: its heading with status and streak, its facts, its runs, its sparkline, its
/// disks and its last run's output.
fn job_section(out: &mut String, job: &JobStatus) {
    let status = job.status.as_deref().unwrap_or("never");
    let none = super::PageDetail::default();
    // A job of another host has no page detail: its JSON is all there is.
    let detail = job.page.as_ref().unwrap_or(&none);
    let _ = write!(
        out,
        "<section class=\"job\" data-job=\"{}\" data-status=\"{}\" data-streak=\"{}\">\n\
         <h3><span class=\"badge s-{}\">{}</span> {}</h3>\n",
        Html(&job.job),
        Html(status),
        job.streak,
        class(status),
        Html(status),
        Html(&job.job),
    );
    if let Some(description) = &detail.description {
        let _ = writeln!(out, "<p class=\"what\">{}</p>", Html(description));
    }
    if let Some(silenced) = &job.silenced {
        let _ = writeln!(
            out,
            "<p class=\"silenced\">silenced until {} ({})</p>",
            Html(&short(&silenced.until)),
            Html(&silenced.reason)
        );
    }
    let since = job
        .status_since
        .as_deref()
        .map(|since| format!("{} runs in a row since {}", job.streak, short(since)));
    let facts = [
        since,
        Some(format!(
            "last ok: {}",
            job.last_ok.as_deref().map_or("never".to_owned(), short)
        )),
        job.duration_ms
            .map(|ms| format!("took {}", format_duration(ms as f64))),
        Some(
            match (&job.next_run, job.page.as_ref().map(|p| p.enabled)) {
                (Some(next), _) => format!("next: {}", short(next)),
                (None, Some(false)) => "disabled".to_owned(),
                (None, Some(true)) => "no schedule".to_owned(),
                (None, None) => "no next run".to_owned(),
            },
        ),
    ];
    out.push_str("<p class=\"facts\">");
    for fact in facts.iter().flatten() {
        let _ = write!(out, "<span>{}</span> ", Html(fact));
    }
    out.push_str("</p>\n");
    cells(out, &detail.runs);
    if job.durations.len() > 1 {
        out.push_str(&duration_sparkline(&job.durations));
    }
    for (name, series) in &job.values {
        if series.len() > 1 {
            let size = job.units.get(name).is_some_and(|unit| unit == super::BYTES);
            out.push_str(&value_sparkline(name, series, size));
        }
    }
    disks(out, &detail.disks);
    output(out, &detail.results);
    out.push_str("</section>\n");
}

/// The runs as coloured cells, oldest first, each with its time, status and duration in
/// `title`. Short markup: a page may hold thousands of them.
fn cells(out: &mut String, runs: &[super::RunCell]) {
    if runs.is_empty() {
        return;
    }
    out.push_str("<div class=\"runs\">");
    for run in runs {
        let _ = write!(
            out,
            "<i class=\"s-{}\" title=\"{}, {}, {}\"></i>",
            class(run.status),
            // Written by reporter itself: digits, `-`, `:` and a space.
            short(&run.started_at),
            run.status,
            format_duration(run.duration_ms as f64)
        );
    }
    out.push_str("</div>\n");
}

/// The CSS class of a status word.
pub fn class(status: &str) -> &'static str {
    match status {
        "ok" => "ok",
        "failed" => "failed",
        "timeout" => "timeout",
        "error" => "error",
        _ => "never",
    }
}

/// A line through `values` as inline SVG, scaled from 0 to `max`, stretched to the width
/// it is given. Whole numbers in a 1000 × 300 box: as fine as a sparkline needs.
fn svg_line(values: &[f64], max: f64, label: &str) -> String {
    let max = if max > 0.0 { max } else { 1.0 };
    let step = 1000.0 / (values.len().max(2) - 1) as f64;
    let mut points = String::with_capacity(values.len() * 9);
    for (i, v) in values.iter().enumerate() {
        let x = (i as f64 * step).round() as i64;
        let y = (290.0 - v / max * 270.0).round() as i64;
        let _ = write!(points, "{}{x},{y}", if i == 0 { "" } else { " " });
    }
    format!(
        "<svg class=\"spark\" viewBox=\"0 0 1000 300\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{label}\">\
         <title>{label}</title><polyline points=\"{points}\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.5\" vector-effect=\"non-scaling-stroke\"/></svg>"
    )
}

/// The durations' sparkline, labelled with its scale, as a value's is.
fn duration_sparkline(durations: &[u64]) -> String {
    let values: Vec<f64> = durations.iter().map(|&d| d as f64).collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    let longest = format_duration(max);
    let label = escape(&format!(
        "durations of the last {} runs, up to {longest}",
        values.len(),
    ));
    format!(
        "<div class=\"value\" data-durations=\"\" data-points=\"{}\"><span>durations, up to {}</span><div class=\"chart\">{}</div></div>\n",
        values.len(),
        Html(&longest),
        svg_line(&values, max, &label)
    )
}

/// A value's sparkline, named, with its last number (as a size, when it is one). A series
/// with negative numbers is drawn from its least to its largest; any other from 0.
fn value_sparkline(name: &str, series: &[f64], size: bool) -> String {
    let low = series.iter().copied().fold(0.0, f64::min);
    let shifted: Vec<f64> = series.iter().map(|v| v - low).collect();
    let max = shifted.iter().copied().fold(0.0, f64::max);
    let last = series.last().map_or_else(String::new, |&v| {
        if size {
            format_bytes(v)
        } else {
            grouped(&plain(v))
        }
    });
    let label = escape(&format!("{name} in the last {} runs", series.len()));
    format!(
        "<div class=\"value\" data-value=\"{}\" data-points=\"{}\"><span>{} {}</span><div class=\"chart\">{}</div></div>\n",
        Html(name),
        series.len(),
        Html(name),
        Html(&last),
        svg_line(&shifted, max, &label)
    )
}

/// A plain number with its whole part in groups of three digits (`23,622,320,128`).
fn grouped(number: &str) -> String {
    let (sign, rest) = number.split_at(usize::from(number.starts_with('-')));
    let (whole, fraction) = rest.split_at(rest.find('.').unwrap_or(rest.len()));
    let mut out = String::with_capacity(number.len() + whole.len() / 3);
    out.push_str(sign);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out.push_str(fraction);
    out
}

/// Each disk with its usage, trend and forecast.
fn disks(out: &mut String, disks: &[super::DiskForecast]) {
    if disks.is_empty() {
        return;
    }
    out.push_str("<table class=\"disks\">\n");
    for disk in disks {
        let forecast = disk
            .days_to_full
            .map_or_else(|| "not filling".to_owned(), forecast::describe);
        let _ = writeln!(
            out,
            "<tr data-mount=\"{}\"><td class=\"mount\">{}</td><td>{}</td><td class=\"trend\">{}</td><td>{}</td></tr>",
            Html(&disk.mount),
            Html(&disk.mount),
            format_percent(disk.percent),
            svg_line(
                &disk.trend,
                100.0,
                &escape(&format!("{} used, recent runs", disk.mount))
            ),
            Html(&forecast),
        );
    }
    out.push_str("</table>\n");
}

/// The last run's results, with what each printed, behind a `<details>`.
fn output(out: &mut String, results: &[crate::history::record::RecordedResult]) {
    if results.is_empty() {
        return;
    }
    out.push_str("<details><summary>Last run's output</summary>\n");
    for result in results {
        let core = &result.core;
        let place = [core.host.as_deref(), core.target.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(
            out,
            "<h4><span class=\"badge s-{}\">{}</span> {}{}</h4>",
            class(core.status.as_str()),
            core.status.as_str(),
            Html(&core.name),
            if place.is_empty() {
                String::new()
            } else {
                format!(" <small>{}</small>", Html(&place))
            }
        );
        for text in [&result.stdout, &result.stderr].into_iter().flatten() {
            if !text.is_empty() {
                let _ = writeln!(out, "<pre>{}</pre>", Html(&shown(text)));
            }
        }
    }
    out.push_str("</details>\n");
}

/// `text`, cut at [`OUTPUT_SHOWN`] bytes with a line saying how much was left out.
fn shown(text: &str) -> Cow<'_, str> {
    if text.len() <= OUTPUT_SHOWN {
        return Cow::Borrowed(text);
    }
    let mut end = OUTPUT_SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}\n[… {} more bytes in the history]",
        &text[..end],
        text.len() - end
    ))
}

/// `text` safe in HTML text and attribute values.
pub fn escape(text: &str) -> String {
    Html(text).to_string()
}

/// A text written safe in HTML text and attribute values, escaped as the templates'
/// `{{...}}` escapes it (handlebars' set: `<>"&'` and `` ` ``, `=`), without a copy: the
/// runs between those characters are written as they are. A page holds megabytes of job
/// output.
pub struct Html<'a>(pub &'a str);

impl std::fmt::Display for Html<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0;
        let mut written = 0;
        for (at, byte) in text.bytes().enumerate() {
            let entity = match byte {
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'&' => "&amp;",
                b'\'' => "&#x27;",
                b'`' => "&#x60;",
                b'=' => "&#x3D;",
                _ => continue,
            };
            // ASCII bytes: `at` is a character boundary.
            f.write_str(&text[written..at])?;
            f.write_str(entity)?;
            written = at + 1;
        }
        f.write_str(&text[written..])
    }
}

/// An RFC 3339 time to the minute.
fn short(rfc3339: &str) -> String {
    super::table::short_time(rfc3339)
}

/// The page's style: one column that fits a phone, cards that flow side by side on a
/// desktop; nothing wider than the screen (long output wraps).
const STYLE: &str = "
:root{color-scheme:light dark;--ok:#2e7d32;--failed:#c62828;--timeout:#ef6c00;--error:#6a1b9a;--never:#9e9e9e;--line:#8884}
*{box-sizing:border-box}
body{margin:0 auto;padding:12px;max-width:1280px;font:15px/1.4 system-ui,sans-serif}
h1,h2{margin:.2em 0}h3{margin:0 0 .3em;font-size:1.05em;overflow-wrap:anywhere}h4{margin:.6em 0 .2em;font-size:.95em;overflow-wrap:anywhere}
header{margin:.5em 0 1em}.counts{margin:.2em 0;color:#666}.bad{color:var(--failed)}.good{color:var(--ok)}
main,.jobs{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,380px),1fr));gap:12px}
.job{border:1px solid var(--line);border-radius:8px;padding:10px;min-width:0}
.what{margin:0 0 .3em;color:#666}
.facts{margin:.2em 0;font-size:.9em}.facts span{white-space:nowrap;margin-right:.6em}
.badge{display:inline-block;padding:0 .45em;border-radius:4px;color:#fff;font-size:.85em;font-weight:600}
.s-ok{background:var(--ok)}.s-failed{background:var(--failed)}.s-timeout{background:var(--timeout)}.s-error{background:var(--error)}.s-never{background:var(--never)}
.runs{display:flex;flex-wrap:wrap;gap:2px;margin:.4em 0}
.runs i{display:inline-block;width:9px;height:18px;border-radius:2px}
.chart{height:32px;margin:.3em 0}.value{display:grid;grid-template-columns:minmax(0,40%) 1fr;gap:6px;align-items:center;font-size:.85em}.value span{overflow-wrap:anywhere}.value .chart{height:22px;margin:0}
.silenced{margin:.2em 0;padding:2px 6px;border-left:4px solid var(--never);font-size:.9em}.spark{width:100%;height:100%;display:block;color:#1565c0}
.disks{width:100%;border-collapse:collapse;font-size:.9em;table-layout:fixed}
.disks td{padding:2px 4px;border-top:1px solid var(--line);overflow-wrap:anywhere}
.disks .mount{width:35%}.disks .trend{width:25%}.disks .trend .spark{height:18px}
details{margin-top:.4em}summary{cursor:pointer}
pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:12px;background:#8881;padding:6px;margin:.2em 0;max-height:24em;overflow-y:auto}
.matrix-box{max-width:100%;overflow-x:auto;margin-bottom:1em}
.matrix{border-collapse:collapse;font-size:.9em}
.matrix th,.matrix td{border:1px solid var(--line);padding:3px 6px;text-align:left;white-space:nowrap}
.matrix td[class^=s-]{color:#fff;font-weight:600}.matrix td.down{color:var(--failed);white-space:normal;min-width:12em}
.host{margin-top:1.5em}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_three_digits() {
        for (number, shown) in [
            ("0", "0"),
            ("999", "999"),
            ("1000", "1,000"),
            ("23622320128", "23,622,320,128"),
            ("-1234567.125", "-1,234,567.125"),
            ("0.39", "0.39"),
        ] {
            assert_eq!(grouped(number), shown);
        }
    }

    #[test]
    fn html_escapes_as_the_templates_do() {
        for text in [
            "",
            "plain text, no change",
            "<script>alert('x')</script>",
            "a=\"b\" & `c` > d",
            "é<ü>€&😀=",
            "&&&",
            "ends with <",
        ] {
            assert_eq!(escape(text), handlebars::html_escape(text), "{text:?}");
        }
    }
}
