//! [`ClientError`]: every way talking to a server can fail, for all of [`super`].

use crate::codec::LineError;
use crate::frames::{ErrorCode, ServerFrame, PROTOCOL_VERSION};

/// Why talking to the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The address could not be resolved.
    #[error("cannot resolve the address: {0}")]
    Resolve(#[source] std::io::Error),
    /// No address accepted the connection (the error is the last one seen).
    #[error("cannot connect: {0}")]
    Connect(#[source] std::io::Error),
    /// The TLS handshake failed: the server's certificate was refused (the reason says why),
    /// or the server does not speak TLS on that port.
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] std::io::Error),
    /// The server did not greet with a `hello` frame; the text says what happened instead.
    #[error("the server did not greet as a chat server: {0}")]
    NoHello(String),
    /// The server's `hello` names another protocol version.
    #[error("the server speaks protocol version {theirs}, this client speaks {PROTOCOL_VERSION}")]
    Version {
        /// The server's version.
        theirs: u32,
    },
    /// The server answered with an error: instead of its greeting (for example
    /// `too_many_connections`), or to a request of [`super::Client::login`].
    #[error("the server refused: {message} ({code})")]
    Refused {
        /// The error code.
        code: ErrorCode,
        /// The server's text.
        message: String,
    },
    /// Writing to the socket failed: the connection is gone.
    #[error("cannot send: {0}")]
    Send(#[source] std::io::Error),
    /// The server closed the connection (a line cut off by the close is not a frame).
    #[error("the server closed the connection")]
    Closed,
    /// Reading from the socket failed.
    #[error("the connection broke: {0}")]
    Lost(#[source] std::io::Error),
    /// The server sent a line longer than [`super::MAX_SERVER_LINE`].
    #[error("the server sent a {0}")]
    LineTooLong(#[source] LineError),
    /// Nothing arrived before the deadline.
    #[error("nothing from the server before the deadline")]
    Timeout,
    /// A frame that makes no sense at this point (a reply to another request, a reply while
    /// waiting for an event, a second `hello`, or an answer of the wrong type).
    #[error("unexpected frame from the server: {0:?}")]
    Unexpected(Box<ServerFrame>),
}
