//! A job whose commands are done becomes its report: the results in definition order,
//! compared with the job's last run, summarised and put into the template context; the
//! send rule decides whether it is mailed; and its history record is prepared.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::SystemTime;

use tokio::sync::watch;

use crate::config::Job;
use crate::exec::Outcome;
use crate::history::alerting::{self, Loudness, Notice, Standing};
use crate::history::compare::{SendPolicy, decide, mark_changes};
use crate::history::record::DiskUsage;
use crate::history::silenced::Silenced;
use crate::history::{Decision, Recent, RunRecord};
use crate::render::Reads;
use crate::report::expect::ValueHistory;
use crate::report::forecast::{self, Earlier};
use crate::report::format::millis;
use crate::report::{
    Context, DiskSample, Facts, HostReport, JobInfo, PreviousResult, ResultCore, RunInfo, Scope,
    Status, Summary, TaskResult, Trigger,
};
use crate::run::plan::{Done, Slot};
use crate::schedule::Zone;

/// What every job of a run finishes with.
pub struct RunMeta<'a> {
    pub run_id: &'a str,
    pub trigger: Trigger,
    pub zone: Zone,
    /// Turns true when the run is interrupted.
    pub cancel: &'a watch::Receiver<bool>,
    /// Whether the run is recorded in the history (not for a preview, nor with it off).
    pub recording: bool,
    /// The silences and maintenance windows in force.
    pub silenced: &'a Silenced,
}

impl RunMeta<'_> {
    /// `run` of a report that started at `started_at`, covering the window from `since`,
    /// and is finished now.
    pub fn info(&self, started_at: SystemTime, since: String, recovered: bool) -> RunInfo {
        RunInfo {
            id: self.run_id.to_owned(),
            started_at: self.zone.rfc3339(started_at),
            finished_at: self.zone.rfc3339(SystemTime::now()),
            since,
            trigger: self.trigger,
            interrupted: *self.cancel.borrow(),
            recovered,
        }
    }
}

/// A finished job: its report, what its send rule decided, and its history record.
pub struct Finished<'a> {
    pub context: Context<'a>,
    pub decision: Decision,
    /// What each of the job's `webhooks:` send rules decided, in their order.
    pub webhooks: Vec<Decision>,
    /// `None` when the run is not recorded; `sent` and `reason` are settled by the outbox.
    pub record: Option<RunRecord>,
    /// The silence (`ID: reason`) or maintenance window (`maintenance: NAME`) it is in.
    pub silenced: Option<String>,
    /// What its message says beyond the job's settings: a reminder, escalation.
    pub notice: Notice,
}

/// Turns `done`, the outcomes of `job`'s tasks, into its report. `recent` is what the
/// history holds of the job; `reads` says whether its templates read the system facts
/// (its disks' usage is then recorded) and `previous` (its outputs are dropped otherwise).
pub fn finish_job<'a>(
    job: &Job,
    done: Done,
    facts: &'a Facts,
    recent: Recent,
    reads: Reads,
    meta: &RunMeta<'_>,
) -> Finished<'a> {
    let mut results = task_results(job, done.outcomes, meta.zone, &recent.values);
    let host = with_forecast(facts, &recent);
    results.extend(disk_full_within(job, &host, meta.zone));
    let previous = recent.last.as_ref();
    mark_changes(&mut results, previous);
    let summary = Summary::of(&results, millis(done.started.elapsed()));
    let policy = SendPolicy {
        rule: job.send,
        failures_before_mail: job.failures_before_mail,
    };
    let decision = decide(policy, &summary, &results, previous, recent.streak);
    let silenced = meta.silenced.of_job(&job.name).map(|q| q.label.clone());
    let (decision, notice) = alerting::adjust(
        decision,
        Loudness {
            rule: job.send,
            remind_every: job.remind_every,
            escalate: &job.escalate,
        },
        Standing {
            all_ok: summary.all_ok,
            previous,
            streak: recent.streak,
            started: done.started_at.into(),
            silenced: silenced.as_deref(),
        },
    );
    let webhooks = match &silenced {
        Some(_) => vec![decision.clone(); job.webhooks.len()],
        None => webhook_decisions(job, &summary, &results, previous),
    };
    let disk_history = disk_history(facts, &recent, meta.zone);
    let context = Context {
        job: JobInfo::of(job),
        host,
        hosts: HostReport::group(&results, summary.duration_ms),
        summary,
        run: meta.info(done.started_at, done.since.rfc3339(), decision.recovered()),
        results,
        // Moved, not copied: the last run's outputs may be as long as `max_output`. Their
        // diffs are made; a report that does not show them goes without.
        previous: recent.last.filter(|_| reads.previous).map(|run| {
            run.results
                .into_iter()
                .map(|r| PreviousResult::of(&r.core, r.stdout, r.stderr, &r.values))
                .collect()
        }),
        disk_history,
        node: None,
        section: false,
    };
    let record = meta.recording.then(|| {
        let disks = recorded_disks(facts, reads);
        let mut record = record(job, meta, done.started_at, &context, disks);
        record.silenced.clone_from(&silenced);
        record
    });
    Finished {
        context,
        decision,
        webhooks,
        record,
        silenced,
        notice,
    }
}

/// Each task's outcome as a result of `job`, in definition order, its values judged after
/// the same command's earlier ones.
fn task_results(
    job: &Job,
    outcomes: Vec<(Slot, Outcome)>,
    zone: Zone,
    earlier: &ValueHistory,
) -> Vec<TaskResult> {
    outcomes
        .into_iter()
        .map(|(slot, outcome)| {
            let def = &job.commands[slot.command];
            let mut result = TaskResult::new(def, slot.text, slot.placement, outcome, zone);
            let core = &result.core;
            let key = (core.name.clone(), core.host.clone(), core.target.clone());
            result.judge(def, earlier.of(&key));
            result
        })
        .collect()
}

/// What each of the job's webhooks' own send rules decides, without the mail's failure count.
fn webhook_decisions(
    job: &Job,
    summary: &Summary,
    results: &[TaskResult],
    previous: Option<&RunRecord>,
) -> Vec<Decision> {
    job.webhooks
        .iter()
        .map(|hook| {
            let policy = SendPolicy {
                rule: hook.send,
                failures_before_mail: 1,
            };
            decide(policy, summary, results, previous, None)
        })
        .collect()
}

/// The history record of the job's report in `context`, with `disks`' usage.
fn record(
    job: &Job,
    meta: &RunMeta<'_>,
    started_at: SystemTime,
    context: &Context<'_>,
    disks: Vec<DiskUsage>,
) -> RunRecord {
    let mut record = RunRecord::finished(
        meta.run_id,
        &job.name,
        meta.trigger,
        started_at,
        &context.summary,
        &context.results,
        context.run.interrupted,
    );
    record.disks = disks;
    record
}

/// The usage of each of the system's disks, as the history records it: only for a job
/// whose templates read the system facts.
fn recorded_disks(facts: &Facts, reads: Reads) -> Vec<DiskUsage> {
    let Some(system) = facts.system.as_ref().filter(|_| reads.facts == Scope::Full) else {
        return Vec::new();
    };
    system
        .disks
        .iter()
        .map(|d| DiskUsage {
            mount: d.mount.clone(),
            percent: d.percent,
            used: Some(d.used),
            total: Some(d.total),
        })
        .collect()
}

/// The facts with each disk's `trend` and `days_to_full` from the job's earlier runs (the
/// run's own facts when there are no disks).
fn with_forecast<'a>(facts: &'a Facts, recent: &Recent) -> Cow<'a, Facts> {
    if facts.system.as_ref().is_none_or(|s| s.disks.is_empty()) {
        return Cow::Borrowed(facts);
    }
    let mut facts = facts.clone();
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    for disk in facts.system.iter_mut().flat_map(|s| s.disks.iter_mut()) {
        let earlier: Vec<Earlier> = recent
            .disks
            .iter()
            .filter_map(|run| {
                let usage = run.disks.iter().find(|u| u.mount == disk.mount)?;
                Some(Earlier {
                    at: run.started_at.timestamp_millis() as f64 / 1000.0,
                    percent: usage.percent,
                    used: usage.used,
                })
            })
            .collect();
        forecast::apply(disk, &earlier, now);
    }
    Cow::Owned(facts)
}

/// With `disk_full_within`, a failed result named `disk forecast` listing the disks
/// forecast to be full within it, the soonest first (`/data 91% used, full in ~3 days`):
/// the report is then failed, its text says why, and `worst results` names the disk.
fn disk_full_within(job: &Job, host: &Facts, zone: Zone) -> Option<TaskResult> {
    let limit = job.disk_full_within?;
    let disks = &host.system.as_ref()?.disks;
    let full = forecast::full_within(disks, limit.0);
    if full.is_empty() {
        return None;
    }
    let stdout: String = full
        .iter()
        .map(|d| {
            let days = d.days_to_full.unwrap_or_default();
            format!(
                "{} {}% used, {}\n",
                d.mount,
                d.percent,
                forecast::describe(days)
            )
        })
        .collect();
    let core = ResultCore {
        name: "disk forecast".to_owned(),
        command: format!("disk_full_within: {limit}"),
        host: None,
        target: None,
        status: Status::Failed,
        exit_code: None,
        signal: None,
        duration_ms: 0,
        truncated: false,
        started_at: zone.rfc3339(SystemTime::now()),
    };
    Some(TaskResult::of_core(core, stdout, String::new()))
}

/// Each current disk's used percentage in the job's earlier runs, by mount.
fn disk_history(facts: &Facts, recent: &Recent, zone: Zone) -> BTreeMap<String, Vec<DiskSample>> {
    let Some(system) = &facts.system else {
        return BTreeMap::new();
    };
    system
        .disks
        .iter()
        .map(|disk| {
            let samples = recent
                .disks
                .iter()
                .filter_map(|run| {
                    let usage = run.disks.iter().find(|u| u.mount == disk.mount)?;
                    Some(DiskSample {
                        percent: usage.percent,
                        at: zone.rfc3339(run.started_at),
                    })
                })
                .collect();
            (disk.mount.clone(), samples)
        })
        .collect()
}
