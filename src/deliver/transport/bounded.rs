//! The connection to the relay, with the relay's replies bounded: lettre reads a reply
//! line to its end before it measures it, so a relay that sends a line without end would
//! grow reporter without limit. Below lettre, a reply line over 4 KiB or a reply over
//! 64 KiB is a protocol error; once lettre has put TLS on top (STARTTLS) the bytes are
//! ciphertext, and then at most 256 KiB may arrive between two of reporter's writes.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use lettre::transport::smtp::client::AsyncTokioStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub const MAX_LINE: usize = 4 * 1024;
pub const MAX_REPLY: usize = 64 * 1024;
/// What may arrive unasked below TLS: a certificate chain, a reply, session tickets.
pub const MAX_UNASKED: usize = 256 * 1024;

/// A stream whose incoming SMTP text is measured as it arrives.
#[derive(Debug)]
pub struct Bounded<S> {
    inner: S,
    peer: Option<SocketAddr>,
    /// Cleared when TLS starts below lettre: only [`MAX_UNASKED`] applies from then on.
    plain: Arc<AtomicBool>,
    line: usize,
    /// The first bytes of the current line: `250-` continues a reply, `250 ` ends it.
    head: [u8; 4],
    reply: usize,
    unasked: usize,
}

impl<S> Bounded<S> {
    pub fn new(inner: S, peer: Option<SocketAddr>) -> Bounded<S> {
        Bounded {
            inner,
            peer,
            plain: Arc::new(AtomicBool::new(true)),
            line: 0,
            head: [0; 4],
            reply: 0,
            unasked: 0,
        }
    }

    /// The switch to clear when TLS starts underneath lettre (STARTTLS).
    pub fn plain_switch(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.plain)
    }

    /// Measures bytes that just arrived; an error when they break a bound.
    fn measure(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.unasked += bytes.len();
        if !self.plain.load(Ordering::Relaxed) {
            return if self.unasked > MAX_UNASKED {
                Err(too_much("sent more than 256 KiB unasked"))
            } else {
                Ok(())
            };
        }
        for &byte in bytes {
            if self.line < self.head.len() {
                self.head[self.line] = byte;
            }
            self.line += 1;
            self.reply += 1;
            if self.line > MAX_LINE {
                return Err(too_much("sent a reply line longer than 4 KiB"));
            }
            if self.reply > MAX_REPLY {
                return Err(too_much("sent a reply longer than 64 KiB"));
            }
            if byte == b'\n' {
                if self.line <= 3 || self.head[3] != b'-' {
                    self.reply = 0;
                }
                self.line = 0;
            }
        }
        Ok(())
    }
}

fn too_much(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("the relay {what}"))
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if let Err(e) = this.measure(&buf.filled()[before..]) {
                    buf.set_filled(before);
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written
            && n > 0
        {
            self.unasked = 0;
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S> AsyncTokioStream for Bounded<S>
where
    S: AsyncRead + AsyncWrite + Send + Sync + Unpin + std::fmt::Debug,
{
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.peer
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }
}

/// lettre's TLS stream (for implicit TLS, set up before the greeting) as a Tokio stream,
/// so that [`Bounded`] can measure the SMTP text above the TLS. lettre marks its stream
/// type deprecated ("not meant to be public"), but it is the only way to put TLS under a
/// connection that reporter opened itself.
#[derive(Debug)]
#[allow(deprecated)]
pub struct Compat(pub lettre::transport::smtp::client::AsyncNetworkStream);

#[allow(deprecated)]
impl AsyncRead for Compat {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        match futures_io::AsyncRead::poll_read(Pin::new(&mut self.0), cx, unfilled) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[allow(deprecated)]
impl AsyncWrite for Compat {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounded() -> Bounded<()> {
        Bounded::new((), None)
    }

    #[test]
    fn replies_within_the_bounds_pass() {
        let mut b = bounded();
        b.measure(b"220 relay ready\r\n").unwrap();
        for _ in 0..100 {
            b.measure(b"250-EXTENSION\r\n").unwrap();
        }
        b.measure(b"250 done\r\n").unwrap();
        assert_eq!(b.reply, 0);
        // Many short replies are many replies, not one long one.
        for _ in 0..10_000 {
            b.measure(b"250 ok\r\n").unwrap();
        }
    }

    #[test]
    fn a_long_line_or_reply_is_an_error() {
        let mut b = bounded();
        b.measure(b"220 ").unwrap();
        let err = b.measure(&[b'x'; MAX_LINE]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the relay sent a reply line longer than 4 KiB"
        );
        let mut b = bounded();
        let line = format!("250-{}\r\n", "x".repeat(1000));
        let err = (0..100)
            .find_map(|_| b.measure(line.as_bytes()).err())
            .unwrap();
        assert_eq!(err.to_string(), "the relay sent a reply longer than 64 KiB");
    }

    #[test]
    fn below_tls_only_what_arrives_unasked_counts() {
        let mut b = bounded();
        b.plain.store(false, Ordering::Relaxed);
        b.measure(&[b'x'; MAX_LINE * 10]).unwrap();
        let err = b.measure(&[b'x'; MAX_UNASKED]).unwrap_err();
        assert!(err.to_string().contains("256 KiB"), "{err}");
    }
}
