//! A real SMTP server on loopback for end-to-end tests: it speaks enough of RFC 5321 for
//! lettre and records every message, or misbehaves on request; with a certificate it
//! offers STARTTLS or speaks TLS from the start (rustls).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How the server treats a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Accept,
    /// Answers `451` to `DATA`'s end (a temporary failure).
    TempFail,
    /// Answers `550` to `RCPT TO` (a permanent rejection).
    Reject,
    /// Accepts the connection and never says anything.
    Silent,
    /// Takes the message, then waits this long before saying so (as a relay that queued
    /// it while the client crashed would).
    AcceptAfter(Duration),
    /// Takes the message, then never answers `QUIT` (nor closes the connection).
    HangOnQuit,
    /// Takes one message per connection, then closes it (as a relay limiting messages
    /// per connection does).
    OnePerConnection,
    /// Greets with `220 ` and then sends bytes without a line end, up to 200 MiB or until
    /// the client closes the connection.
    EndlessLine,
    /// Offers `AUTH PLAIN LOGIN` and answers `AUTH PLAIN ...` with a `535` that repeats the
    /// command, credentials and all.
    EchoAuthPlain,
    /// Offers `AUTH PLAIN LOGIN` and accepts any credentials; otherwise as `Accept`.
    AcceptAuth,
    /// Offers only `AUTH LOGIN`, asks for the user name and the password, and answers with
    /// a `535` that repeats both as the client sent them (base64), without `AUTH LOGIN`.
    EchoAuthLogin,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
}

impl Received {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.data)
            .expect("a parsable message")
    }

    /// The decoded first text/plain body, with LF line ends.
    pub fn body(&self) -> String {
        self.parsed()
            .body_text(0)
            .expect("a text body")
            .replace("\r\n", "\n")
    }

    /// The raw value of header `name` (unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let text = self.text();
        let head = text
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .replace("\r\n ", " ")
            .replace("\r\n\t", " ");
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

pub struct SmtpServer {
    pub port: u16,
    log: Log,
    connections: Arc<AtomicUsize>,
}

impl SmtpServer {
    pub fn start(behaviour: Behaviour) -> SmtpServer {
        SmtpServer::start_with(behaviour, Tls::None)
    }

    /// A server that behaves as told and speaks TLS as `tls` says.
    pub fn start_with(behaviour: Behaviour, tls: Tls) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let log = Log {
            received: Arc::new(Mutex::new(Vec::new())),
            commands: Arc::new(Mutex::new(Vec::new())),
        };
        let connections = Arc::new(AtomicUsize::new(0));
        let shared = log.clone();
        let counter = Arc::clone(&connections);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let log = shared.clone();
                let tls = tls.clone();
                thread::spawn(move || {
                    let _ = session(stream, behaviour, &tls, &log);
                });
            }
        });
        SmtpServer {
            port,
            log,
            connections,
        }
    }

    /// Every command line clients have sent so far (not the message text), in order.
    pub fn commands(&self) -> Vec<Command> {
        self.log.commands.lock().unwrap().clone()
    }

    /// How many connections clients have opened so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The messages received so far. A message is recorded before the server answers its
    /// final dot, so once a client has exited every message it delivered is here: after a
    /// run has finished, nothing more is to be waited for.
    pub fn received(&self) -> Vec<Received> {
        self.log.received.lock().unwrap().clone()
    }

    /// The `X-Reporter-Job` of each message received so far, in order of arrival.
    pub fn jobs(&self) -> Vec<String> {
        self.received()
            .iter()
            .map(|m| {
                m.header("X-Reporter-Job")
                    .expect("an X-Reporter-Job header")
            })
            .collect()
    }

    /// Waits (up to a generous bound) for `count` messages, for senders still running.
    pub fn wait_for(&self, count: usize) -> Vec<Received> {
        super::wait_until(|| self.received().len() >= count);
        self.received()
    }
}

/// A loopback port nothing listens on (connections are refused).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().unwrap().port()
}

/// What the server says in TLS: nothing (plain text only), STARTTLS offered, or TLS from
/// the first byte (implicit TLS, as on port 465).
#[derive(Clone)]
pub enum Tls {
    None,
    Starttls(Arc<rustls::ServerConfig>),
    Implicit(Arc<rustls::ServerConfig>),
}

/// A command line the server received, and whether it came over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub tls: bool,
    pub line: String,
}

/// What a session shares with the server: what it received and every command line.
#[derive(Clone)]
struct Log {
    received: Arc<Mutex<Vec<Received>>>,
    commands: Arc<Mutex<Vec<Command>>>,
}

fn session(stream: TcpStream, mode: Behaviour, tls: &Tls, log: &Log) -> std::io::Result<()> {
    if mode == Behaviour::Silent {
        thread::sleep(Duration::from_secs(60));
        return Ok(());
    }
    if mode == Behaviour::EndlessLine {
        return endless_line(stream);
    }
    let config = match tls {
        Tls::Implicit(config) => {
            let connection = rustls::ServerConnection::new(Arc::clone(config)).map_err(other)?;
            let stream = rustls::StreamOwned::new(connection, stream);
            dialogue(BufReader::new(stream), mode, Secure::Yes, log)?;
            return Ok(());
        }
        Tls::Starttls(config) => Some(config),
        Tls::None => None,
    };
    let offer = if config.is_some() {
        Secure::Offered
    } else {
        Secure::No
    };
    if let Some(stream) = dialogue(BufReader::new(stream), mode, offer, log)? {
        let config = config.expect("STARTTLS only when offered");
        let connection = rustls::ServerConnection::new(Arc::clone(config)).map_err(other)?;
        let stream = rustls::StreamOwned::new(connection, stream);
        // After STARTTLS the client greets again (EHLO) without a new 220.
        dialogue_after_starttls(BufReader::new(stream), mode, log)?;
    }
    Ok(())
}

fn other(e: rustls::Error) -> std::io::Error {
    std::io::Error::other(e)
}

/// Whether the dialogue runs over TLS, or may be switched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secure {
    No,
    Offered,
    Yes,
}

fn dialogue<S: Read + Write>(
    reader: BufReader<S>,
    mode: Behaviour,
    secure: Secure,
    log: &Log,
) -> std::io::Result<Option<S>> {
    let mut reader = reader;
    reply(reader.get_mut(), "220 test.example ESMTP ready")?;
    commands(reader, mode, secure, log)
}

fn dialogue_after_starttls<S: Read + Write>(
    reader: BufReader<S>,
    mode: Behaviour,
    log: &Log,
) -> std::io::Result<()> {
    commands(reader, mode, Secure::Yes, log).map(drop)
}

fn reply<S: Write>(out: &mut S, text: &str) -> std::io::Result<()> {
    out.write_all(format!("{text}\r\n").as_bytes())?;
    out.flush()
}

/// The server's side of the commands; gives back the stream when the client asks for
/// STARTTLS (and it was offered), to go on over TLS.
fn commands<S: Read + Write>(
    mut reader: BufReader<S>,
    mode: Behaviour,
    secure: Secure,
    log: &Log,
) -> std::io::Result<Option<S>> {
    let mut current = Received {
        mail_from: String::new(),
        rcpt_to: Vec::new(),
        data: Vec::new(),
    };
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let command = line.trim_end().to_owned();
        log.commands.lock().unwrap().push(Command {
            tls: secure == Secure::Yes,
            line: command.clone(),
        });
        let upper = command.to_ascii_uppercase();
        let out = reader.get_mut();
        if upper.starts_with("EHLO") {
            let auth = match mode {
                Behaviour::EchoAuthPlain | Behaviour::AcceptAuth => "\r\n250-AUTH PLAIN LOGIN",
                Behaviour::EchoAuthLogin => "\r\n250-AUTH LOGIN",
                _ => "",
            };
            let starttls = if secure == Secure::Offered {
                "\r\n250-STARTTLS"
            } else {
                ""
            };
            reply(
                out,
                &format!("250-test.example{auth}{starttls}\r\n250-8BITMIME\r\n250 PIPELINING"),
            )?;
        } else if upper == "STARTTLS" && secure == Secure::Offered {
            reply(out, "220 2.0.0 ready to start TLS")?;
            return Ok(Some(reader.into_inner()));
        } else if upper.starts_with("AUTH PLAIN") && mode == Behaviour::AcceptAuth {
            reply(out, "235 2.7.0 authenticated")?;
        } else if upper.starts_with("AUTH PLAIN") {
            reply(out, &format!("535 5.7.8 {command} rejected"))?;
        } else if upper.starts_with("AUTH LOGIN") {
            let mut answers = Vec::new();
            for prompt in ["334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6"] {
                reply(reader.get_mut(), prompt)?;
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(None);
                }
                answers.push(line.trim_end().to_owned());
            }
            let verdict = if mode == Behaviour::AcceptAuth {
                "235 2.7.0 authenticated".to_owned()
            } else {
                format!("535 5.7.8 credentials {} rejected", answers.join(" "))
            };
            reply(reader.get_mut(), &verdict)?;
        } else if upper.starts_with("HELO") {
            reply(out, "250 test.example")?;
        } else if upper.starts_with("MAIL FROM:") {
            current = Received {
                mail_from: address(&command[10..]),
                rcpt_to: Vec::new(),
                data: Vec::new(),
            };
            reply(out, "250 ok")?;
        } else if upper.starts_with("RCPT TO:") {
            if mode == Behaviour::Reject {
                reply(out, "550 5.1.1 no such user")?;
            } else {
                current.rcpt_to.push(address(&command[8..]));
                reply(out, "250 ok")?;
            }
        } else if upper == "DATA" {
            reply(out, "354 go ahead")?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(None);
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                data.extend_from_slice(unstuffed.as_bytes());
            }
            let out = reader.get_mut();
            if mode == Behaviour::TempFail {
                reply(out, "451 4.3.0 try again later")?;
            } else {
                current.data = data;
                // Recorded before the reply: a client that saw its message accepted has
                // left it here (see `SmtpServer::received`).
                log.received.lock().unwrap().push(current.clone());
                if let Behaviour::AcceptAfter(delay) = mode {
                    thread::sleep(delay);
                }
                reply(out, "250 queued")?;
                if mode == Behaviour::OnePerConnection {
                    return Ok(None);
                }
            }
        } else if upper == "QUIT" {
            if mode == Behaviour::HangOnQuit {
                thread::sleep(Duration::from_secs(60));
                return Ok(None);
            }
            reply(out, "221 bye")?;
            return Ok(None);
        } else if upper == "RSET" || upper == "NOOP" {
            reply(out, "250 ok")?;
        } else {
            reply(out, "502 not implemented")?;
        }
    }
}

/// `220 ` and then a line that never ends, until the client gives up (or 200 MiB).
fn endless_line(mut stream: TcpStream) -> std::io::Result<()> {
    stream.write_all(b"220 ")?;
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..(200 * 1024 * 1024 / chunk.len()) {
        stream.write_all(&chunk)?;
    }
    Ok(())
}

fn address(argument: &str) -> String {
    let argument = argument.trim();
    let end = argument.find('>').map_or(argument.len(), |i| i + 1);
    argument[..end]
        .trim_matches(|c| c == '<' || c == '>')
        .to_owned()
}
