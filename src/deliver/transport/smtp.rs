//! SMTP deliveries to the relay, on connections reporter opens itself: so that it can set
//! `TCP_NODELAY` (lettre writes a message and its final `.` in two writes, and with
//! Nagle's algorithm the second waits for the relay's delayed ACK, 40 ms on Linux, on
//! every message), and so that the relay's replies are [`Bounded`]. A connection carries
//! the next message too (a run's reports, a flush); one that fails is opened again once.
//! What the relay says is reported without the AUTH data it may echo.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
#[allow(deprecated)]
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;

use crate::config::{SmtpConfig, TlsMode};
use crate::deliver::transport::bounded::{Bounded, Compat};
use crate::deliver::transport::error::{DeliveryError, Failure, TransportError};
use crate::deliver::transport::redact::Secrets;
use crate::deliver::transport::tls;

/// How long QUIT may take once the relay has the message.
const QUIT_WAIT: Duration = Duration::from_secs(1);

/// How long an idle connection is kept for the next message: well within the minutes
/// relays wait for a client (Postfix: 300 s), and short enough that a daemon between fire
/// times holds none.
const IDLE_LIMIT: Duration = Duration::from_secs(15);

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
    /// The connection the last message went over, and since when it has been idle.
    idle: Mutex<Option<(Box<AsyncSmtpConnection>, Instant)>>,
}

impl Relay {
    pub fn new(
        config: &SmtpConfig,
        hello: &str,
        login: Option<Login>,
        ca_pem: Option<&str>,
    ) -> Result<Relay, TransportError> {
        let tls_parameters = match config.tls {
            TlsMode::None => None,
            TlsMode::Starttls | TlsMode::Tls => {
                Some(tls::parameters(&config.host, ca_pem).map_err(|source| {
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
            idle: Mutex::new(None),
        })
    }

    fn name(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Delivers one message; the exchange up to the relay's answer to the final dot is
    /// bounded by the configured timeout. A 2xx to the dot is delivery, whatever the
    /// connection does afterwards. The connection the previous message went over carries
    /// this one; if that fails short of a permanent rejection, a new connection is opened
    /// once. No RSET comes first: a connection is only kept once the relay accepted its
    /// message, which ends the transaction (RFC 5321, 4.1.1.4), so a new MAIL may follow
    /// at once, and a relay that closed it in the meantime fails that MAIL instead, before
    /// anything of the message is sent.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), DeliveryError> {
        if let Some(connection) = self.take_idle() {
            match self
                .bounded(self.hand_over(connection, envelope, message))
                .await
            {
                Ok(connection) => return self.keep(connection).await,
                Err(e) if e.kind == Failure::Permanent => return Err(e),
                // The relay may have closed it, or limits messages per connection.
                Err(_) => {}
            }
        }
        let connection = self.bounded(self.exchange(envelope, message)).await?;
        self.keep(connection).await
    }

    /// Says goodbye on the idle connection, if there is one (at the end of a run or a
    /// flush); a relay that does not answer QUIT only gets a moment.
    pub async fn close(&self) {
        if let Some(mut connection) = self.take_idle() {
            let _ = tokio::time::timeout(QUIT_WAIT.min(self.timeout), connection.quit()).await;
        }
    }

    /// `exchange` within the configured timeout.
    async fn bounded(
        &self,
        exchange: impl Future<Output = Result<AsyncSmtpConnection, DeliveryError>>,
    ) -> Result<AsyncSmtpConnection, DeliveryError> {
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(DeliveryError::connection(format!(
                "relay {} did not finish within {}",
                self.name(),
                crate::config::units::HumanDuration(self.timeout)
            ))),
        }
    }

    fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).take();
        idle.filter(|(_, since)| since.elapsed() < IDLE_LIMIT)
            .map(|(connection, _)| *connection)
    }

    /// Keeps `connection` for the next message; one is enough (messages sent at once each
    /// have their own, and the extra ones say goodbye).
    async fn keep(&self, connection: AsyncSmtpConnection) -> Result<(), DeliveryError> {
        let extra = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            match idle.as_ref() {
                Some(_) => Some(connection),
                None => {
                    *idle = Some((Box::new(connection), Instant::now()));
                    None
                }
            }
        };
        if let Some(mut extra) = extra {
            let _ = tokio::time::timeout(QUIT_WAIT.min(self.timeout), extra.quit()).await;
        }
        Ok(())
    }

    /// What the relay said, for the log, the spool and mail: without AUTH data; a failed
    /// TLS handshake in words.
    fn failure(&self, kind: Failure, e: &lettre::transport::smtp::Error) -> DeliveryError {
        let what = tls::failure_reason(e).unwrap_or_else(|| self.secrets.redact(&e.to_string()));
        DeliveryError {
            kind,
            message: format!("relay {}: {what}", self.name()),
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
        self.refuse_password_in_clear(peer)?;
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
                            "relay {}: STARTTLS not offered (`tls: starttls` requires it)",
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
        self.hand_over(connection, envelope, message).await
    }

    /// With `tls: none`, the password only goes to a relay on this machine: elsewhere it
    /// would cross the network in clear (`check` warns of it; this is the delivery's
    /// refusal, before anything is said to the relay).
    fn refuse_password_in_clear(&self, peer: Option<SocketAddr>) -> Result<(), DeliveryError> {
        if self.credentials.is_none() || self.tls != TlsMode::None || on_this_machine(peer) {
            return Ok(());
        }
        Err(DeliveryError::connection(format!(
            "relay {}: not sending the password in clear to a relay that is not on this machine (`tls: none`); use `tls: starttls` or `tls: tls`",
            self.name()
        )))
    }

    /// MAIL, RCPT and DATA on an open connection; gives it back once the relay has
    /// accepted the message.
    async fn hand_over(
        &self,
        mut connection: AsyncSmtpConnection,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<AsyncSmtpConnection, DeliveryError> {
        match connection.send(envelope, message).await {
            Ok(_) => Ok(connection),
            Err(e) if e.is_permanent() => Err(self.failure(Failure::Permanent, &e)),
            Err(e) if e.is_transient() => Err(self.failure(Failure::Transient, &e)),
            Err(e) => Err(self.failure(Failure::Connection, &e)),
        }
    }
}

/// Whether the relay's address is loopback (127.0.0.0/8, ::1).
fn on_this_machine(peer: Option<SocketAddr>) -> bool {
    peer.is_some_and(|p| p.ip().to_canonical().is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_relays_are_on_this_machine() {
        for address in [
            "127.0.0.1:25",
            "127.3.2.1:25",
            "[::1]:25",
            "[::ffff:127.0.0.1]:25",
        ] {
            assert!(on_this_machine(address.parse().ok()), "{address}");
        }
        for address in ["192.0.2.1:25", "[2001:db8::1]:25", "[::ffff:192.0.2.1]:25"] {
            assert!(!on_this_machine(address.parse().ok()), "{address}");
        }
        assert!(!on_this_machine(None));
    }
}
