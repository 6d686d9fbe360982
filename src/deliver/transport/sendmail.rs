//! `transport: sendmail`: the message piped to a sendmail-compatible binary, which gets
//! `mail.sendmail.timeout` to take it; one that takes longer is killed with its whole
//! process group, and the message stays in the spool.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use lettre::address::Envelope;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::config::units::HumanDuration;
use crate::deliver::transport::error::DeliveryError;

/// How much of sendmail's stderr goes into the error.
const STDERR_KEPT: usize = 4 * 1024;
/// How long sendmail's stderr may stay open after it exited (a background child of it may
/// hold it).
const STDERR_WAIT: Duration = Duration::from_secs(1);

pub struct Sendmail {
    path: PathBuf,
    timeout: Duration,
}

impl Sendmail {
    pub fn new(path: &Path, timeout: Duration) -> Sendmail {
        Sendmail {
            path: path.to_owned(),
            timeout,
        }
    }

    /// Runs `sendmail -i [-f FROM] -- TO...` in its own process group with the message on
    /// stdin. A success leaves whatever it started in the background alone (some hand
    /// the message to a queue runner that way).
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), DeliveryError> {
        let mut command = Command::new(&self.path);
        command.arg("-i");
        if let Some(from) = envelope.from() {
            command.arg("-f").arg(from);
        }
        command
            .arg("--")
            .args(envelope.to().iter().map(ToString::to_string))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = command.spawn().map_err(|e| {
            DeliveryError::connection(format!(
                "sendmail `{}`: cannot start it: {e}",
                self.path.display()
            ))
        })?;
        let mut group = GroupKill(child.id().map(|id| Pid::from_raw(id as i32)));
        let stderr = child
            .stderr
            .take()
            .map(|stderr| tokio::spawn(keep_head(stderr)));
        let mut stdin = child.stdin.take();
        let talk = async {
            if let Some(stdin) = &mut stdin {
                // A sendmail that quits without reading says why in its exit status.
                let _ = stdin.write_all(message).await;
            }
            drop(stdin.take());
            child.wait().await
        };
        let outcome = tokio::time::timeout(self.timeout, talk).await;
        let status = match outcome {
            Err(_) => {
                drop(group);
                let _ = child.wait().await;
                if let Some(stderr) = stderr {
                    stderr.abort();
                }
                return Err(DeliveryError::connection(format!(
                    "sendmail `{}` did not finish within {}; stopped it",
                    self.path.display(),
                    HumanDuration(self.timeout)
                )));
            }
            Ok(Err(e)) => {
                return Err(DeliveryError::connection(format!(
                    "sendmail `{}`: {e}",
                    self.path.display()
                )));
            }
            Ok(Ok(status)) => status,
        };
        group.disarm();
        if status.success() {
            if let Some(stderr) = stderr {
                stderr.abort();
            }
            return Ok(());
        }
        let said = match stderr {
            Some(stderr) => match tokio::time::timeout(STDERR_WAIT, stderr).await {
                Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes).trim().to_owned(),
                _ => String::new(),
            },
            None => String::new(),
        };
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        Err(DeliveryError::transient(format!(
            "sendmail `{}` failed ({status}){said}",
            self.path.display()
        )))
    }
}

/// The first [`STDERR_KEPT`] bytes of `stream`; the rest is read and dropped, so that the
/// writer never blocks on a full pipe.
async fn keep_head(mut stream: impl tokio::io::AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n @ 1..) = stream.read(&mut buffer).await {
        let room = STDERR_KEPT - kept.len();
        kept.extend_from_slice(&buffer[..n.min(room)]);
    }
    kept
}

/// Kills sendmail's process group when dropped (a timeout, or the flush given up), unless
/// it was disarmed because sendmail finished.
struct GroupKill(Option<Pid>);

impl GroupKill {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            let _ = killpg(group, Signal::SIGKILL);
        }
    }
}
