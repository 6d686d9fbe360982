//! Deliveries cut short by SIGINT or SIGTERM: once a signal asks the process to stop, a
//! delivery (mail, webhook, ping) may go on until [`GRACE`] after the signal, and one begun
//! later for [`LATE_GRACE`] from its start; then it is dropped, its connection closed (a
//! sendmail's process group killed), and what it carried stays in the spool for the next
//! flush. A healthy relay takes a report in far less; a relay that never answers no longer
//! holds the process for its whole timeout (docs/failure-handling.md).

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// How long after the signal a delivery may go on.
pub const GRACE: Duration = Duration::from_millis(1500);
/// How long a delivery begun after that may take: the reports of commands that were slow
/// to die still get a try.
pub const LATE_GRACE: Duration = Duration::from_secs(1);

/// The side a delivery watches: when, if ever, a signal asked to stop.
#[derive(Clone, Debug)]
pub struct Stop(watch::Receiver<Option<Instant>>);

/// The side the signal handler holds.
#[derive(Debug)]
pub struct StopSender(watch::Sender<Option<Instant>>);

impl Stop {
    /// A pair: the handler's sender and the deliveries' receiver.
    pub fn channel() -> (StopSender, Stop) {
        let (sender, receiver) = watch::channel(None);
        (StopSender(sender), Stop(receiver))
    }

    /// A stop that never comes (previews, tests, a delivery nobody can interrupt).
    pub fn never() -> Stop {
        Stop::channel().1
    }

    /// Whether a signal has asked to stop.
    pub fn asked(&self) -> bool {
        self.0.borrow().is_some()
    }

    /// Runs `work` to its end, unless a stop is asked before: then `work` gets until
    /// [`GRACE`] after the signal, or [`LATE_GRACE`] after its own start if that is later,
    /// and is dropped there (`None`).
    pub async fn bound<F: Future>(&self, work: F) -> Option<F::Output> {
        let started = Instant::now();
        let mut asked = self.0.clone();
        tokio::pin!(work);
        let signalled = tokio::select! {
            biased;
            output = &mut work => return Some(output),
            Ok(at) = async { asked.wait_for(Option::is_some).await.map(|at| *at) } => at,
        };
        let signalled = signalled.unwrap_or(started);
        let deadline = (signalled + GRACE).max(started + LATE_GRACE);
        tokio::time::timeout_at(deadline, work).await.ok()
    }
}

impl StopSender {
    /// Asks every delivery watching to stop (the first call counts).
    pub fn ask(&self) {
        self.0.send_if_modified(|at| {
            if at.is_some() {
                return false;
            }
            *at = Some(Instant::now());
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(work: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(work)
    }

    const SHORT: Duration = Duration::from_millis(100);

    #[test]
    fn work_that_ends_is_not_cut() {
        block_on(async {
            let (_sender, stop) = Stop::channel();
            assert_eq!(stop.bound(async { 7 }).await, Some(7));
            let quick = tokio::time::sleep(SHORT);
            assert_eq!(stop.bound(quick).await, Some(()));
            assert_eq!(Stop::never().bound(async { 8 }).await, Some(8));
        });
    }

    #[test]
    fn work_under_way_gets_the_grace_after_the_signal() {
        block_on(async {
            let (sender, stop) = Stop::channel();
            let started = Instant::now();
            let work = stop.bound(std::future::pending::<()>());
            let signal = async {
                tokio::time::sleep(SHORT).await;
                sender.ask();
            };
            let (cut, ()) = tokio::join!(work, signal);
            assert_eq!(cut, None);
            let took = started.elapsed();
            assert!(
                took >= SHORT + GRACE && took < SHORT + GRACE * 3,
                "{took:?}"
            );
        });
    }

    #[test]
    fn work_begun_soon_after_the_signal_gets_until_the_grace_after_it() {
        block_on(async {
            let (sender, stop) = Stop::channel();
            let signalled = Instant::now();
            sender.ask();
            assert!(stop.asked());
            assert_eq!(stop.bound(std::future::pending::<()>()).await, None);
            let took = signalled.elapsed();
            assert!(took >= GRACE && took < GRACE * 3, "{took:?}");
        });
    }

    #[test]
    fn work_begun_late_after_the_signal_gets_the_late_grace() {
        block_on(async {
            let (sender, stop) = Stop::channel();
            sender.ask();
            tokio::time::sleep(GRACE).await;
            let quick = tokio::time::sleep(SHORT);
            assert_eq!(stop.bound(quick).await, Some(()));
            let started = Instant::now();
            assert_eq!(stop.bound(std::future::pending::<()>()).await, None);
            let took = started.elapsed();
            assert!(took >= LATE_GRACE && took < GRACE * 2, "{took:?}");
        });
    }

    #[test]
    fn a_stop_nobody_can_ask_is_never_asked() {
        assert!(!Stop::never().asked());
    }
}
