//! A new run against the job's last recorded one: which results changed, and whether the
//! report is mailed under the job's send rule (docs/history.md).

use std::collections::HashMap;

use crate::config::SendRule;
use crate::history::record::{RecordedResult, RunRecord, RunStatus, Streak, output_fingerprint};
use crate::report::{Status, Summary, TaskResult};

/// Sets each result's `changed`: whether its status or output differs from the result of
/// `previous` run with the same command, host and target (a new command has changed);
/// and its `diff` when that result's recorded stdout differs. Without a previous run both
/// stay null.
pub fn mark_changes(results: &mut [TaskResult], previous: Option<&RunRecord>) {
    let Some(previous) = previous else {
        return;
    };
    let earlier: HashMap<(&str, Option<&str>, Option<&str>), &RecordedResult> = previous
        .results
        .iter()
        .map(|r| {
            let core = &r.core;
            (
                (
                    core.command.as_str(),
                    core.host.as_deref(),
                    core.target.as_deref(),
                ),
                r,
            )
        })
        .collect();
    for result in results {
        let core = &result.core;
        let key = (
            core.command.as_str(),
            core.host.as_deref(),
            core.target.as_deref(),
        );
        let before = earlier.get(&key);
        result.changed = Some(before.is_none_or(|before| {
            before.core.status != core.status || before.fingerprint != output_fingerprint(result)
        }));
        result.diff = before
            .and_then(|before| before.stdout.as_deref())
            .and_then(|before| unified_diff(before, &result.stdout));
    }
}

/// The most a result's `diff` holds; a longer one is cut at a line, with a note, so that a
/// rewritten output does not double the size of the report.
pub const MAX_DIFF: usize = 32 * 1024;

/// `before` against `now` as a unified diff (`--- previous`, `+++ now`, `@@` hunks with 3
/// lines of context, as `diff -u` writes it); `None` when they are equal.
pub fn unified_diff(before: &str, now: &str) -> Option<String> {
    if before == now {
        return None;
    }
    let diff = similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Myers)
        .timeout(std::time::Duration::from_secs(1))
        .diff_lines(before, now);
    let mut text = diff
        .unified_diff()
        .context_radius(3)
        .header("previous", "now")
        .to_string();
    if text.len() > MAX_DIFF {
        let cut = text[..MAX_DIFF].rfind('\n').map_or(0, |at| at + 1);
        let rest = text[cut..].lines().count();
        text.truncate(cut);
        text.push_str(&format!(
            "[... {rest} more lines of the diff left out ...]\n"
        ));
    }
    Some(text)
}

/// Whether anything differs from the previous run: a result changed, or one is gone.
pub fn anything_changed(results: &[TaskResult], previous: &RunRecord) -> bool {
    results.len() != previous.results.len() || results.iter().any(|r| r.changed != Some(false))
}

/// What to do with a finished run's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Mail it; `recovered`: it is the first all-ok run after a failing one.
    Send { recovered: bool },
    /// Do not mail it, for this reason (recorded in the history).
    Skip(String),
}

impl Decision {
    pub fn recovered(&self) -> bool {
        matches!(self, Decision::Send { recovered: true })
    }
}

/// How a job's report is sent: its send rule, and for `on-failure` the failing runs in a
/// row it takes (`failures_before_mail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendPolicy {
    pub rule: SendRule,
    pub failures_before_mail: u32,
}

/// Applies `policy` to a run with `summary` and `results` (their `changed` already set),
/// after `previous`, the job's last recorded run (`None` for its first), which ended the
/// failing `streak` of runs. Without a history to count in (`streak` is `None`), every
/// failing run is mailed: an alert is never held back on a count that cannot be made.
pub fn decide(
    policy: SendPolicy,
    summary: &Summary,
    results: &[TaskResult],
    previous: Option<&RunRecord>,
    streak: Option<Streak>,
) -> Decision {
    let previous_failed = previous.is_some_and(|p| p.status != RunStatus::Finished(Status::Ok));
    let (needed, streak) = match streak {
        Some(streak) => (policy.failures_before_mail.max(1), streak),
        None => (
            1,
            Streak {
                failing: u32::from(previous_failed),
                mailed: previous_failed,
                ..Streak::default()
            },
        ),
    };
    match policy.rule {
        SendRule::Always => Decision::Send {
            recovered: summary.all_ok && previous_failed,
        },
        SendRule::Never => Decision::Skip("send: never".to_owned()),
        SendRule::OnFailure if !summary.all_ok => {
            let in_a_row = streak.failing.saturating_add(1);
            if in_a_row >= needed {
                Decision::Send { recovered: false }
            } else {
                Decision::Skip(format!(
                    "send: on-failure, failing run {in_a_row} in a row of the {needed} \
                     before mail (failures_before_mail: {needed})"
                ))
            }
        }
        // The recovery mail follows only a failure that was mailed.
        SendRule::OnFailure if previous_failed && streak.mailed => {
            Decision::Send { recovered: true }
        }
        SendRule::OnFailure if previous_failed => Decision::Skip(format!(
            "send: on-failure, recovered after {} failing run{} that were not mailed \
             (failures_before_mail: {needed})",
            streak.failing,
            if streak.failing == 1 { "" } else { "s" }
        )),
        SendRule::OnFailure => {
            Decision::Skip("send: on-failure, and every result is ok".to_owned())
        }
        SendRule::OnChange => match previous {
            Some(previous) if !anything_changed(results, previous) => {
                Decision::Skip("send: on-change, and nothing changed since the last run".to_owned())
            }
            _ => Decision::Send { recovered: false },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Trigger;

    fn result(command: &str, status: Status, stdout: &str) -> TaskResult {
        TaskResult::fixture(command, status, stdout, "")
    }

    fn record(results: &[TaskResult]) -> RunRecord {
        let mut record = RunRecord::finished(
            "r",
            "j",
            Trigger::Manual,
            std::time::SystemTime::now(),
            &Summary::of(results, 1),
            results,
            false,
        );
        record.keep_outputs(results.to_vec());
        record
    }

    /// The decision for `now` after `before` (`None`: a first run), with `changed` marked;
    /// a failing `before` was mailed.
    fn after(rule: SendRule, before: Option<&[TaskResult]>, now: &[TaskResult]) -> Decision {
        let previous = before.map(record);
        let mut now = now.to_vec();
        mark_changes(&mut now, previous.as_ref());
        let failed = previous
            .as_ref()
            .is_some_and(|p| p.status != RunStatus::Finished(Status::Ok));
        let streak = Streak {
            failing: u32::from(failed),
            mailed: failed,
            ..Streak::default()
        };
        let policy = SendPolicy {
            rule,
            failures_before_mail: 1,
        };
        decide(
            policy,
            &Summary::of(&now, 1),
            &now,
            previous.as_ref(),
            Some(streak),
        )
    }

    #[test]
    fn on_failure_waits_for_the_nth_failure_and_recovers_only_what_it_mailed() {
        let ok = [result("df", Status::Ok, "a")];
        let failed = [result("df", Status::Failed, "a")];
        let previous = record(&failed);
        let policy = SendPolicy {
            rule: SendRule::OnFailure,
            failures_before_mail: 3,
        };
        let decide_after = |now: &[TaskResult], failing, mailed| {
            decide(
                policy,
                &Summary::of(now, 1),
                now,
                Some(&previous),
                Some(Streak {
                    failing,
                    mailed,
                    ..Streak::default()
                }),
            )
        };
        assert_eq!(
            decide_after(&failed, 1, false),
            Decision::Skip(
                "send: on-failure, failing run 2 in a row of the 3 before mail (failures_before_mail: 3)"
                    .into()
            )
        );
        assert_eq!(
            decide_after(&failed, 2, false),
            Decision::Send { recovered: false }
        );
        assert_eq!(
            decide_after(&failed, 5, true),
            Decision::Send { recovered: false }
        );
        assert_eq!(
            decide_after(&ok, 3, true),
            Decision::Send { recovered: true }
        );
        let without_history = decide(policy, &Summary::of(&failed, 1), &failed, None, None);
        assert_eq!(
            without_history,
            Decision::Send { recovered: false },
            "no count to wait for"
        );
        assert_eq!(
            decide_after(&ok, 2, false),
            Decision::Skip(
                "send: on-failure, recovered after 2 failing runs that were not mailed (failures_before_mail: 3)"
                    .into()
            )
        );
    }

    #[test]
    fn on_failure_mails_failures_and_one_recovery() {
        let ok = [result("df", Status::Ok, "a")];
        let failed = [result("df", Status::Failed, "a")];
        let send = Decision::Send { recovered: false };
        assert_eq!(after(SendRule::OnFailure, None, &failed), send);
        assert_eq!(after(SendRule::OnFailure, Some(&failed), &failed), send);
        assert_eq!(
            after(SendRule::OnFailure, Some(&failed), &ok),
            Decision::Send { recovered: true }
        );
        assert!(matches!(
            after(SendRule::OnFailure, Some(&ok), &ok),
            Decision::Skip(_)
        ));
        assert!(matches!(
            after(SendRule::OnFailure, None, &ok),
            Decision::Skip(_)
        ));
    }

    #[test]
    fn on_change_compares_status_and_output_by_command() {
        let a = [
            result("df", Status::Ok, "a"),
            result("uptime", Status::Ok, "u"),
        ];
        let send = Decision::Send { recovered: false };
        assert_eq!(after(SendRule::OnChange, None, &a), send, "first run");
        assert_eq!(
            after(SendRule::OnChange, Some(&a), &a),
            Decision::Skip("send: on-change, and nothing changed since the last run".into())
        );
        let output = [
            result("df", Status::Ok, "b"),
            result("uptime", Status::Ok, "u"),
        ];
        assert_eq!(after(SendRule::OnChange, Some(&a), &output), send);
        let status = [
            result("df", Status::Failed, "a"),
            result("uptime", Status::Ok, "u"),
        ];
        assert_eq!(after(SendRule::OnChange, Some(&a), &status), send);
        assert_eq!(
            after(SendRule::OnChange, Some(&a), &a[..1]),
            send,
            "one gone"
        );
        let reordered = [a[1].clone(), a[0].clone()];
        assert!(matches!(
            after(SendRule::OnChange, Some(&a), &reordered),
            Decision::Skip(_)
        ));
    }

    #[test]
    fn diffs_are_unified_with_three_lines_of_context() {
        let before = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let now = "a\nb\nc\nd\nE\nf\ng\nh\n";
        assert_eq!(
            unified_diff(before, now).unwrap(),
            "--- previous\n+++ now\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n"
        );
        assert_eq!(unified_diff(before, before), None);
        assert_eq!(
            unified_diff("a", "b").unwrap(),
            "--- previous\n+++ now\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n\\ No newline at end of file\n"
        );
        let long: String = (0..20_000).map(|i| format!("{i}\n")).collect();
        let cut = unified_diff("", &long).unwrap();
        assert!(cut.len() <= MAX_DIFF + 100, "{}", cut.len());
        assert!(
            cut.ends_with("more lines of the diff left out ...]\n"),
            "{cut}"
        );
    }

    #[test]
    fn diff_needs_the_previous_output() {
        let before = record(&[result("df", Status::Ok, "a\n")]);
        let mut now = vec![
            result("df", Status::Ok, "b\n"),
            result("new", Status::Ok, "x"),
        ];
        mark_changes(&mut now, Some(&before));
        assert_eq!(
            now[0].diff.as_deref(),
            Some("--- previous\n+++ now\n@@ -1 +1 @@\n-a\n+b\n")
        );
        assert_eq!(now[1].diff, None, "a new command has no previous output");
        let mut unchanged = vec![result("df", Status::Ok, "a\n")];
        mark_changes(&mut unchanged, Some(&before));
        assert_eq!(unchanged[0].diff, None);
        let mut old = before.clone();
        old.results[0].stdout = None;
        mark_changes(&mut now, Some(&old));
        assert_eq!(now[0].diff, None, "not recorded");
        assert_eq!(now[0].changed, Some(true));
    }

    #[test]
    fn changed_is_null_without_a_previous_run() {
        let mut now = vec![result("df", Status::Ok, "a")];
        mark_changes(&mut now, None);
        assert_eq!(now[0].changed, None);
        let before = record(&[result("other", Status::Ok, "a")]);
        mark_changes(&mut now, Some(&before));
        assert_eq!(now[0].changed, Some(true), "a new command has changed");
    }

    #[test]
    fn always_and_never() {
        let ok = [result("df", Status::Ok, "a")];
        let failed = [result("df", Status::Failed, "a")];
        assert_eq!(
            after(SendRule::Always, Some(&ok), &ok),
            Decision::Send { recovered: false }
        );
        assert!(after(SendRule::Always, Some(&failed), &ok).recovered());
        assert_eq!(
            after(SendRule::Never, Some(&ok), &failed),
            Decision::Skip("send: never".into())
        );
    }
}
