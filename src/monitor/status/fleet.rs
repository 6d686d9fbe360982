//! A fleet's status (docs/status.md): every host's answer to `reporter status --json`, shown
//! as one host × job matrix (hosts as rows, jobs as columns, each cell a status and its
//! streak) followed by each host's own status; a host that could not be asked is a row
//! that says why. As a table, as JSON (with the matrix laid out for templates) or as a page.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use crate::log;

use super::page::{self, escape};
use super::{HostStatus, table};

/// Every host asked, in the order given.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub generated_at: String,
    pub hosts: Vec<FleetHost>,
}

/// One host of a fleet, by the name it was asked by, and what it answered.
#[derive(Debug, Clone)]
pub struct FleetHost {
    pub name: String,
    pub answer: Answer,
}

/// What a host answered.
#[derive(Debug, Clone)]
pub enum Answer {
    Status(HostStatus),
    /// ssh could not reach it, or it did not answer in time: why.
    Unreachable(String),
    /// It was reached, but gave no status (its reporter is too old, missing or broken): why.
    NoStatus(String),
}

/// A host's row of the matrix, as `status --hosts --json` prints it.
#[derive(Serialize)]
struct HostRow<'a> {
    host: &'a str,
    /// `ok`, `not ok` (a job is not ok), `unreachable` or `no status`.
    state: &'static str,
    error: Option<&'a str>,
    /// Its jobs not ok.
    not_ok: usize,
    /// One per job of the fleet (`jobs`), in that order: null where the host has no such job.
    cells: Vec<Option<Cell<'a>>>,
    /// Its whole status, as `status --json` printed it there.
    status: Option<&'a HostStatus>,
}

#[derive(Serialize)]
struct Cell<'a> {
    job: &'a str,
    status: Option<&'a str>,
    streak: u64,
    /// As the table shows it: `failed×3`, `ok×12`, `never`.
    text: String,
}

/// How many hosts are in each state.
#[derive(Serialize, Default)]
struct Counts {
    hosts: usize,
    ok: usize,
    not_ok: usize,
    unreachable: usize,
}

#[derive(Serialize)]
struct FleetJson<'a> {
    generated_at: &'a str,
    counts: Counts,
    /// Every job name any host has, sorted: the matrix's columns.
    jobs: Vec<&'a str>,
    hosts: Vec<HostRow<'a>>,
}

impl Fleet {
    /// Every job name any host answered with, sorted.
    fn jobs(&self) -> Vec<&str> {
        let names: BTreeSet<&str> = self
            .hosts
            .iter()
            .filter_map(|host| match &host.answer {
                Answer::Status(status) => Some(status),
                _ => None,
            })
            .flat_map(|status| status.jobs.iter().map(|job| job.job.as_str()))
            .collect();
        names.into_iter().collect()
    }

    fn rows<'a>(&'a self, jobs: &[&'a str]) -> Vec<HostRow<'a>> {
        self.hosts
            .iter()
            .map(|host| {
                let (state, error, status) = match &host.answer {
                    Answer::Status(status) => (
                        if not_ok(status) > 0 { "not ok" } else { "ok" },
                        None,
                        Some(status),
                    ),
                    Answer::Unreachable(why) => ("unreachable", Some(why.as_str()), None),
                    Answer::NoStatus(why) => ("no status", Some(why.as_str()), None),
                };
                let cells = jobs
                    .iter()
                    .map(|&name| {
                        let job = status?.jobs.iter().find(|job| job.job == name)?;
                        Some(Cell {
                            job: name,
                            status: job.status.as_deref(),
                            streak: job.streak,
                            text: cell_word(job.status.as_deref(), job.streak),
                        })
                    })
                    .collect();
                HostRow {
                    host: &host.name,
                    state,
                    error,
                    not_ok: status.map_or(0, not_ok),
                    cells,
                    status,
                }
            })
            .collect()
    }

    /// `status --hosts --json`: the matrix, then each host's status.
    pub fn json(&self) -> String {
        let jobs = self.jobs();
        let hosts = self.rows(&jobs);
        let mut counts = Counts {
            hosts: hosts.len(),
            ..Counts::default()
        };
        for row in &hosts {
            match row.state {
                "ok" => counts.ok += 1,
                "not ok" => counts.not_ok += 1,
                _ => counts.unreachable += 1,
            }
        }
        let fleet = FleetJson {
            generated_at: &self.generated_at,
            counts,
            jobs,
            hosts,
        };
        let mut text = serde_json::to_string_pretty(&fleet).expect("a fleet serializes");
        text.push('\n');
        text
    }

    /// The matrix as a table (statuses coloured with `color`), then each host's table.
    pub fn table(&self, color: bool) -> String {
        let jobs = self.jobs();
        let rows = self.rows(&jobs);
        let host_width = rows.iter().map(|r| r.host.len()).max().unwrap_or(0).max(4);
        let widths: Vec<usize> = jobs.iter().map(|job| job.chars().count().max(9)).collect();
        let mut text = format!("{:host_width$}", "HOST");
        for (job, width) in jobs.iter().zip(&widths) {
            let _ = write!(text, "  {job:width$}");
        }
        text.truncate(text.trim_end().len());
        text.push('\n');
        for row in &rows {
            let _ = write!(text, "{:host_width$}", row.host);
            if let Some(error) = row.error {
                let _ = writeln!(text, "  {}: {error}", row.state);
                continue;
            }
            for (cell, width) in row.cells.iter().zip(&widths) {
                let word = cell.as_ref().map_or("-", |cell| cell.text.as_str());
                let status = cell.as_ref().and_then(|c| c.status).unwrap_or("");
                text.push_str("  ");
                text.push_str(&paint(word, status, *width, color));
            }
            text.truncate(text.trim_end().len());
            text.push('\n');
        }
        for host in &self.hosts {
            if let Answer::Status(status) = &host.answer {
                let _ = write!(
                    text,
                    "\n{}:\n{}",
                    host.name,
                    table::render(&status.jobs, color)
                );
            }
        }
        text
    }

    /// The page: the matrix, then each host's jobs, failing first.
    pub fn page(&self) -> String {
        let jobs = self.jobs();
        let rows = self.rows(&jobs);
        let unhappy = rows.iter().filter(|r| r.state != "ok").count();
        let mut body = format!(
            "<header><h1>Fleet status</h1>\n<p class=\"counts\" data-hosts=\"{}\" data-unhappy=\"{unhappy}\">{} hosts: <b class=\"{}\">{unhappy} not ok or not reached</b> · generated {}</p></header>\n",
            rows.len(),
            rows.len(),
            if unhappy > 0 { "bad" } else { "good" },
            escape(&table::short_time(&self.generated_at)),
        );
        matrix(&mut body, &jobs, &rows);
        for (host, row) in self.hosts.iter().zip(&rows) {
            let _ = writeln!(
                body,
                "<div class=\"host\" id=\"host-{}\">",
                escape(&host.name)
            );
            match &host.answer {
                Answer::Status(status) => page::host_section(&mut body, status, 2),
                _ => {
                    let _ = writeln!(
                        body,
                        "<header><h2>{}</h2><p class=\"bad\">{}: {}</p></header>",
                        escape(&host.name),
                        row.state,
                        escape(row.error.unwrap_or_default())
                    );
                }
            }
            body.push_str("</div>\n");
        }
        page::document("Fleet status", &body)
    }
}

/// The jobs of `status` that are not ok.
fn not_ok(status: &HostStatus) -> usize {
    status
        .jobs
        .iter()
        .filter(|job| job.status.as_deref().is_some_and(|s| s != "ok"))
        .count()
}

/// `failed×3`, `ok×12`, `never`.
fn cell_word(status: Option<&str>, streak: u64) -> String {
    match status {
        Some(status) => format!("{status}×{streak}"),
        None => "never".to_owned(),
    }
}

/// `word` padded to `width`, coloured as `status` when `color` is on.
fn paint(word: &str, status: &str, width: usize, color: bool) -> String {
    let painted = log::status(status, 0, color);
    let plain = format!("{word:width$}");
    if painted == status {
        plain
    } else {
        plain.replacen(status, &painted, 1)
    }
}

/// The host × job matrix as an HTML table, each host's name linking to its detail.
fn matrix(out: &mut String, jobs: &[&str], rows: &[HostRow]) {
    out.push_str("<div class=\"matrix-box\"><table class=\"matrix\">\n<tr><th>host</th>");
    for job in jobs {
        let _ = write!(out, "<th>{}</th>", escape(job));
    }
    out.push_str("</tr>\n");
    for row in rows {
        let _ = write!(
            out,
            "<tr data-host=\"{}\" data-state=\"{}\"><th><a href=\"#host-{}\">{}</a></th>",
            escape(row.host),
            row.state,
            escape(row.host),
            escape(row.host)
        );
        if let Some(error) = row.error {
            let _ = writeln!(
                out,
                "<td class=\"down\" colspan=\"{}\">{}: {}</td></tr>",
                jobs.len().max(1),
                row.state,
                escape(error)
            );
            continue;
        }
        for (cell, job) in row.cells.iter().zip(jobs) {
            match cell {
                Some(cell) => {
                    let status = cell.status.unwrap_or("never");
                    let _ = write!(
                        out,
                        "<td class=\"s-{}\" data-job=\"{}\" title=\"{} on {}\">{}</td>",
                        page::class(status),
                        escape(job),
                        escape(job),
                        escape(row.host),
                        escape(&cell.text)
                    );
                }
                None => out.push_str("<td></td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
}
