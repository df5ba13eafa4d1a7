//! The connection to `chatd` (TCP, or TLS with `--tls`), over [`proto::client`]: resolving
//! the address, connecting, the certificate check ([`crate::trust`]), the `hello` check, and
//! the reader thread that feeds server frames into the session's inbox
//! ([`crate::inbox::server_sink`]). Requests go out through [`proto::client::Writer`] (fresh
//! ids); this module only adds the user's address to the errors.
//!
//! It does not interpret replies or events; [`crate::session`] does.

use std::net::ToSocketAddrs;
use std::sync::mpsc::Sender;
use std::time::Duration;

use proto::client::{ClientError, Security, Writer};
use proto::PROTOCOL_VERSION;

use crate::cli::Address;
use crate::inbox::{server_sink, Input};
use crate::trust::{self, TlsOptions, TrustError};

/// How long connecting to one resolved address may take, and how long the server then has to
/// greet us.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// The TLS handshake failed.
    #[error("TLS with {addr} failed: {source}{hint}")]
    Tls {
        /// The address given.
        addr: Address,
        /// Why.
        source: std::io::Error,
        /// A hint when the server does not seem to speak TLS there.
        hint: &'static str,
    },
    /// The server's certificate is not trusted.
    #[error("{0}")]
    Trust(#[from] TrustError),
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

impl ConnectError {
    fn new(addr: &Address, error: ClientError) -> ConnectError {
        let addr = addr.clone();
        match error {
            ClientError::Resolve(source) => ConnectError::Resolve { addr, source },
            ClientError::Connect(source) => ConnectError::Connect { addr, source },
            ClientError::Version { theirs } => ConnectError::Version { addr, theirs },
            ClientError::Refused { message, .. } => ConnectError::NoHello {
                addr,
                reason: format!("it refused: {message}"),
            },
            ClientError::NoHello(reason) => ConnectError::NoHello { addr, reason },
            ClientError::Tls(source) => {
                let text = source.to_string();
                let hint = if text.contains("corrupt message") || text.contains("closed") {
                    " (is that the server's TLS port?)"
                } else {
                    ""
                };
                ConnectError::Tls { addr, source, hint }
            }
            other => ConnectError::NoHello {
                addr,
                reason: other.to_string(),
            },
        }
    }
}

/// Connects to `addr` (over TLS when `tls` is given, the server's certificate checked as
/// [`crate::trust`] says), checks the server's `hello`, and starts the reader thread (which
/// sends [`Input::Frame`] and finally [`Input::Disconnected`] to `inbox`). Returns the writing
/// half.
///
/// # Errors
/// A [`ConnectError`] naming the address and the reason.
pub fn open(
    addr: &Address,
    tls: Option<&TlsOptions>,
    inbox: Sender<Input>,
) -> Result<Writer, ConnectError> {
    let resolved: Vec<_> = (addr.host.as_str(), addr.port)
        .to_socket_addrs()
        .map_err(|source| ConnectError::Resolve {
            addr: addr.clone(),
            source,
        })?
        .collect();
    if resolved.is_empty() {
        return Err(ConnectError::Connect {
            addr: addr.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the name resolved to no address",
            ),
        });
    }
    let prepared = tls.map(|opts| trust::prepare(addr, opts)).transpose()?;
    let security = prepared
        .as_ref()
        .map_or(Security::Plain, |p| p.security.clone());
    let conn = proto::client::connect_with(&resolved, CONNECT_TIMEOUT, &security).map_err(|e| {
        match (ConnectError::new(addr, e), tls) {
            // A TLS port waits for the client to speak first.
            (ConnectError::NoHello { addr, reason }, None) if reason.starts_with("no greeting") => {
                ConnectError::NoHello {
                    addr,
                    reason: format!("{reason} (if that is a TLS port, use --tls)"),
                }
            }
            (e, _) => e,
        }
    })?;
    if let (Some(opts), Some(prepared)) = (tls, &prepared) {
        // Nothing has been sent yet: a refusal here leaks nothing.
        let fingerprint = conn.fingerprint.as_deref().unwrap_or_default();
        if let Err(e) = trust::check(addr, opts, prepared, fingerprint) {
            conn.writer.shutdown();
            return Err(e.into());
        }
    }
    // The reader thread ends when the socket closes; the process exits without joining it.
    conn.reader
        .spawn("server-reader", server_sink(inbox))
        .map_err(|source| ConnectError::Connect {
            addr: addr.clone(),
            source,
        })?;
    Ok(conn.writer)
}
