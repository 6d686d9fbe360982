//! One SMTP delivery to the relay, on a connection reporter opens itself: so that it can
//! set `TCP_NODELAY` (lettre writes a message and its final `.` in two writes, and with
//! Nagle's algorithm the second waits for the relay's delayed ACK, 40 ms on Linux, on
//! every message), and so that the relay's replies are [`Bounded`]. What the relay says
//! is reported without the AUTH data it may echo.

use std::sync::atomic::Ordering;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
#[allow(deprecated)]
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;

use crate::config::{SmtpConfig, TlsMode};
use crate::mail::transport::bounded::{Bounded, Compat};
use crate::mail::transport::error::{DeliveryError, Failure, TransportError};
use crate::mail::transport::redact::Secrets;

/// How long QUIT may take once the relay has the message.
const QUIT_WAIT: Duration = Duration::from_secs(1);

/// The SMTP user and password, read from `password_file`.
pub struct Login {
    pub username: String,
    pub password: String,
}

/// The relay and how to talk to it.
pub struct Relay {
    host: String,
    port: u16,
    tls: TlsMode,
    tls_parameters: Option<TlsParameters>,
    credentials: Option<Credentials>,
    /// What of the credentials a relay's reply must not show.
    secrets: Secrets,
    hello: ClientId,
    timeout: Duration,
}

impl Relay {
    pub fn new(
        config: &SmtpConfig,
        hello: &str,
        login: Option<Login>,
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
            secrets: login
                .as_ref()
                .map(|l| Secrets::of(&l.username, &l.password))
                .unwrap_or_default(),
            credentials: login.map(|l| Credentials::new(l.username, l.password)),
            hello: ClientId::Domain(hello.to_owned()),
            timeout: config.timeout,
        })
    }

    fn name(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Delivers one message; the exchange up to the relay's answer to the final dot is
    /// bounded by the configured timeout. A 2xx to the dot is delivery, whatever QUIT and
    /// the connection do afterwards: QUIT only gets a moment.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), DeliveryError> {
        let mut connection =
            match tokio::time::timeout(self.timeout, self.exchange(envelope, message)).await {
                Ok(result) => result?,
                Err(_) => {
                    return Err(DeliveryError::connection(format!(
                        "relay {} did not finish within {}",
                        self.name(),
                        crate::config::units::HumanDuration(self.timeout)
                    )));
                }
            };
        let _ = tokio::time::timeout(QUIT_WAIT.min(self.timeout), connection.quit()).await;
        Ok(())
    }

    /// What the relay said, for the log, the spool and mail: without AUTH data.
    fn failure(&self, kind: Failure, e: &lettre::transport::smtp::Error) -> DeliveryError {
        DeliveryError {
            kind,
            message: format!(
                "relay {}: {}",
                self.name(),
                self.secrets.redact(&e.to_string())
            ),
        }
    }

    /// Connects, greets, starts TLS, authenticates and sends; gives back the connection
    /// once the relay has accepted the message.
    async fn exchange(
        &self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<AsyncSmtpConnection, DeliveryError> {
        // Until the message is handed over, whatever fails fails for every message alike.
        let setup = |e: lettre::transport::smtp::Error| self.failure(Failure::Connection, &e);
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| {
                DeliveryError::connection(format!("relay {}: cannot connect: {e}", self.name()))
            })?;
        // Best effort: without it delivery is only slower.
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr().ok();
        let mut connection = match (&self.tls, &self.tls_parameters) {
            // Implicit TLS: the handshake comes before the greeting, and the replies are
            // measured above it.
            (TlsMode::Tls, Some(parameters)) => {
                #[allow(deprecated)]
                let mut tls = AsyncNetworkStream::use_existing_tokio1(Box::new(stream));
                tls.upgrade_tls(parameters.clone()).await.map_err(setup)?;
                let bounded = Bounded::new(Compat(tls), peer);
                AsyncSmtpConnection::connect_with_transport(Box::new(bounded), &self.hello)
                    .await
                    .map_err(setup)?
            }
            _ => {
                let bounded = Bounded::new(stream, peer);
                let plain = bounded.plain_switch();
                let mut connection =
                    AsyncSmtpConnection::connect_with_transport(Box::new(bounded), &self.hello)
                        .await
                        .map_err(setup)?;
                if let (TlsMode::Starttls, Some(parameters)) = (&self.tls, &self.tls_parameters) {
                    if !connection.can_starttls() {
                        let _ = tokio::time::timeout(QUIT_WAIT, connection.quit()).await;
                        return Err(DeliveryError::connection(format!(
                            "relay {} does not offer STARTTLS, which `tls: starttls` requires",
                            self.name()
                        )));
                    }
                    plain.store(false, Ordering::Relaxed);
                    connection
                        .starttls(parameters.clone(), &self.hello)
                        .await
                        .map_err(setup)?;
                }
                connection
            }
        };
        if let Some(credentials) = &self.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(setup)?;
        }
        match connection.send(envelope, message).await {
            Ok(_) => Ok(connection),
            Err(e) if e.is_permanent() => Err(self.failure(Failure::Permanent, &e)),
            Err(e) if e.is_transient() => Err(self.failure(Failure::Transient, &e)),
            Err(e) => Err(setup(e)),
        }
    }
}
