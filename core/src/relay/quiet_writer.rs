//! Writes to a pipe or a socket (the host's stdout, a stdio server's
//! stdin) that wait in the reactor only while the other side is full.
//!
//! A writer registered with the reactor for good is woken each time its
//! reader takes data out (an edge-triggered "writable" event): for a relay
//! that is one wake-up for nothing per message each way, as many as the
//! messages themselves. This one writes directly (non-blocking) and
//! registers only when a write would block, until the next write goes
//! through.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncWrite, Interest};

/// The descriptor as the reactor sees it while registered (owned by
/// [`QuietWriter::fd`]).
struct Registered(RawFd);

impl AsRawFd for Registered {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

pub struct QuietWriter {
    /// While a write would block. Declared before `fd`: fields drop in
    /// order, so the registration goes before the descriptor closes.
    waiting: Option<AsyncFd<Registered>>,
    fd: OwnedFd,
}

impl QuietWriter {
    /// Takes `fd` (a pipe or a socket) and makes it non-blocking.
    pub fn new(fd: OwnedFd) -> io::Result<Self> {
        let raw = fd.as_raw_fd();
        // SAFETY: fcntl on a descriptor owned here.
        let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
        if flags < 0 || unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { waiting: None, fd })
    }
}

impl AsyncWrite for QuietWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        loop {
            // SAFETY: `buf` is valid for `buf.len()` bytes; the descriptor
            // is owned here.
            let n = unsafe { libc::write(this.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
            if n >= 0 {
                this.waiting = None;
                return Poll::Ready(Ok(n as usize));
            }
            let error = io::Error::last_os_error();
            match error.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => {}
                _ => return Poll::Ready(Err(error)),
            }
            if this.waiting.is_none() {
                let registered = Registered(this.fd.as_raw_fd());
                // SAFETY: `fd` stays open, the same description, as long
                // as the registration lives (dropped first, see above).
                let waiting =
                    unsafe { AsyncFd::register_with_interest(registered, Interest::WRITABLE) }?;
                this.waiting = Some(waiting);
            }
            let waiting = this.waiting.as_ref().expect("registered above");
            match waiting.poll_write_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(mut ready)) => ready.clear_ready(),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(())) // nothing is buffered here
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn waits_while_the_pipe_is_full_and_loses_nothing() {
        let (writer, reader) = tokio::net::unix::pipe::pipe().unwrap();
        let mut writer = QuietWriter::new(writer.into_blocking_fd().unwrap()).unwrap();
        let data: Vec<u8> = (0..1_000_000u32).map(|i| i as u8).collect();
        let expected = data.clone();
        // A megabyte is far more than a pipe holds: the writer must wait.
        let written = tokio::spawn(async move {
            writer.write_all(&data).await.unwrap();
            writer.waiting.is_none()
        });
        let mut reader = reader;
        let mut got = vec![0u8; expected.len()];
        reader.read_exact(&mut got).await.unwrap();
        assert!(written.await.unwrap(), "registered only while full");
        assert_eq!(got, expected);
    }
}
