//! How handing a message to the relay can fail.

use std::path::PathBuf;

use crate::config::trust::TrustError;

/// Why a message was not delivered.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub kind: Failure,
    pub message: String,
}

/// Whose fault a failed delivery was, which decides what becomes of the message and of
/// the messages after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The relay refused this message for now (a 4xx): it stays spooled, the next one
    /// is tried.
    Transient,
    /// The relay refused this message for good (a 5xx): it goes to the dead letters.
    Permanent,
    /// The relay could not be reached or talked to (refused, timeout, TLS, AUTH, a broken
    /// reply): every message would fail the same way, so a flush stops here.
    Connection,
}

impl DeliveryError {
    pub fn transient(message: impl Into<String>) -> Self {
        DeliveryError {
            kind: Failure::Transient,
            message: message.into(),
        }
    }

    pub fn connection(message: impl Into<String>) -> Self {
        DeliveryError {
            kind: Failure::Connection,
            message: message.into(),
        }
    }

    pub fn is_permanent(&self) -> bool {
        self.kind == Failure::Permanent
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
    #[error("mail.smtp.ca_file: {0}")]
    CaFile(#[from] crate::deliver::transport::tls::CaFileError),
    #[error("mail.smtp.tls: cannot set up TLS for `{host}`: {source}")]
    Tls {
        host: String,
        source: lettre::transport::smtp::Error,
    },
}
