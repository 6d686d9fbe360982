//! Handing messages to the relay: SMTP, a sendmail binary, or a folder of `.eml` files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSendmailTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{TlsMode, TransportConfig};

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
    Smtp {
        client: AsyncSmtpTransport<Tokio1Executor>,
        timeout: Duration,
        relay: String,
    },
    Sendmail(AsyncSendmailTransport<Tokio1Executor>),
    File(PathBuf),
}

impl Transport {
    /// Sets up the transport; `hello` is the name given in EHLO. Reads the SMTP password file.
    pub fn new(config: &TransportConfig, hello: &str) -> Result<Transport, String> {
        match config {
            TransportConfig::Smtp(smtp) => {
                let tls = || {
                    TlsParameters::new(smtp.host.clone()).map_err(|e| {
                        format!("mail.smtp.tls: cannot set up TLS for `{}`: {e}", smtp.host)
                    })
                };
                let mut builder =
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
                        .port(smtp.port)
                        .timeout(Some(smtp.timeout))
                        .hello_name(ClientId::Domain(hello.to_owned()));
                builder = match smtp.tls {
                    TlsMode::None => builder.tls(Tls::None),
                    TlsMode::Starttls => builder.tls(Tls::Required(tls()?)),
                    TlsMode::Tls => builder.tls(Tls::Wrapper(tls()?)),
                };
                if let (Some(user), Some(file)) = (&smtp.username, &smtp.password_file) {
                    builder =
                        builder.credentials(Credentials::new(user.clone(), read_password(file)?));
                }
                Ok(Transport::Smtp {
                    client: builder.build(),
                    timeout: smtp.timeout,
                    relay: format!("{}:{}", smtp.host, smtp.port),
                })
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
            Transport::Smtp {
                client,
                timeout,
                relay,
            } => match tokio::time::timeout(*timeout, client.send_raw(envelope, message)).await {
                Err(_) => Err(DeliveryError::transient(format!(
                    "relay {relay} did not finish within {}",
                    crate::units::HumanDuration(*timeout)
                ))),
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(DeliveryError {
                    permanent: e.is_permanent(),
                    message: format!("relay {relay}: {e}"),
                }),
            },
            Transport::Sendmail(sendmail) => sendmail
                .send_raw(envelope, message)
                .await
                .map_err(|e| DeliveryError::transient(format!("sendmail: {e}"))),
            Transport::File(dir) => {
                let path = dir.join(format!("{name}.eml"));
                write_atomic(&path, message).map_err(|e| {
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
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
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
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}
