//! Handing messages to the relay: SMTP, a sendmail binary, or a folder of `.eml` files.

pub mod bounded;
pub mod error;
pub mod file;
pub mod redact;
pub mod sendmail;
pub mod smtp;
pub mod tls;

use std::path::{Path, PathBuf};

use lettre::address::Envelope;

use crate::config::TransportConfig;
use crate::config::trust;
use crate::deliver::transport::error::{DeliveryError, TransportError};
use crate::deliver::transport::sendmail::Sendmail;
use crate::deliver::transport::smtp::{Login, Relay};

pub enum Transport {
    Smtp(Relay),
    Sendmail(Sendmail),
    File(PathBuf),
}

impl Transport {
    /// Sets up the transport; `hello` is the name given in EHLO. Reads the SMTP password file.
    pub fn new(config: &TransportConfig, hello: &str) -> Result<Transport, TransportError> {
        match config {
            TransportConfig::Smtp(smtp) => {
                let login = match (&smtp.username, &smtp.password_file) {
                    (Some(user), Some(file)) => Some(Login {
                        username: user.clone(),
                        password: read_password(file)?,
                    }),
                    _ => None,
                };
                let ca = smtp.ca_file.as_deref().map(tls::read_ca_file).transpose()?;
                Relay::new(smtp, hello, login, ca.as_deref()).map(Transport::Smtp)
            }
            TransportConfig::Sendmail { path, timeout } => {
                Ok(Transport::Sendmail(Sendmail::new(path, *timeout)))
            }
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
            Transport::Sendmail(sendmail) => sendmail.send(envelope, message).await,
            Transport::File(dir) => file::write(dir, name, message),
        }
    }
}

impl Transport {
    /// Ends what a transport keeps open between messages (the relay's connection).
    pub async fn close(&self) {
        if let Transport::Smtp(relay) = self {
            relay.close().await;
        }
    }
}

/// The password, read from the same descriptor whose owner and mode were checked.
fn read_password(path: &Path) -> Result<String, TransportError> {
    let text = trust::read_password(path)?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}
