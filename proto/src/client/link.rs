//! The pieces of a client connection, for callers that run their own event loop (the `chat`
//! binary feeds server frames into the same queue as typed lines): [`connect`] opens the TCP
//! connection ([`connect_with`]: or a TLS one, see [`Security`]) and checks the greeting, [`Writer`] sends requests with fresh ids, [`Reader`]
//! turns the byte stream into [`Incoming`] items, blocking or in a thread of its own
//! ([`Reader::spawn`]). Errors are [`ClientError`]s.
//!
//! This module does not correlate replies with requests; [`super::Client`] does, and so does a
//! caller that runs its own loop.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;

use super::error::ClientError;
use super::login::check_hello;
use crate::codec::LineDecoder;
use crate::frames::{
    ClientFrame, DecodeError, ErrorCode, Event, Hello, Request, Response, ServerFrame,
};
use crate::tls::Stream;

/// The longest line accepted from a server. A server's `max_line` bounds what clients send;
/// what it sends can be longer (a maximal message plus JSON escaping, a long `users` list), so
/// this allows a lot more while still bounding memory.
pub const MAX_SERVER_LINE: usize = 128 * crate::codec::DEFAULT_MAX_LINE;

/// What the reader got from the server.
#[derive(Debug)]
pub enum Incoming {
    /// A frame. A reply this crate cannot decode (a response type newer than it) that carries
    /// a request id arrives as a generic [`ErrorCode::Internal`] error with the server's
    /// `message`, so the request waiting for it still ends.
    Frame(ServerFrame),
    /// A line that is no frame this crate knows and carries no request id: an event type newer
    /// than this crate ([`DecodeError::UnknownType`]) or junk. The connection goes on.
    Skipped(DecodeError),
    /// The connection ended: [`ClientError::Closed`], [`ClientError::Lost`] or
    /// [`ClientError::LineTooLong`]. Nothing follows.
    Closed(ClientError),
}

/// A connection whose greeting has been checked, in two halves.
#[derive(Debug)]
pub struct Connection {
    /// The server's greeting.
    pub hello: Hello,
    /// The sending half.
    pub writer: Writer,
    /// The receiving half (already holding whatever arrived after the greeting).
    pub reader: Reader,
    /// Over TLS, the SHA-256 fingerprint of the server's certificate
    /// ([`crate::tls::fingerprint`]).
    pub fingerprint: Option<String>,
}

/// How a connection is protected.
#[derive(Clone, Debug, Default)]
pub enum Security {
    /// Plain TCP.
    #[default]
    Plain,
    /// TLS with `config`, the server checked as `name` (what its certificate must name, unless
    /// the configuration's verifier decides otherwise).
    Tls {
        /// The client configuration (its verifier decides whom to trust).
        config: Arc<rustls::ClientConfig>,
        /// The server's name or IP address.
        name: ServerName<'static>,
    },
}

/// Connects to the first of `addrs` that accepts within `timeout`, and waits up to `timeout`
/// for the server's `hello`.
///
/// # Errors
/// [`ClientError::Connect`] (no address accepted; the last error), [`ClientError::NoHello`],
/// [`ClientError::Version`], or [`ClientError::Refused`] when the server answers the
/// connection with an error (`too_many_connections`) instead of a greeting.
pub fn connect(addrs: &[SocketAddr], timeout: Duration) -> Result<Connection, ClientError> {
    connect_with(addrs, timeout, &Security::Plain)
}

/// [`connect`], over TLS when `security` says so: the handshake is completed (within
/// `timeout`) before the greeting is awaited.
///
/// # Errors
/// As [`connect`], and [`ClientError::Tls`] when the handshake fails (the server's
/// certificate was refused, or it does not speak TLS).
pub fn connect_with(
    addrs: &[SocketAddr],
    timeout: Duration,
    security: &Security,
) -> Result<Connection, ClientError> {
    let mut last_error = std::io::Error::new(ErrorKind::NotFound, "no address to connect to");
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = e,
        }
    }
    let stream = stream.ok_or(ClientError::Connect(last_error))?;
    // Small request lines should leave at once.
    let _ = stream.set_nodelay(true);
    let stream = match security {
        Security::Plain => Stream::Tcp(stream),
        Security::Tls { config, name } => {
            let stream = Stream::tls_client(stream, Arc::clone(config), name.clone())
                .map_err(ClientError::Tls)?;
            stream
                .handshake(Instant::now() + timeout)
                .map_err(ClientError::Tls)?;
            stream
        }
    };
    let fingerprint = stream.peer_fingerprint();
    let mut reader = Reader::new(stream.try_clone().map_err(ClientError::Connect)?);
    let hello = read_hello(&mut reader, timeout)?;
    Ok(Connection {
        writer: Writer {
            stream,
            next_id: 1,
            max_line: hello.max_line,
        },
        reader,
        hello,
        fingerprint,
    })
}

/// Reads the first frame, which must be a `hello` of our version, within `timeout`.
fn read_hello(reader: &mut Reader, timeout: Duration) -> Result<Hello, ClientError> {
    let no_hello = |reason: String| ClientError::NoHello(reason);
    let deadline = Instant::now() + timeout;
    let first = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err(ClientError::Timeout);
        }
        reader
            .stream
            .set_read_timeout(Some(left))
            .map_err(ClientError::Connect)?;
        match reader.next() {
            Incoming::Closed(ClientError::Lost(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                // The deadline check at the top decides.
                continue;
            }
            Incoming::Closed(e) => break Err(e),
            Incoming::Skipped(e) => {
                return Err(no_hello(format!(
                    "the first line was not a chat frame: {e}"
                )))
            }
            Incoming::Frame(frame) => break Ok(frame),
        }
    };
    reader
        .stream
        .set_read_timeout(None)
        .map_err(ClientError::Connect)?;
    match first {
        Ok(frame) => check_hello(frame),
        Err(ClientError::Timeout) => Err(no_hello(format!(
            "no greeting within {} seconds",
            timeout.as_secs_f64()
        ))),
        Err(e) => Err(no_hello(e.to_string())),
    }
}

/// The sending half: encodes requests with fresh ids (1, 2, ...).
#[derive(Debug)]
pub struct Writer {
    stream: Stream,
    next_id: u64,
    max_line: usize,
}

impl Writer {
    /// Sends `request` with a fresh id and returns the id.
    ///
    /// # Errors
    /// [`ClientError::Send`]: the connection is gone.
    pub fn send(&mut self, request: Request) -> Result<u64, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let frame = ClientFrame {
            id: Some(id),
            request,
        };
        self.send_raw(frame.encode().as_bytes())?;
        Ok(id)
    }

    /// Sends bytes as they are (for tests of hostile input, and pre-encoded lines).
    ///
    /// # Errors
    /// [`ClientError::Send`]: the connection is gone (a server may close it before reading
    /// everything, after a line it refused).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        (&self.stream).write_all(bytes).map_err(ClientError::Send)
    }

    /// The longest line the server accepts (from its `hello`).
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Whether `request` fits in one line the server accepts, whatever its id. A longer one
    /// would be answered with `line_too_long` and the connection closed.
    pub fn fits(&self, request: &Request) -> bool {
        let frame = ClientFrame {
            id: Some(u64::MAX),
            request: request.clone(),
        };
        // Minus the newline.
        frame.encode().len() - 1 <= self.max_line
    }

    /// The local address of the connection (the interface the server is reached on).
    ///
    /// # Errors
    /// The socket is closed.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Closes both directions; a [`Reader`] (or its thread) then sees the end.
    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }
}

/// The receiving half: lines of at most [`MAX_SERVER_LINE`] bytes, decoded into frames.
///
/// A `presence_batch` event comes out as one `presence` event per user, in order: whoever
/// reads frames sees presence in one form only.
#[derive(Debug)]
pub struct Reader {
    stream: Stream,
    decoder: LineDecoder,
    buf: Vec<u8>,
    ended: bool,
    /// The rest of a `presence_batch`, as `presence` events.
    split: VecDeque<Event>,
}

impl Reader {
    fn new(stream: Stream) -> Reader {
        Reader {
            stream,
            decoder: LineDecoder::new(MAX_SERVER_LINE),
            buf: vec![0; 16 * 1024],
            ended: false,
            split: VecDeque::new(),
        }
    }

    /// The next item, blocking until one is there. After [`Incoming::Closed`] every call
    /// returns `Incoming::Closed(ClientError::Closed)`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Incoming {
        if let Some(event) = self.split.pop_front() {
            return Incoming::Frame(ServerFrame::Event(event));
        }
        if self.ended {
            return Incoming::Closed(ClientError::Closed);
        }
        loop {
            if let Some(line) = self.decoder.next_line() {
                match line {
                    Ok([]) => continue,
                    Ok(line) => match decode(line) {
                        Incoming::Frame(ServerFrame::Event(Event::PresenceBatch {
                            users,
                            online,
                            ts,
                        })) => {
                            self.split
                                .extend(users.into_iter().map(|user| Event::Presence {
                                    user,
                                    online,
                                    ts,
                                }));
                            match self.split.pop_front() {
                                Some(first) => return Incoming::Frame(ServerFrame::Event(first)),
                                None => continue,
                            }
                        }
                        item => return item,
                    },
                    Err(e) => {
                        self.ended = true;
                        return Incoming::Closed(ClientError::LineTooLong(e));
                    }
                }
            }
            match (&self.stream).read(&mut self.buf) {
                Ok(0) => {
                    self.ended = true;
                    return Incoming::Closed(ClientError::Closed);
                }
                Ok(n) => self.decoder.feed(&self.buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // A read timeout (set while waiting for the greeting) leaves the stream
                    // usable; anything else ends it.
                    if !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
                        self.ended = true;
                    }
                    return Incoming::Closed(ClientError::Lost(e));
                }
            }
        }
    }

    /// Reads in a new thread named `name`, handing every item to `sink` until the connection
    /// ends (the [`Incoming::Closed`] item is handed over too) or `sink` returns `false`.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn spawn(
        mut self,
        name: &str,
        mut sink: impl FnMut(Incoming) -> bool + Send + 'static,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || loop {
                let item = self.next();
                let last = matches!(item, Incoming::Closed(_));
                if !sink(item) || last {
                    return;
                }
            })
    }
}

/// Decodes one non-empty line.
fn decode(line: &[u8]) -> Incoming {
    match ServerFrame::decode(line) {
        Ok(frame) => Incoming::Frame(frame),
        Err(e) => match undecodable_reply(line) {
            Some(frame) => Incoming::Frame(frame),
            None => Incoming::Skipped(e),
        },
    }
}

/// A reply this crate cannot decode (a response type newer than it), turned into a generic
/// error reply so that the request waiting for it ends and the server's message can be shown.
/// `None` when the line carries no request id.
fn undecodable_reply(line: &[u8]) -> Option<ServerFrame> {
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    let id = value.get("id")?.as_u64()?;
    let message = value
        .get("message")
        .and_then(|m| m.as_str())
        .unwrap_or("the server sent a reply this client does not understand");
    Some(ServerFrame::Reply {
        id: Some(id),
        response: Response::error(ErrorCode::Internal, message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_reply_type_becomes_a_generic_error() {
        // An unknown error code decodes (as `ErrorCode::Unknown`); an unknown reply type does
        // not, and must still end the waiting request.
        let code = br#"{"id":3,"type":"error","code":"brand_new","message":"Try later"}"#;
        assert!(matches!(
            decode(code),
            Incoming::Frame(ServerFrame::Reply {
                response: Response::Error {
                    code: ErrorCode::Unknown,
                    ..
                },
                ..
            })
        ));
        let line = br#"{"id":4,"type":"brand_new_reply","message":"Try later"}"#;
        assert!(ServerFrame::decode(line).is_err());
        match decode(line) {
            Incoming::Frame(frame) => assert_eq!(
                frame,
                ServerFrame::Reply {
                    id: Some(4),
                    response: Response::error(ErrorCode::Internal, "Try later"),
                }
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode(br#"{"type":"new_event"}"#),
            Incoming::Skipped(DecodeError::UnknownType(t)) if t == "new_event"
        ));
        assert!(matches!(
            decode(b"not json"),
            Incoming::Skipped(DecodeError::Json(_))
        ));
    }
}
