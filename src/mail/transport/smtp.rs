//! One SMTP delivery to the relay, on a connection reporter opens itself so that it can
//! set `TCP_NODELAY`: lettre writes a message and its final `.` in two writes, and with
//! Nagle's algorithm the second waits for the relay's delayed ACK (40 ms on Linux) on
//! every message.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;

use crate::config::{SmtpConfig, TlsMode};
use crate::mail::transport::error::{DeliveryError, TransportError};

/// The relay and how to talk to it.
pub struct Relay {
    host: String,
    port: u16,
    tls: TlsMode,
    tls_parameters: Option<TlsParameters>,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
}

impl Relay {
    pub fn new(
        config: &SmtpConfig,
        hello: &str,
        credentials: Option<Credentials>,
    ) -> Result<Relay, TransportError> {
        let tls_parameters = match config.tls {
            TlsMode::None => None,
            TlsMode::Starttls | TlsMode::Tls => {
                Some(TlsParameters::new(config.host.clone()).map_err(|source| {
                    TransportError::Tls {
                        host: config.host.clone(),
                        source,
                    }
                })?)
            }
        };
        Ok(Relay {
            host: config.host.clone(),
            port: config.port,
            tls: config.tls,
            tls_parameters,
            credentials,
            hello: ClientId::Domain(hello.to_owned()),
            timeout: config.timeout,
        })
    }

    fn name(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Delivers one message; the whole exchange is bounded by the configured timeout.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), DeliveryError> {
        match tokio::time::timeout(self.timeout, self.exchange(envelope, message)).await {
            Ok(result) => result,
            Err(_) => Err(DeliveryError {
                permanent: false,
                message: format!(
                    "relay {} did not finish within {}",
                    self.name(),
                    crate::config::units::HumanDuration(self.timeout)
                ),
            }),
        }
    }

    async fn exchange(&self, envelope: &Envelope, message: &[u8]) -> Result<(), DeliveryError> {
        let failed = |e: lettre::transport::smtp::Error| DeliveryError {
            permanent: e.is_permanent(),
            message: format!("relay {}: {e}", self.name()),
        };
        let mut connection = match (&self.tls, &self.tls_parameters) {
            // Implicit TLS: lettre's own connection (the handshake comes before the greeting).
            (TlsMode::Tls, Some(parameters)) => AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(self.timeout),
                &self.hello,
                Some(parameters.clone()),
                None,
            )
            .await
            .map_err(failed)?,
            _ => {
                let stream = TcpStream::connect((self.host.as_str(), self.port))
                    .await
                    .map_err(|e| DeliveryError {
                        permanent: false,
                        message: format!("relay {}: cannot connect: {e}", self.name()),
                    })?;
                // Best effort: without it delivery is only slower.
                let _ = stream.set_nodelay(true);
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                    .await
                    .map_err(failed)?
            }
        };
        if let (TlsMode::Starttls, Some(parameters)) = (&self.tls, &self.tls_parameters) {
            if !connection.can_starttls() {
                let _ = connection.quit().await;
                return Err(DeliveryError {
                    permanent: false,
                    message: format!(
                        "relay {} does not offer STARTTLS, which `tls: starttls` requires",
                        self.name()
                    ),
                });
            }
            connection
                .starttls(parameters.clone(), &self.hello)
                .await
                .map_err(failed)?;
        }
        if let Some(credentials) = &self.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(failed)?;
        }
        connection.send(envelope, message).await.map_err(failed)?;
        // The message is accepted; a failing QUIT changes nothing about that.
        let _ = connection.quit().await;
        Ok(())
    }
}
