//! The host's end of the relay: the proxy's own stdin and stdout.
//!
//! Tokio's `stdin()`/`stdout()` do each read and write on a thread of the
//! blocking pool, so every message crossed threads twice more than it
//! must (a wake-up each way, measured as most of the proxy's CPU per
//! call). A host runs the proxy on a pipe or a socket pair (libuv, and so
//! Node's MCP SDK, uses socket pairs), which the runtime's reactor can
//! wait on directly: stdin is registered with it, non-blocking, and stdout
//! is a [`QuietWriter`](super::quiet_writer::QuietWriter). Anything else
//! (a terminal, a file) keeps the blocking pool.

use tokio::io::{AsyncRead, AsyncWrite};

pub type HostReader = Box<dyn AsyncRead + Unpin + Send>;
pub type HostWriter = Box<dyn AsyncWrite + Unpin + Send>;

/// The proxy's stdin. Must be called on the relay's runtime.
pub fn stdin() -> HostReader {
    #[cfg(unix)]
    if let Some(reader) = unix::reader(0) {
        return reader;
    }
    Box::new(tokio::io::stdin())
}

/// The proxy's stdout. Must be called on the relay's runtime.
pub fn stdout() -> HostWriter {
    #[cfg(unix)]
    if let Some(writer) = unix::writer(1) {
        return writer;
    }
    Box::new(tokio::io::stdout())
}

#[cfg(unix)]
mod unix {
    use super::{HostReader, HostWriter};
    use crate::relay::quiet_writer::QuietWriter;
    use std::fs::File;
    use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
    use std::os::unix::fs::FileTypeExt;
    use tokio::net::unix::pipe;
    use tokio::net::UnixStream;

    enum Kind {
        Fifo(File),
        Socket(OwnedFd),
    }

    /// A duplicate of `fd` (the process keeps its own descriptor), if it is
    /// a pipe or a socket. O_NONBLOCK is set on the open file, which the
    /// host's end of a pipe or socket pair does not share.
    fn kind(fd: RawFd) -> Option<Kind> {
        // SAFETY: fd 0 and 1 stay open for the whole relay (the launchers
        // never close them); the duplicate is owned from here on.
        let owned = unsafe { BorrowedFd::borrow_raw(fd) }
            .try_clone_to_owned()
            .ok()?;
        let file = File::from(owned);
        let file_type = file.metadata().ok()?.file_type();
        if file_type.is_fifo() {
            Some(Kind::Fifo(file))
        } else if file_type.is_socket() {
            Some(Kind::Socket(OwnedFd::from(file)))
        } else {
            None
        }
    }

    fn socket(fd: OwnedFd) -> Option<UnixStream> {
        let stream = std::os::unix::net::UnixStream::from(fd);
        stream.set_nonblocking(true).ok()?;
        UnixStream::from_std(stream).ok()
    }

    pub fn reader(fd: RawFd) -> Option<HostReader> {
        match kind(fd)? {
            Kind::Fifo(file) => Some(Box::new(pipe::Receiver::from_file(file).ok()?)),
            Kind::Socket(fd) => Some(Box::new(socket(fd)?)),
        }
    }

    pub fn writer(fd: RawFd) -> Option<HostWriter> {
        let fd = match kind(fd)? {
            Kind::Fifo(file) => OwnedFd::from(file),
            Kind::Socket(fd) => fd,
        };
        Some(Box::new(QuietWriter::new(fd).ok()?))
    }
}
