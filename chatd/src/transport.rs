//! Transport: bytes in and out of one client connection, and the bounded lines read from it.
//! It knows nothing of the protocol. [`Socket`] is the one place a TLS stream will sit beside
//! the TCP one; everything above reads lines and writes bytes.

use std::io;
use std::net::{Shutdown, TcpStream};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use proto::{LineDecoder, LineError};
use smol::Async;

/// Bytes read from the socket at a time (allocated once per connection, so kept small).
const READ_CHUNK: usize = 4 * 1024;

/// One client's byte stream, shared by its reader and its writer.
pub(crate) enum Socket {
    /// Plain TCP.
    Tcp(Async<TcpStream>),
}

impl Socket {
    /// Reads what is there (0 at the end of the stream).
    pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => {
                let mut r = s;
                r.read(buf).await
            }
        }
    }

    /// Writes all of `buf`.
    pub(crate) async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => {
                let mut w = s;
                w.write_all(buf).await
            }
        }
    }

    /// Flushes what is buffered.
    pub(crate) async fn flush(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => {
                let mut w = s;
                w.flush().await
            }
        }
    }

    /// Shuts one or both directions down; errors (already closed) do not matter here.
    pub(crate) fn shutdown(&self, how: Shutdown) {
        match self {
            Socket::Tcp(s) => {
                let _ = s.get_ref().shutdown(how);
            }
        }
    }
}

/// Lines from a [`Socket`], each at most `max_line` bytes. The partial line lives here, so a
/// [`LineReader::fill`] cancelled by a timer loses nothing.
pub(crate) struct LineReader {
    decoder: LineDecoder,
    chunk: Vec<u8>,
}

impl LineReader {
    pub(crate) fn new(max_line: usize) -> Self {
        LineReader {
            decoder: LineDecoder::new(max_line),
            chunk: vec![0u8; READ_CHUNK],
        }
    }

    /// Reads once from `socket` into the line buffer; `Ok(0)` at the end of the stream.
    pub(crate) async fn fill(&mut self, socket: &Socket) -> io::Result<usize> {
        let n = socket.read(&mut self.chunk).await?;
        self.decoder.feed(&self.chunk[..n]);
        Ok(n)
    }

    /// The next complete line (without its ending), if one is buffered.
    pub(crate) fn next_line(&mut self) -> Option<Result<&[u8], LineError>> {
        self.decoder.next_line()
    }
}
