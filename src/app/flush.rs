//! `reporter flush`: the mail and webhooks waiting in the spool, retried now; the metrics
//! file and the status page are rewritten after.

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

use crate::deliver::Mailer;
use crate::exit;

use super::needs::Secured;

/// Exit 0 when the spool is empty afterwards, 75 when something still waits or went to
/// the dead letters; SIGINT or SIGTERM stop the flush at once (130/143), the messages not
/// yet sent staying in the spool.
pub fn flush((): (), setup: Secured) -> anyhow::Result<i32> {
    let config = &setup.config;
    let runtime = crate::exec::runtime().context("cannot start the runtime")?;
    runtime.block_on(async {
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot catch SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot catch SIGTERM")?;
        let mailer = Mailer::new(config);
        let (name, signal) = tokio::select! {
            report = async {
                let report = mailer.flush(mailer.spool().list()).await;
                mailer.close().await;
                report
            } => {
                crate::monitor::metrics::update(config);
                crate::monitor::status::page::update(config);
                tracing::info!(
                    "flush: {} sent, {} kept, {} moved to the dead letters",
                    report.sent,
                    report.kept,
                    report.buried
                );
                return Ok(if report.kept > 0 || report.buried > 0 {
                    exit::TEMPFAIL
                } else {
                    exit::OK
                });
            }
            _ = interrupt.recv() => ("interrupted", libc::SIGINT),
            _ = terminate.recv() => ("terminated", libc::SIGTERM),
        };
        // Dropping the flush drops its connection and its claim: a message in flight is
        // still in the spool.
        tracing::warn!("{name}: the flush stops; the messages stay in the spool");
        Ok(128 + signal)
    })
}
