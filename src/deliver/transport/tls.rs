//! TLS to the relay: the certificates of `mail.smtp.ca_file` trusted besides the system's,
//! and why a handshake failed, in words (`certificate not trusted`, `certificate expired`,
//! `name mismatch`) rather than as the debug text of the TLS library's error types.

use std::error::Error;
use std::path::{Path, PathBuf};

use lettre::transport::smtp::client::{Certificate, TlsParameters};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, RootCertStore};

use crate::config::limits::MAX_FILE_SIZE;
use crate::config::trust::{self, TrustError};

/// Why `mail.smtp.ca_file` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    #[error(transparent)]
    Unreadable(#[from] TrustError),
    #[error("`{}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)", path.display())]
    Empty { path: PathBuf },
    #[error("`{}` is not valid PEM: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("`{}`: certificate {number} cannot be parsed: {reason}", path.display())]
    BadCertificate {
        path: PathBuf,
        number: usize,
        reason: String,
    },
}

/// Reads `ca_file` as root reads any file that steers it (root's, written by root alone)
/// and checks that it holds at least one certificate and only ones that parse; gives back
/// its text for [`parameters`].
pub fn read_ca_file(path: &Path) -> Result<String, CaFileError> {
    let text = trust::read_trusted(path, Some(MAX_FILE_SIZE))?;
    let certificates = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CaFileError::Malformed {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(CaFileError::Empty {
            path: path.to_owned(),
        });
    }
    let mut store = RootCertStore::empty();
    for (index, certificate) in certificates.into_iter().enumerate() {
        store
            .add(certificate)
            .map_err(|e| CaFileError::BadCertificate {
                path: path.to_owned(),
                number: index + 1,
                reason: describe(&e),
            })?;
    }
    Ok(text)
}

/// The TLS parameters for `host`: the system's trust store, plus the certificates of
/// `ca_pem` (the text of `ca_file`, checked by [`read_ca_file`]).
pub fn parameters(
    host: &str,
    ca_pem: Option<&str>,
) -> Result<TlsParameters, lettre::transport::smtp::Error> {
    let mut builder = TlsParameters::builder(host.to_owned());
    if let Some(pem) = ca_pem {
        builder = builder.add_root_certificate(Certificate::from_pem(pem.as_bytes())?);
    }
    builder.build()
}

/// Why a TLS handshake failed, in words, when a TLS error is somewhere in `error`'s chain
/// of sources (lettre's error, then the I/O error that carries the TLS library's).
pub fn failure_reason(error: &(dyn Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(describe(tls));
        }
        // An I/O error's `source` skips the error it wraps: look at that one too.
        if let Some(tls) = current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(describe(tls));
        }
        next = current.source();
    }
    None
}

/// A TLS error in words.
fn describe(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate expired".to_owned()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate not valid yet".to_owned()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "name mismatch".to_owned()
            }
            CertificateError::Revoked => "certificate revoked".to_owned(),
            CertificateError::BadEncoding => "certificate malformed".to_owned(),
            // Unknown issuer, bad signature, a CA certificate used as the server's, ...
            _ => "certificate not trusted".to_owned(),
        },
        rustls::Error::AlertReceived(_) => "TLS handshake refused by the relay".to_owned(),
        rustls::Error::NoCertificatesPresented => "the relay presented no certificate".to_owned(),
        rustls::Error::PeerIncompatible(_)
        | rustls::Error::InappropriateHandshakeMessage { .. } => {
            "TLS handshake failed: the relay's TLS is incompatible".to_owned()
        }
        _ => "TLS handshake failed".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_read_as_words() {
        let cases = [
            (CertificateError::Expired, "certificate expired"),
            (CertificateError::NotValidForName, "name mismatch"),
            (CertificateError::UnknownIssuer, "certificate not trusted"),
            (CertificateError::BadSignature, "certificate not trusted"),
        ];
        for (error, words) in cases {
            let wrapped = std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(error),
            );
            assert_eq!(failure_reason(&wrapped).as_deref(), Some(words));
        }
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(failure_reason(&plain), None);
    }
}
