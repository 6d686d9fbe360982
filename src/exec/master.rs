//! The ssh connection masters that reporter's own ssh tasks leave behind for
//! `ControlPersist`, told apart from every other process: the only processes the sweep
//! ([`super::tree`]) lets outlive the command that started them.
//!
//! With `ControlMaster` and `ControlPersist`, the ssh client reporter starts makes the
//! control socket listen, then forks a master that detaches into a session of its own (so
//! reporter adopts it) and serves the socket to other tasks until it has been idle long
//! enough. Its program's name proves nothing, as any command can run a file called `ssh`,
//! and neither does its command line. What does is the kernel's record of who made a
//! socket listen: connecting to it gives the peer credentials (SO_PEERCRED) of the process
//! that called listen(2). So an adopted process is taken for a master only when
//!
//! - its command line names its control socket as OpenSSH's master does (`ssh: PATH [mux]`),
//! - the socket at PATH was made to listen by the ssh task reporter has just seen end, by
//!   its pid, looked at right after it ended, long before that pid can be handed out again,
//! - and asked over that socket (the alive check of ssh's mux protocol), the master
//!   answers with the adopted process's pid.
//!
//! A command cannot make a socket of reporter's ssh client listen, nor make that master
//! answer with another pid than its own.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// How long a master has to answer; a real one answers at once.
const ANSWER_WAIT: Duration = Duration::from_secs(2);
/// The largest message read from a master (its hello may carry extensions).
const MESSAGE_MAX: usize = 4096;

/// From OpenSSH's PROTOCOL.mux.
const MUX_MSG_HELLO: u32 = 0x0000_0001;
const MUX_VERSION: u32 = 4;
const MUX_C_ALIVE_CHECK: u32 = 0x1000_0004;
const MUX_S_ALIVE: u32 = 0x8000_0005;
const REQUEST_ID: u32 = 1;

/// The masters found, by pid and start time (clock ticks after boot, which tell a process
/// from a later one with the same pid).
static MASTERS: Mutex<Vec<(i32, u64)>> = Mutex::new(Vec::new());

fn masters() -> MutexGuard<'static, Vec<(i32, u64)>> {
    MASTERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether the process `pid` that started at `start` is a master of reporter's ssh tasks.
pub fn is_master(pid: i32, start: u64) -> bool {
    masters().contains(&(pid, start))
}

/// Looks among `adopted` (pid, start) for masters of the ssh task `task`, which has just
/// ended, and remembers those found. Masters no longer running are forgotten.
pub async fn adopt(adopted: &[(i32, u64)], task: i32, started: impl Fn(i32) -> Option<u64>) {
    masters().retain(|&(pid, start)| started(pid) == Some(start));
    for &(pid, start) in adopted {
        if is_master(pid, start) {
            continue;
        }
        let Some(path) = control_path(pid) else {
            continue;
        };
        if answers_as(path, task, pid).await {
            masters().push((pid, start));
        }
    }
}

/// The control socket an OpenSSH master names in its process title, `ssh: PATH [mux]`.
fn control_path(pid: i32) -> Option<PathBuf> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let title = cmdline.split(|&b| b == 0).next()?;
    // The title overwrites the arguments; what is left of them may be padded with spaces.
    let title = title.trim_ascii_end().strip_suffix(b" [mux]")?;
    let start = title.windows(2).position(|pair| pair == b": ")? + 2;
    let path = std::ffi::OsStr::from_bytes(&title[start..]);
    Some(PathBuf::from(path)).filter(|path| path.is_absolute())
}

/// Whether the socket at `path` was made to listen by the process `listener` and, asked
/// over it, its master says it is `pid`.
async fn answers_as(path: PathBuf, listener: i32, pid: i32) -> bool {
    let exchange = async {
        let mut socket = UnixStream::connect(&path).await.ok()?;
        if socket.peer_cred().ok()?.pid() != Some(listener) {
            return None;
        }
        socket
            .write_all(&message(MUX_MSG_HELLO, MUX_VERSION))
            .await
            .ok()?;
        let hello = read_message(&mut socket).await?;
        if word(&hello, 0)? != MUX_MSG_HELLO {
            return None;
        }
        socket
            .write_all(&message(MUX_C_ALIVE_CHECK, REQUEST_ID))
            .await
            .ok()?;
        let alive = read_message(&mut socket).await?;
        let answered = word(&alive, 0)? == MUX_S_ALIVE && word(&alive, 1)? == REQUEST_ID;
        answered.then(|| word(&alive, 2)).flatten()
    };
    matches!(
        tokio::time::timeout(ANSWER_WAIT, exchange).await,
        Ok(Some(answer)) if i32::try_from(answer) == Ok(pid)
    )
}

/// A mux message of two words: its length, then the words, big-endian.
fn message(kind: u32, value: u32) -> Vec<u8> {
    [8, kind, value]
        .iter()
        .flat_map(|w| w.to_be_bytes())
        .collect()
}

async fn read_message(socket: &mut UnixStream) -> Option<Vec<u8>> {
    let length = usize::try_from(socket.read_u32().await.ok()?).ok()?;
    if length > MESSAGE_MAX {
        return None;
    }
    let mut body = vec![0; length];
    socket.read_exact(&mut body).await.ok()?;
    Some(body)
}

/// The `index`th big-endian word of `body`.
fn word(body: &[u8], index: usize) -> Option<u32> {
    let bytes = body.get(index * 4..index * 4 + 4)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_length_then_words() {
        let alive = message(MUX_C_ALIVE_CHECK, 7);
        assert_eq!(alive, [0, 0, 0, 8, 0x10, 0, 0, 4, 0, 0, 0, 7]);
        assert_eq!(word(&alive[4..], 1), Some(7));
        assert_eq!(word(&alive[4..], 2), None);
    }

    #[test]
    fn a_process_that_is_no_master_has_no_control_path() {
        assert_eq!(control_path(std::process::id() as i32), None);
    }
}
