//! Retries (docs/jobs.md): a command whose result is not ok runs again, up to `retries` times,
//! the first retry after `retry_delay` and each next one after twice the wait before. Every
//! attempt goes through [`command::run`] (its own process group, its tree tracked, its own
//! timeout); the caller holds its pool permit throughout, so retries never take more of the
//! pool than the command's own slot. An interrupted run retries nothing: neither after an
//! attempt the interruption killed, nor once the wait between attempts is cut short.

use std::time::Duration;

use tokio::sync::watch;

use crate::exec::command::{self, CommandSpec, Outcome};

/// How often and how far apart a command is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub retries: u32,
    pub delay: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first): `delay × 2^(retry-1)`.
    pub fn wait_before(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.delay.saturating_mul(factor)
    }
}

/// Runs `spec` until `is_ok` accepts its outcome, the retries are used up or `cancel`
/// turns true; returns the last attempt's outcome with `attempts` set. `before_retry` is
/// told of each retry (its number and the wait before it) as the wait begins.
pub async fn run(
    spec: &CommandSpec,
    policy: RetryPolicy,
    cancel: watch::Receiver<bool>,
    is_ok: impl Fn(&Outcome) -> bool,
    before_retry: impl Fn(u32, Duration),
) -> Outcome {
    let mut outcome = command::run(spec, cancel.clone()).await;
    let mut attempts = 1;
    while attempts <= policy.retries && !outcome.interrupted && !is_ok(&outcome) {
        let delay = policy.wait_before(attempts);
        before_retry(attempts, delay);
        if !wait(delay, cancel.clone()).await {
            break;
        }
        outcome = command::run(spec, cancel.clone()).await;
        attempts += 1;
    }
    outcome.attempts = attempts;
    outcome
}

/// Waits `delay`; false when the run was interrupted first (or already is).
async fn wait(delay: Duration, mut cancel: watch::Receiver<bool>) -> bool {
    if *cancel.borrow() {
        return false;
    }
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => return true,
            changed = cancel.changed() => match changed {
                Ok(()) if *cancel.borrow() => return false,
                Ok(()) => {}
                // Nobody can interrupt any more: just wait.
                Err(_) => {
                    (&mut sleep).await;
                    return true;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Exit;

    fn sh(script: &str) -> CommandSpec {
        CommandSpec {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            path: "/usr/bin:/bin".into(),
            env: Vec::new(),
            cwd: "/".into(),
            timeout: Duration::from_secs(10),
            max_output: 1 << 16,
            shared_output: false,
            user: None,
            ssh: false,
        }
    }

    fn succeeded(outcome: &Outcome) -> bool {
        outcome.exit == Exit::Code(0) && !outcome.timed_out
    }

    #[test]
    fn waits_double() {
        let policy = RetryPolicy {
            retries: 3,
            delay: Duration::from_secs(30),
        };
        let waits: Vec<u64> = (1..=4).map(|r| policy.wait_before(r).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240]);
        assert!(
            policy.wait_before(100) >= policy.wait_before(20),
            "saturates, never wraps"
        );
    }

    #[test]
    fn retries_until_ok_then_stops() {
        let runtime = crate::exec::runtime().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        // Fails twice, then succeeds: the count file holds how often it ran.
        let script = format!("echo x >> {0}; [ $(wc -l < {0}) -ge 3 ]", count.display());
        let (_keep, cancel) = watch::channel(false);
        let policy = RetryPolicy {
            retries: 5,
            delay: Duration::from_millis(10),
        };
        let retried = std::sync::Mutex::new(Vec::new());
        let outcome = runtime.block_on(run(&sh(&script), policy, cancel, succeeded, |n, wait| {
            retried.lock().unwrap().push((n, wait.as_millis()))
        }));
        assert_eq!(*retried.lock().unwrap(), [(1, 10), (2, 20)]);
        assert_eq!((outcome.exit, outcome.attempts), (Exit::Code(0), 3));
        assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 3);
    }

    #[test]
    fn an_interruption_during_the_wait_ends_the_retries() {
        let runtime = crate::exec::runtime().unwrap();
        let (sender, cancel) = watch::channel(false);
        let policy = RetryPolicy {
            retries: 3,
            delay: Duration::from_secs(600),
        };
        let failing = sh("exit 1");
        let outcome = runtime.block_on(async {
            let attempt = run(&failing, policy, cancel, succeeded, |_, _| {});
            let interrupt = async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let _ = sender.send(true);
                std::future::pending::<()>().await;
            };
            tokio::select! {
                outcome = attempt => outcome,
                () = interrupt => unreachable!(),
            }
        });
        assert_eq!((outcome.exit, outcome.attempts), (Exit::Code(1), 1));
    }
}
