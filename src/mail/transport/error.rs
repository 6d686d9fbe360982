//! How handing a message to the relay can fail.

use std::path::PathBuf;

use crate::config::trust::TrustError;

/// Why a message was not delivered; `permanent` for a 5xx rejection.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub permanent: bool,
    pub message: String,
}

impl DeliveryError {
    pub fn transient(message: impl Into<String>) -> Self {
        DeliveryError {
            permanent: false,
            message: message.into(),
        }
    }
}

/// Why the transport could not be set up at all (every message then stays spooled).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("mail.smtp.password_file: {0}")]
    Password(#[from] TrustError),
    #[error("mail.smtp.password_file: cannot read `{}`: {source}", path.display())]
    PasswordRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("mail.smtp.tls: cannot set up TLS for `{host}`: {source}")]
    Tls {
        host: String,
        source: lettre::transport::smtp::Error,
    },
}
