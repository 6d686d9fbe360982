//! Handing messages to the relay: SMTP, a sendmail binary, or a folder of `.eml` files.

use std::io::Write;
use std::path::{Path, PathBuf};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSendmailTransport, AsyncTransport, Tokio1Executor};

use crate::config::TransportConfig;
use crate::smtp::Relay;

/// Why a message was not delivered; `permanent` for a 5xx rejection.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub permanent: bool,
    pub message: String,
}

impl DeliveryError {
    fn transient(message: impl Into<String>) -> Self {
        DeliveryError {
            permanent: false,
            message: message.into(),
        }
    }
}

pub enum Transport {
    Smtp(Relay),
    Sendmail(AsyncSendmailTransport<Tokio1Executor>),
    File(PathBuf),
}

impl Transport {
    /// Sets up the transport; `hello` is the name given in EHLO. Reads the SMTP password file.
    pub fn new(config: &TransportConfig, hello: &str) -> Result<Transport, String> {
        match config {
            TransportConfig::Smtp(smtp) => {
                let credentials = match (&smtp.username, &smtp.password_file) {
                    (Some(user), Some(file)) => {
                        Some(Credentials::new(user.clone(), read_password(file)?))
                    }
                    _ => None,
                };
                Relay::new(smtp, hello, credentials).map(Transport::Smtp)
            }
            TransportConfig::Sendmail { path } => Ok(Transport::Sendmail(
                AsyncSendmailTransport::new_with_command(path.as_os_str()),
            )),
            TransportConfig::File { dir } => Ok(Transport::File(dir.clone())),
        }
    }

    /// Delivers one message as it is; `name` names the `.eml` file of the file transport.
    pub async fn send(
        &self,
        envelope: &Envelope,
        message: &[u8],
        name: &str,
    ) -> Result<(), DeliveryError> {
        match self {
            Transport::Smtp(relay) => relay.send(envelope, message).await,
            Transport::Sendmail(sendmail) => sendmail
                .send_raw(envelope, message)
                .await
                .map_err(|e| DeliveryError::transient(format!("sendmail: {e}"))),
            Transport::File(dir) => {
                let path = dir.join(format!("{name}.eml"));
                write_atomic(&path, &[message]).map_err(|e| {
                    DeliveryError::transient(format!("cannot write `{}`: {e}", path.display()))
                })
            }
        }
    }
}

fn read_password(path: &Path) -> Result<String, String> {
    crate::security::check_password_file(path)
        .map_err(|e| format!("mail.smtp.password_file: {e}"))?;
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "mail.smtp.password_file: cannot read `{}`: {e}",
            path.display()
        )
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// Writes `bytes` to `path` so that a reader (or a crash) never sees a partial file:
/// a temporary file in the same folder, fsync, rename, fsync of the folder.
/// The parts are written one after the other (no need to join them in memory first).
pub fn write_atomic(path: &Path, parts: &[&[u8]]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("message");
    let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        for part in parts {
            file.write_all(part)?;
        }
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}
