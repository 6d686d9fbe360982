//! `transport: sendmail`: the message piped to a sendmail-compatible binary.

use std::path::Path;

use lettre::address::Envelope;
use lettre::{AsyncSendmailTransport, AsyncTransport, Tokio1Executor};

use crate::mail::transport::error::DeliveryError;

pub struct Sendmail(AsyncSendmailTransport<Tokio1Executor>);

impl Sendmail {
    pub fn new(path: &Path) -> Sendmail {
        Sendmail(AsyncSendmailTransport::new_with_command(path.as_os_str()))
    }

    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), DeliveryError> {
        self.0
            .send_raw(envelope, message)
            .await
            .map_err(|e| DeliveryError::transient(format!("sendmail: {e}")))
    }
}
