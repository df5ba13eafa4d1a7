//! The TCP connection to `chatd`: connecting, the `hello` check, a reader thread that decodes
//! server frames into the session's inbox, and writing requests with fresh ids.
//!
//! It does not interpret replies or events; [`crate::session`] does.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use proto::{ClientFrame, LineDecoder, Request, ServerFrame, PROTOCOL_VERSION};

use crate::cli::Address;
use crate::Input;

/// How long connecting to one resolved address may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server has to greet us.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest server line accepted. The server's own limit applies to what clients send;
/// frames it sends can be longer (a maximal message plus JSON escaping), so allow a lot more
/// while still bounding memory.
const MAX_SERVER_LINE: usize = 16 * proto::DEFAULT_MAX_LINE * 8;

/// Why the client could not start talking to the server. Shown on stderr.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Name resolution failed.
    #[error("cannot resolve {addr}: {source}")]
    Resolve {
        /// The address given.
        addr: Address,
        /// Why.
        source: std::io::Error,
    },
    /// No resolved address accepted the connection.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address given.
        addr: Address,
        /// The last error.
        source: std::io::Error,
    },
    /// The server did not greet with a `hello` frame.
    #[error("the server at {addr} did not greet as a chat server: {reason}")]
    NoHello {
        /// The address given.
        addr: Address,
        /// What happened instead.
        reason: String,
    },
    /// The server speaks another protocol version.
    #[error(
        "the server at {addr} speaks protocol version {theirs}, this client speaks {PROTOCOL_VERSION}"
    )]
    Version {
        /// The address given.
        addr: Address,
        /// The server's version.
        theirs: u32,
    },
}

/// The writing half of the connection; the reading half lives in a thread.
pub struct Connection {
    stream: TcpStream,
    next_id: u64,
    /// The server's line limit, from its `hello`.
    max_line: usize,
}

impl Connection {
    /// Connects to `addr`, starts the reader thread (which sends [`Input::Frame`] and finally
    /// [`Input::Disconnected`] to `inbox`), and waits for the server's `hello`.
    ///
    /// # Errors
    /// A [`ConnectError`] naming the address and the reason.
    pub fn open(
        addr: &Address,
        inbox: Sender<Input>,
        inbox_rx: &Receiver<Input>,
    ) -> Result<Connection, ConnectError> {
        let resolved: Vec<_> = (addr.host.as_str(), addr.port)
            .to_socket_addrs()
            .map_err(|source| ConnectError::Resolve {
                addr: addr.clone(),
                source,
            })?
            .collect();
        let mut last_error = std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the name resolved to no address",
        );
        let mut stream = None;
        for sockaddr in resolved {
            match TcpStream::connect_timeout(&sockaddr, CONNECT_TIMEOUT) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last_error = e,
            }
        }
        let stream = stream.ok_or_else(|| ConnectError::Connect {
            addr: addr.clone(),
            source: last_error,
        })?;
        // Small request lines should leave at once.
        let _ = stream.set_nodelay(true);
        let reader = stream.try_clone().map_err(|source| ConnectError::Connect {
            addr: addr.clone(),
            source,
        })?;
        // The reader thread ends when the socket closes; the process exits without joining it.
        std::thread::Builder::new()
            .name("server-reader".into())
            .spawn(move || reader_loop(reader, inbox))
            .map_err(|source| ConnectError::Connect {
                addr: addr.clone(),
                source,
            })?;

        let no_hello = |reason: String| ConnectError::NoHello {
            addr: addr.clone(),
            reason,
        };
        let deadline = Instant::now() + HELLO_TIMEOUT;
        let first = inbox_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .map_err(|e| match e {
                RecvTimeoutError::Timeout => no_hello("no greeting within 10 seconds".into()),
                RecvTimeoutError::Disconnected => no_hello("the connection closed".into()),
            })?;
        match first {
            Input::Frame(ServerFrame::Hello(hello)) if hello.protocol == PROTOCOL_VERSION => {
                Ok(Connection {
                    stream,
                    next_id: 1,
                    max_line: hello.max_line,
                })
            }
            Input::Frame(ServerFrame::Hello(hello)) => Err(ConnectError::Version {
                addr: addr.clone(),
                theirs: hello.protocol,
            }),
            Input::Frame(ServerFrame::Reply {
                response: proto::Response::Error { message, .. },
                ..
            }) => Err(no_hello(format!("it refused: {message}"))),
            Input::Disconnected(reason) => Err(no_hello(reason)),
            _ => Err(no_hello("the first frame was not a greeting".into())),
        }
    }

    /// The local address of the server connection: the interface peers can reach us on.
    ///
    /// # Errors
    /// The socket has no local address (it was closed).
    pub fn local_ip(&self) -> std::io::Result<std::net::IpAddr> {
        Ok(self.stream.local_addr()?.ip())
    }

    /// The longest line the server accepts.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Sends `request` with a fresh id and returns the id.
    ///
    /// # Errors
    /// The socket write failed: the connection is gone.
    pub fn send(&mut self, request: Request) -> std::io::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let frame = ClientFrame {
            id: Some(id),
            request,
        };
        self.stream.write_all(frame.encode().as_bytes())?;
        Ok(id)
    }

    /// Closes both directions, so the reader thread ends.
    pub fn close(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Reads frames until the socket closes, then reports [`Input::Disconnected`].
fn reader_loop(mut stream: TcpStream, inbox: Sender<Input>) {
    let mut decoder = LineDecoder::new(MAX_SERVER_LINE);
    let mut buf = vec![0u8; 16 * 1024];
    let reason = 'read: loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break 'read "the server closed the connection".to_string(),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break 'read e.to_string(),
        };
        decoder.feed(&buf[..n]);
        while let Some(line) = decoder.next_line() {
            let line = match line {
                Ok(line) => line,
                Err(e) => break 'read format!("the server sent a {e}"),
            };
            if line.is_empty() {
                continue;
            }
            let frame = match ServerFrame::decode(line) {
                Ok(frame) => frame,
                Err(e) => match undecodable_reply(line) {
                    Some(frame) => frame,
                    // A newer server may send events this client does not know: skip them.
                    None if matches!(e, proto::DecodeError::UnknownType(_)) => continue,
                    None => {
                        eprintln!("chat: ignoring a frame from the server: {e}");
                        continue;
                    }
                },
            };
            if inbox.send(Input::Frame(frame)).is_err() {
                // The session is gone; nobody listens any more.
                return;
            }
        }
    };
    let _ = inbox.send(Input::Disconnected(reason));
}

/// A reply this client cannot decode (an error code or a response type newer than this
/// client), turned into a generic error reply so that the request waiting for it ends, and
/// the server's message is shown. `None` when the line carries no request id.
fn undecodable_reply(line: &[u8]) -> Option<ServerFrame> {
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    let id = value.get("id")?.as_u64()?;
    let message = value
        .get("message")
        .and_then(|m| m.as_str())
        .unwrap_or("the server sent a reply this client does not understand");
    Some(ServerFrame::Reply {
        id: Some(id),
        response: proto::Response::error(proto::ErrorCode::Internal, message),
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
            ServerFrame::decode(code),
            Ok(ServerFrame::Reply {
                response: proto::Response::Error {
                    code: proto::ErrorCode::Unknown,
                    ..
                },
                ..
            })
        ));
        let line = br#"{"id":4,"type":"brand_new_reply","message":"Try later"}"#;
        assert!(ServerFrame::decode(line).is_err());
        assert_eq!(
            undecodable_reply(line),
            Some(ServerFrame::Reply {
                id: Some(4),
                response: proto::Response::error(proto::ErrorCode::Internal, "Try later"),
            })
        );
        assert_eq!(undecodable_reply(br#"{"type":"new_event"}"#), None);
    }
}
