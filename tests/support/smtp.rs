//! A real SMTP server on loopback for end-to-end tests: it speaks enough of RFC 5321 for
//! lettre and records every message, or misbehaves on request.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
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
    received: Arc<Mutex<Vec<Received>>>,
    connections: Arc<AtomicUsize>,
}

impl SmtpServer {
    pub fn start(behaviour: Behaviour) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let store = Arc::clone(&received);
        let counter = Arc::clone(&connections);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let store = Arc::clone(&store);
                thread::spawn(move || {
                    let _ = session(stream, behaviour, &store);
                });
            }
        });
        SmtpServer {
            port,
            received,
            connections,
        }
    }

    /// How many connections clients have opened so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The messages received so far. A message is recorded before the server answers its
    /// final dot, so once a client has exited every message it delivered is here: after a
    /// run has finished, nothing more is to be waited for.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
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

fn session(
    stream: TcpStream,
    mode: Behaviour,
    store: &Mutex<Vec<Received>>,
) -> std::io::Result<()> {
    if mode == Behaviour::Silent {
        thread::sleep(Duration::from_secs(60));
        return Ok(());
    }
    if mode == Behaviour::EndlessLine {
        return endless_line(stream);
    }
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    let reply = |out: &mut TcpStream, text: &str| out.write_all(format!("{text}\r\n").as_bytes());
    reply(&mut out, "220 test.example ESMTP ready")?;
    let mut current = Received {
        mail_from: String::new(),
        rcpt_to: Vec::new(),
        data: Vec::new(),
    };
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            let auth = match mode {
                Behaviour::EchoAuthPlain => "\r\n250-AUTH PLAIN LOGIN",
                Behaviour::EchoAuthLogin => "\r\n250-AUTH LOGIN",
                _ => "",
            };
            reply(
                &mut out,
                &format!("250-test.example{auth}\r\n250-8BITMIME\r\n250 PIPELINING"),
            )?;
        } else if upper.starts_with("AUTH PLAIN") {
            reply(&mut out, &format!("535 5.7.8 {command} rejected"))?;
        } else if upper.starts_with("AUTH LOGIN") {
            let mut answers = Vec::new();
            for prompt in ["334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6"] {
                reply(&mut out, prompt)?;
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                answers.push(line.trim_end().to_owned());
            }
            reply(
                &mut out,
                &format!("535 5.7.8 credentials {} rejected", answers.join(" ")),
            )?;
        } else if upper.starts_with("HELO") {
            reply(&mut out, "250 test.example")?;
        } else if upper.starts_with("MAIL FROM:") {
            current = Received {
                mail_from: address(&command[10..]),
                rcpt_to: Vec::new(),
                data: Vec::new(),
            };
            reply(&mut out, "250 ok")?;
        } else if upper.starts_with("RCPT TO:") {
            if mode == Behaviour::Reject {
                reply(&mut out, "550 5.1.1 no such user")?;
            } else {
                current.rcpt_to.push(address(&command[8..]));
                reply(&mut out, "250 ok")?;
            }
        } else if upper == "DATA" {
            reply(&mut out, "354 go ahead")?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                data.extend_from_slice(unstuffed.as_bytes());
            }
            if mode == Behaviour::TempFail {
                reply(&mut out, "451 4.3.0 try again later")?;
            } else {
                current.data = data;
                // Recorded before the reply: a client that saw its message accepted has
                // left it here (see `SmtpServer::received`).
                store.lock().unwrap().push(current.clone());
                if let Behaviour::AcceptAfter(delay) = mode {
                    thread::sleep(delay);
                }
                reply(&mut out, "250 queued")?;
                if mode == Behaviour::OnePerConnection {
                    return out.shutdown(Shutdown::Both);
                }
            }
        } else if upper == "QUIT" {
            if mode == Behaviour::HangOnQuit {
                thread::sleep(Duration::from_secs(60));
                return Ok(());
            }
            reply(&mut out, "221 bye")?;
            return out.shutdown(Shutdown::Both);
        } else if upper == "RSET" || upper == "NOOP" {
            reply(&mut out, "250 ok")?;
        } else {
            reply(&mut out, "502 not implemented")?;
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
