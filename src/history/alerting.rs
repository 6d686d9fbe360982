//! What happens to a report beyond its send rule (docs/silences.md): a silence or a
//! maintenance window holds it back; the first run after one, a reminder of a failure that
//! lasts, and a failure that reaches an `escalate:` step send it; escalation adds
//! recipients.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::SendRule;
use crate::config::address::AddressSpec;
use crate::config::escalation::{After, Escalation};
use crate::history::compare::Decision;
use crate::history::record::{RunRecord, Streak};

/// What a job says about failures that last.
#[derive(Debug, Clone, Copy)]
pub struct Loudness<'a> {
    pub rule: SendRule,
    pub remind_every: Option<Duration>,
    pub escalate: &'a [Escalation],
}

/// Where a run stands: the job's last run and the failing streak it ended (`None` without
/// a history), when this run started, and the silence it is in.
#[derive(Debug, Clone, Copy)]
pub struct Standing<'a> {
    pub all_ok: bool,
    pub previous: Option<&'a RunRecord>,
    pub streak: Option<Streak>,
    pub started: DateTime<Utc>,
    /// `ID: reason` or `maintenance: NAME`.
    pub silenced: Option<&'a str>,
}

/// What the report's message says beyond the job's own settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notice {
    /// How long the failure has lasted, when the message is a reminder of it (the subject
    /// then ends `(failing for 3 days)`).
    pub failing_for: Option<Duration>,
    /// Recipients added by the `escalate:` steps the failure has reached.
    pub also_to: Vec<AddressSpec>,
}

impl Notice {
    /// ` (failing for 3 days)`, or nothing.
    pub fn subject_suffix(&self) -> String {
        self.failing_for
            .map(|d| format!(" (failing for {})", lasting(d)))
            .unwrap_or_default()
    }
}

/// `decision`, what the send rule said of the run, as `loudness` and `standing` change it.
pub fn adjust(
    decision: Decision,
    loudness: Loudness<'_>,
    standing: Standing<'_>,
) -> (Decision, Notice) {
    if let Some(silence) = standing.silenced {
        return (
            Decision::Skip(format!("silenced ({silence})")),
            Notice::default(),
        );
    }
    if loudness.rule == SendRule::Never || standing.all_ok {
        return (decision, Notice::default());
    }
    let failure = Failure::of(standing);
    let reached: Vec<&Escalation> = loudness
        .escalate
        .iter()
        .filter(|step| failure.reached(step.after))
        .collect();
    let mut also_to: Vec<AddressSpec> = Vec::new();
    for address in reached.iter().flat_map(|step| &step.to) {
        if !also_to.contains(address) {
            also_to.push(address.clone());
        }
    }
    let after_silence = standing.previous.is_some_and(|p| p.silenced.is_some());
    let newly_escalated = reached
        .iter()
        .any(|step| !failure.reached_before(step.after));
    let reminder = failure.continues
        && loudness
            .remind_every
            .is_some_and(|every| failure.unmailed_for >= every);
    let lasting = failure.continues.then_some(failure.lasted);
    let notice = |failing_for| Notice {
        failing_for,
        also_to: also_to.clone(),
    };
    match decision {
        Decision::Skip(_) if after_silence => (Decision::Send { recovered: false }, notice(None)),
        Decision::Skip(_) if newly_escalated || reminder => {
            (Decision::Send { recovered: false }, notice(lasting))
        }
        decision @ Decision::Send { .. } if newly_escalated => (decision, notice(lasting)),
        decision => (decision, notice(None)),
    }
}

/// A failing run within its streak.
struct Failure {
    /// Which failing run in a row this is.
    in_a_row: u32,
    /// It follows failing runs (so it is a failure that lasts).
    continues: bool,
    /// Since the first failing run started.
    lasted: Duration,
    /// The same, at the previous run.
    lasted_before: Duration,
    /// Since the last mail about the failure (or its start, when none went out).
    unmailed_for: Duration,
}

impl Failure {
    fn of(standing: Standing<'_>) -> Failure {
        let streak = standing.streak.unwrap_or_default();
        let since = |time: Option<DateTime<Utc>>| {
            time.map_or(Duration::ZERO, |t| {
                (standing.started - t).to_std().unwrap_or_default()
            })
        };
        let continues = streak.failing > 0;
        let first = streak.since.filter(|_| continues);
        let previous = standing
            .previous
            .map(|p| p.started_at)
            .filter(|_| continues);
        Failure {
            in_a_row: streak.failing.saturating_add(1),
            continues,
            lasted: since(first),
            lasted_before: match (first, previous) {
                (Some(first), Some(previous)) => (previous - first).to_std().unwrap_or_default(),
                _ => Duration::ZERO,
            },
            unmailed_for: since(streak.last_mailed.or(first)),
        }
    }

    fn reached(&self, after: After) -> bool {
        match after {
            After::Runs(n) => self.in_a_row >= n,
            After::Lasting(d) => self.lasted >= d,
        }
    }

    /// Whether the previous run had reached `after` already (so it is not news now).
    fn reached_before(&self, after: After) -> bool {
        if !self.continues {
            return false;
        }
        match after {
            After::Runs(n) => self.in_a_row > n,
            After::Lasting(d) => self.lasted_before >= d,
        }
    }
}

/// `3 days`, `1 hour`, `45 minutes`, `20 seconds`: the largest whole unit.
pub fn lasting(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs == 0 {
        return "less than a second".to_owned();
    }
    let (n, unit) = [(86_400, "day"), (3600, "hour"), (60, "minute")]
        .into_iter()
        .find(|(size, _)| secs >= *size)
        .map_or((secs, "second"), |(size, unit)| (secs / size, unit));
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Summary, Trigger};

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + minutes * 60, 0).unwrap()
    }

    fn previous(silenced: Option<&str>, minutes: i64) -> RunRecord {
        let mut run = RunRecord::finished(
            "r",
            "j",
            Trigger::Cron,
            at(minutes).into(),
            &Summary::of(&[], 0),
            &[],
            false,
        );
        run.silenced = silenced.map(str::to_owned);
        run
    }

    fn streak(failing: u32, since: i64, last_mailed: Option<i64>) -> Option<Streak> {
        Some(Streak {
            failing,
            mailed: last_mailed.is_some(),
            since: Some(at(since)),
            last_mailed: last_mailed.map(at),
        })
    }

    fn skip() -> Decision {
        Decision::Skip("send: on-change, and nothing changed since the last run".into())
    }

    fn loud(escalate: &[Escalation]) -> Loudness<'_> {
        Loudness {
            rule: SendRule::OnChange,
            remind_every: Some(Duration::from_secs(3600)),
            escalate,
        }
    }

    #[test]
    fn a_silence_holds_back_and_the_next_run_after_it_mails() {
        let standing = Standing {
            all_ok: false,
            previous: None,
            streak: None,
            started: at(0),
            silenced: Some("3: patching"),
        };
        let (decision, _) = adjust(Decision::Send { recovered: false }, loud(&[]), standing);
        assert_eq!(decision, Decision::Skip("silenced (3: patching)".into()));
        let before = previous(Some("3: patching"), -5);
        let after = Standing {
            silenced: None,
            previous: Some(&before),
            ..standing
        };
        let (decision, notice) = adjust(skip(), loud(&[]), after);
        assert_eq!(decision, Decision::Send { recovered: false });
        assert_eq!(notice, Notice::default());
        let never = Loudness {
            rule: SendRule::Never,
            ..loud(&[])
        };
        assert_eq!(
            adjust(skip(), never, after).0,
            skip(),
            "but not under never"
        );
        let ok = Standing {
            all_ok: true,
            ..after
        };
        assert_eq!(adjust(skip(), loud(&[]), ok).0, skip(), "nor when it is ok");
    }

    #[test]
    fn reminders_come_once_the_last_mail_is_older_than_remind_every() {
        let before = previous(None, 50);
        let standing = |now: i64, last_mailed: i64| Standing {
            all_ok: false,
            previous: Some(&before),
            streak: streak(3, 0, Some(last_mailed)),
            started: at(now),
            silenced: None,
        };
        assert_eq!(adjust(skip(), loud(&[]), standing(59, 0)).0, skip());
        let (decision, notice) = adjust(skip(), loud(&[]), standing(60, 0));
        assert_eq!(decision, Decision::Send { recovered: false });
        assert_eq!(notice.subject_suffix(), " (failing for 1 hour)");
        assert_eq!(adjust(skip(), loud(&[]), standing(100, 60)).0, skip());
    }

    #[test]
    fn escalation_adds_recipients_from_its_step_on_and_mails_when_it_is_reached() {
        let oncall: AddressSpec = "oncall@example.com".parse().unwrap();
        let boss: AddressSpec = "boss@example.com".parse().unwrap();
        let steps = [
            Escalation {
                after: After::Runs(3),
                to: vec![oncall.clone()],
            },
            Escalation {
                after: After::Lasting(Duration::from_secs(86_400)),
                to: vec![boss.clone(), oncall.clone()],
            },
        ];
        let before = previous(None, 10);
        let standing = |failing: u32, now: i64| Standing {
            all_ok: false,
            previous: Some(&before),
            streak: streak(failing, 0, Some(0)),
            started: at(now),
            silenced: None,
        };
        let quiet = Loudness {
            remind_every: None,
            ..loud(&steps)
        };
        assert_eq!(
            adjust(skip(), quiet, standing(1, 20)),
            (skip(), Notice::default())
        );
        let (decision, notice) = adjust(skip(), quiet, standing(2, 20));
        assert_eq!(decision, Decision::Send { recovered: false }, "the third");
        assert_eq!(notice.also_to, std::slice::from_ref(&oncall));
        assert_eq!(notice.subject_suffix(), " (failing for 20 minutes)");
        let (decision, notice) = adjust(skip(), quiet, standing(3, 30));
        assert_eq!(decision, skip(), "the fourth is no news");
        assert_eq!(notice.also_to, std::slice::from_ref(&oncall));
        let (decision, notice) = adjust(skip(), quiet, standing(9, 24 * 60));
        assert_eq!(decision, Decision::Send { recovered: false }, "a day");
        assert_eq!(notice.also_to, [oncall, boss]);
    }

    #[test]
    fn durations_read_in_their_largest_unit() {
        assert_eq!(lasting(Duration::from_secs(3 * 86_400 + 5)), "3 days");
        assert_eq!(lasting(Duration::from_secs(3600)), "1 hour");
        assert_eq!(lasting(Duration::from_secs(119)), "1 minute");
        assert_eq!(lasting(Duration::from_secs(2)), "2 seconds");
        assert_eq!(lasting(Duration::from_millis(400)), "less than a second");
    }
}
