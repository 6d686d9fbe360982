//! `reporter flush`: the mail waiting in the spool, retried now.

use anyhow::Context;

use crate::config::Config;
use crate::exit;
use crate::mail::Mailer;

/// Exit 0 when the spool is empty afterwards, 75 when something still waits or went to
/// the dead letters.
pub fn flush(config: &Config) -> anyhow::Result<i32> {
    let runtime = crate::exec::runtime().context("cannot start the runtime")?;
    let mailer = Mailer::new(config);
    let report = runtime.block_on(mailer.flush(mailer.spool().list()));
    tracing::info!(
        "flush: {} sent, {} kept, {} moved to the dead letters",
        report.sent,
        report.kept,
        report.buried
    );
    Ok(if report.kept > 0 || report.buried > 0 {
        exit::TEMPFAIL
    } else {
        exit::OK
    })
}
