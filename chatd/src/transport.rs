//! Transport: bytes in and out of one client connection, and the bounded lines read from it.
//! It knows nothing of the protocol. [`Socket`] is plain TCP or TLS ([`TlsSocket`], rustls);
//! everything above reads lines and writes bytes and cannot tell them apart.
//!
//! A [`TlsSocket`] is read and written by the connection's task. The rustls connection sits
//! under a plain mutex held only while bytes are handed to it or drawn from it, never across an
//! `.await`. Encrypted bytes wait in one outgoing buffer, under an async lock held while they
//! are written, so records reach the wire in the order they were made whether a read or a
//! write made them (reads make some: handshake messages, alerts). That buffer also makes
//! the transport cancel-safe: a read or write cancelled by a timer leaves the unsent bytes in
//! it for the next one.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Mutex, MutexGuard};

use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use proto::{LineDecoder, LineError};
use rustls::ServerConnection;
use smol::lock::Mutex as AsyncMutex;
use smol::Async;

use crate::spares::spares;

/// Bytes read from a plain socket at a time (into the executor thread's buffer).
const READ_CHUNK: usize = 64 * 1024;
/// Bytes read from a TLS socket at a time (into the connection's own buffer).
const TLS_CHUNK: usize = 4 * 1024;

/// One client's byte stream, shared by its reader and its writer.
pub(crate) enum Socket {
    /// Plain TCP.
    Tcp(Async<TcpStream>),
    /// TLS over TCP (boxed: rustls' connection state is large, a TCP socket is not).
    Tls(Box<TlsSocket>),
}

impl Socket {
    /// Writes all of `buf`.
    pub(crate) async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => {
                let mut w = s;
                w.write_all(buf).await
            }
            Socket::Tls(t) => t.write_all(buf).await,
        }
    }

    /// Writes what the socket takes now, without waiting: the bytes taken (0 when it takes
    /// none now). Over TLS nothing is written here (0): TLS goes through [`Socket::write_all`].
    ///
    /// # Errors
    /// The socket failed.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let Socket::Tcp(tcp) = self else {
            return Ok(0);
        };
        let mut done = 0;
        while done < buf.len() {
            match tcp.get_ref().write(&buf[done..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// Flushes what is buffered.
    pub(crate) async fn flush(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => {
                let mut w = s;
                w.flush().await
            }
            Socket::Tls(t) => t.flush().await,
        }
    }

    /// Completes the TLS handshake (nothing to do for TCP), so that what is written next can
    /// reach the client: a refusal must not be stuck behind a handshake nobody drives.
    pub(crate) async fn handshake(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(_) => Ok(()),
            Socket::Tls(t) => t.handshake().await,
        }
    }

    /// Shuts one or both directions down; errors (already closed) do not matter here.
    pub(crate) fn shutdown(&self, how: Shutdown) {
        match self {
            Socket::Tcp(s) => {
                let _ = s.get_ref().shutdown(how);
            }
            Socket::Tls(t) => t.shutdown(how),
        }
    }
}

/// The most encrypted bytes kept allocated in an idle connection's outgoing buffer.
const IDLE_OUT: usize = 16 * 1024;

/// One TLS connection over TCP, server side.
pub(crate) struct TlsSocket {
    tcp: Async<TcpStream>,
    conn: Mutex<ServerConnection>,
    /// Encrypted bytes drawn from `conn` and not yet written, oldest first.
    out: AsyncMutex<Vec<u8>>,
}

/// The client's address, for a log line.
fn peer(tcp: &Async<TcpStream>) -> String {
    tcp.get_ref()
        .peer_addr()
        .map_or_else(|_| "a closed socket".to_string(), |a| a.to_string())
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, e)
}

impl TlsSocket {
    /// A TLS server connection over `tcp`; the handshake runs as the client's bytes come in.
    pub(crate) fn new(tcp: Async<TcpStream>, mut conn: ServerConnection) -> TlsSocket {
        // What is written before the handshake ends (the greeting) waits inside rustls; after
        // it, every write is drained at once, so rustls' own buffer limit would only turn a
        // large batch into an error. The send queue bounds what a connection holds.
        conn.set_buffer_limit(None);
        TlsSocket {
            tcp,
            conn: Mutex::new(conn),
            out: AsyncMutex::new(Vec::new()),
        }
    }

    fn conn(&self) -> MutexGuard<'_, ServerConnection> {
        // Poisoned only by a panic inside rustls; the connection is broken then anyway and
        // its next operation fails.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Draws what rustls has to send into `out`.
    fn draw(&self, out: &mut Vec<u8>) -> io::Result<()> {
        let mut conn = self.conn();
        while conn.wants_write() {
            conn.write_tls(out)?;
        }
        Ok(())
    }

    /// Writes `out` to the socket; what was written leaves it, so a cancelled call loses
    /// nothing.
    async fn send(&self, out: &mut Vec<u8>) -> io::Result<()> {
        while !out.is_empty() {
            let mut w = &self.tcp;
            let n = w.write(out).await?;
            if n == 0 {
                return Err(ErrorKind::WriteZero.into());
            }
            out.drain(..n);
        }
        if out.capacity() > IDLE_OUT {
            out.shrink_to(IDLE_OUT);
        }
        Ok(())
    }

    /// Sends what rustls has to send (handshake messages, alerts) and what earlier, cancelled
    /// calls left.
    async fn flush(&self) -> io::Result<()> {
        if !self.conn().wants_write() {
            // Nothing new. Without waiting for the lock: a writer that holds it sends what is
            // left in the buffer, and a writer stuck on a client that does not read must not
            // stop the reader.
            return match self.out.try_lock() {
                Some(mut out) => self.send(&mut out).await,
                None => Ok(()),
            };
        }
        let mut out = self.out.lock().await;
        self.draw(&mut out)?;
        self.send(&mut out).await
    }

    /// Feeds `data` from the client to rustls. `data` empty: the client closed the socket.
    fn feed(&self, mut data: &[u8]) -> io::Result<()> {
        let mut conn = self.conn();
        if data.is_empty() {
            conn.read_tls(&mut io::empty())?;
            conn.process_new_packets().map_err(tls_error)?;
            return Ok(());
        }
        while !data.is_empty() {
            conn.read_tls(&mut data)?;
            conn.process_new_packets().map_err(tls_error)?;
        }
        Ok(())
    }

    /// Reads one raw chunk into `buf` and feeds it to rustls. On a TLS error the alert rustls
    /// queued is sent (best effort) before the error is returned.
    async fn pull(&self, buf: &mut [u8]) -> io::Result<()> {
        let mut r = &self.tcp;
        let n = r.read(buf).await?;
        if let Err(e) = self.feed(&buf[..n]) {
            log::debug!("TLS error from {}: {e}", peer(&self.tcp));
            let _ = self.flush().await;
            return Err(e);
        }
        Ok(())
    }

    /// Plaintext from the client; `Ok(0)` at the end of the stream.
    async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.conn().reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // The client closed the socket without `close_notify`: frames are lines, so a
                // line cut off by the close is recognisable as such. An end like any other.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            self.flush().await?;
            // The raw bytes go through `buf` (rustls copies them): what one chunk decrypts to
            // is smaller than the chunk, and rustls' plaintext buffer is empty here.
            self.pull(buf).await?;
        }
    }

    /// Reads until the handshake is complete, then sends the last handshake messages.
    async fn handshake(&self) -> io::Result<()> {
        let mut buf = [0u8; 2048];
        while self.conn().is_handshaking() {
            self.flush().await?;
            let mut r = &self.tcp;
            let n = r.read(&mut buf).await?;
            if n == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            if let Err(e) = self.feed(&buf[..n]) {
                log::debug!("TLS error from {}: {e}", peer(&self.tcp));
                let _ = self.flush().await;
                return Err(e);
            }
        }
        self.flush().await
    }

    async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        let mut out = self.out.lock().await;
        {
            let mut conn = self.conn();
            conn.writer().write_all(buf)?;
            while conn.wants_write() {
                conn.write_tls(&mut *out)?;
            }
        }
        self.send(&mut out).await
    }

    /// Closing the writing side first sends `close_notify`, if the socket takes it at once
    /// (it is tiny, and everything before it was flushed); the client treats a close without
    /// it as an end of stream too.
    fn shutdown(&self, how: Shutdown) {
        if how != Shutdown::Read {
            if let Some(mut out) = self.out.try_lock() {
                self.conn().send_close_notify();
                if self.draw(&mut out).is_ok() {
                    // The socket is non-blocking: this writes what fits, never waits.
                    let mut socket = self.tcp.get_ref();
                    let _ = socket.write(&out);
                }
                out.clear();
            }
        }
        let _ = self.tcp.get_ref().shutdown(how);
    }
}

/// Lines from a [`Socket`], each at most `max_line` bytes. The partial line lives here, so a
/// [`LineReader::fill`] cancelled by a timer loses nothing.
///
/// A plain socket is read into the executor thread's buffer and only what forms no complete
/// line yet is copied here: between lines ([`LineReader::release`]) a connection holds no read
/// buffer. After a read that did not fill that buffer the socket is taken to be drained: the
/// next read waits for the reactor to report it readable rather than trying first (which
/// mostly failed with `EAGAIN`, and then waited anyway).
pub(crate) struct LineReader {
    decoder: LineDecoder,
    /// The last read filled the thread's buffer: more may be waiting, read before waiting.
    more: bool,
    /// Only for TLS: the encrypted bytes pass through here (allocated at the first read).
    tls_chunk: Vec<u8>,
}

thread_local! {
    /// Where bytes from plain sockets land first, one per executor thread.
    static READ_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; READ_CHUNK]);
}

spares!(
    /// Line buffers (of 16 KiB at most) given back by connections between lines, for the
    /// next read.
    static SPARES: Vec<u8>, keep 64, largest 16 * 1024
);

impl LineReader {
    pub(crate) fn new(max_line: usize) -> Self {
        LineReader {
            decoder: LineDecoder::new(max_line),
            more: false,
            tls_chunk: Vec::new(),
        }
    }

    /// Reads once from `socket` into the line buffer; `Ok(0)` at the end of the stream.
    pub(crate) async fn fill(&mut self, socket: &Socket) -> io::Result<usize> {
        match socket {
            Socket::Tcp(tcp) => loop {
                if !self.more {
                    // Not `readable()`: its future unregisters the task when dropped, and this
                    // wait is dropped each time the connection's task wakes for its outbox, so
                    // every delivery would re-register interest (an `epoll_ctl`). This keeps
                    // the registration until the reactor reports the socket readable.
                    future::poll_fn(|cx| tcp.poll_readable(cx)).await?;
                }
                match self.read_tcp(tcp.get_ref()) {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => self.more = false,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    done => return done,
                }
            },
            // Boxed: the TLS read's state is large, and every connection's task would carry
            // its size while idle.
            Socket::Tls(tls) => Box::pin(self.fill_tls(tls)).await,
        }
    }

    async fn fill_tls(&mut self, tls: &TlsSocket) -> io::Result<usize> {
        if self.tls_chunk.is_empty() {
            self.tls_chunk = vec![0; TLS_CHUNK];
        }
        let n = tls.read(&mut self.tls_chunk).await?;
        self.decoder.feed(&self.tls_chunk[..n]);
        Ok(n)
    }

    /// One non-blocking read of a plain socket.
    fn read_tcp(&mut self, mut tcp: &TcpStream) -> io::Result<usize> {
        if self.decoder.needs_buffer() {
            if let Some(spare) = SPARES.take() {
                self.decoder.provide(spare);
            }
        }
        READ_BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            let n = tcp.read(&mut buf)?;
            self.more = n == buf.len();
            self.decoder.feed(&buf[..n]);
            Ok(n)
        })
    }

    /// The next complete line (without its ending), if one is buffered.
    pub(crate) fn next_line(&mut self) -> Option<Result<&[u8], LineError>> {
        self.decoder.next_line()
    }

    /// Frees the line buffer when no partial line is in it.
    pub(crate) fn release(&mut self) {
        if let Some(buf) = self.decoder.release() {
            SPARES.give(buf);
        }
    }
}
