//! TLS for the blocking clients (`chat`'s server link and private links, the tests, anything
//! built on [`crate::client`]): [`Stream`], one byte stream that is plain TCP or TLS (rustls,
//! ring provider) and can be shared by a reader thread and a writer; certificate fingerprints
//! ([`fingerprint`]); PEM loading; and the certificate checks every client needs (a CA's roots,
//! or exactly one pinned certificate: [`PinnedCert`]).
//!
//! What it does not do: decide whom to trust. Trust on first use and the known-hosts file are
//! `chat`'s policy; the server side (asynchronous, on smol) lives in `chatd`'s transport.
//!
//! How a [`Stream::Tls`] is shared: the rustls connection sits under a mutex held only while
//! bytes are handed to or taken from it, never across a socket read or write. Encrypted bytes
//! leave through one lock on the writing socket, taken before they are drawn from the
//! connection and kept until they are written, so records reach the wire in order whichever
//! thread produced them; the reading socket has a lock of its own. A reader blocked in
//! `read(2)` therefore never stops a writer.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

pub use rustls;

/// The crypto provider every program of the workspace uses: ring. (rustls 0.23.48 deprecated
/// it for lacking post-quantum key exchange; aws-lc-rs, which has it, needs a C build chain of
/// its own that the project's machines and CI do not carry. Classical ECDHE/X25519 remains.)
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The SHA-256 fingerprint of a certificate (its DER bytes) as 64 lowercase hex digits: what
/// `chat` shows and pins, and what `private_listen` and `private_start` carry.
pub fn fingerprint(cert: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert);
    let mut out = String::with_capacity(64);
    for b in digest.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether `s` looks like a [`fingerprint`]: 64 hex digits (either case).
pub fn is_fingerprint(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A fingerprint in the colon-separated upper-case form people compare by eye
/// (`AB:CD:...`), as `ssh` and browsers show them.
pub fn display_fingerprint(fp: &str) -> String {
    fp.as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

/// Every certificate in the PEM file at `path`, in order (a full chain: the server's own
/// certificate first).
///
/// # Errors
/// The file cannot be read, holds a malformed PEM section, or holds no certificate; the
/// message says which.
pub fn load_certs(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| io::Error::new(ErrorKind::InvalidData, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            "no certificate (-----BEGIN CERTIFICATE-----) in it",
        ));
    }
    Ok(certs)
}

/// The private key in the PEM file at `path` (PKCS#8, PKCS#1 or SEC1).
///
/// # Errors
/// The file cannot be read or holds no private key.
pub fn load_key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        io::Error::new(
            ErrorKind::InvalidData,
            match e {
                rustls::pki_types::pem::Error::NoItemsFound => {
                    "no private key (-----BEGIN PRIVATE KEY-----) in it".to_string()
                }
                other => format!("bad PEM: {other}"),
            },
        )
    })
}

/// A client configuration that trusts the certificates of `roots` (CAs, or a self-signed
/// server certificate itself).
///
/// # Errors
/// A certificate of `roots` is not usable as a trust anchor.
pub fn client_config_with_roots(
    roots: &[CertificateDer<'static>],
) -> Result<rustls::ClientConfig, rustls::Error> {
    let mut store = rustls::RootCertStore::empty();
    for cert in roots {
        store.add(cert.clone())?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(store)
        .with_no_client_auth())
}

/// A client configuration that accepts exactly the certificate with fingerprint `expected`,
/// whatever its name or issuer (the private links: the server handed over the fingerprint).
pub fn pinned_client_config(expected: &str) -> Result<rustls::ClientConfig, rustls::Error> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCert::new(expected)))
        .with_no_client_auth())
}

/// Accepts a server certificate only if its [`fingerprint`] is the expected one. Signatures
/// in the handshake are still checked, so the peer must hold the certificate's key.
#[derive(Debug)]
pub struct PinnedCert {
    expected: String,
    signatures: Signatures,
}

impl PinnedCert {
    /// A verifier for the certificate whose fingerprint is `expected` (either case).
    pub fn new(expected: &str) -> PinnedCert {
        PinnedCert {
            expected: expected.to_ascii_lowercase(),
            signatures: Signatures::default(),
        }
    }
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = fingerprint(end_entity);
        if got == self.expected {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the peer's certificate (SHA-256 {got}) is not the one the server announced ({})",
                self.expected
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.schemes()
    }
}

/// The handshake signature checks every certificate verifier of the workspace does the same
/// way, with [`provider`]'s algorithms: what a custom `ServerCertVerifier` (a pinned
/// certificate, trust on first use) delegates to, whatever it decides about the certificate.
#[derive(Debug, Clone)]
pub struct Signatures(Arc<CryptoProvider>);

impl Default for Signatures {
    fn default() -> Self {
        Signatures(provider())
    }
}

impl Signatures {
    /// The same checks with `provider`'s algorithms.
    pub fn with(provider: Arc<CryptoProvider>) -> Self {
        Signatures(provider)
    }

    /// For [`ServerCertVerifier::verify_tls12_signature`].
    ///
    /// # Errors
    /// The signature does not verify.
    pub fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    /// For [`ServerCertVerifier::verify_tls13_signature`].
    ///
    /// # Errors
    /// The signature does not verify.
    pub fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    /// For [`ServerCertVerifier::supported_verify_schemes`].
    pub fn schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The name a server is checked against: an IP address or a DNS name.
///
/// # Errors
/// `host` is neither.
pub fn server_name(host: &str) -> io::Result<ServerName<'static>> {
    ServerName::try_from(host.to_string()).map_err(|_| {
        io::Error::new(
            ErrorKind::InvalidInput,
            format!("{host:?} is not a valid host name for TLS"),
        )
    })
}

/// Raw bytes read from the socket at a time: small enough that what one read decrypts to
/// always fits rustls' buffer of received plaintext (16 KiB), which is empty when we read.
const RAW_CHUNK: usize = 8 * 1024;

/// A blocking byte stream, plain TCP or TLS over TCP. Clones ([`Stream::try_clone`]) share
/// the connection, so one thread can read while another writes; reads and writes go through
/// `&Stream` ([`Read`] and [`Write`] are implemented for it).
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP.
    Tls(Arc<TlsShared>),
}

/// The shared state of a [`Stream::Tls`].
pub struct TlsShared {
    conn: Mutex<rustls::Connection>,
    /// The reading socket and its buffer; locked for a whole read.
    reading: Mutex<(TcpStream, Vec<u8>)>,
    /// The writing socket; locked from drawing encrypted bytes out of `conn` until they are
    /// written.
    writing: Mutex<TcpStream>,
    /// For addresses, options and shutdown (no lock needed).
    socket: TcpStream,
}

impl std::fmt::Debug for TlsShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsShared")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these cannot leave them half-updated in a way that matters
    // more than the broken connection it signals.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, e)
}

impl Stream {
    /// TLS over `socket` as the client of `config`, checking the server as `name`. The
    /// handshake runs as data flows, or at once with [`Stream::handshake`].
    ///
    /// # Errors
    /// The connection could not be set up (a bad configuration) or the socket duplicated.
    pub fn tls_client(
        socket: TcpStream,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<Stream> {
        let conn = rustls::ClientConnection::new(config, name).map_err(tls_error)?;
        Stream::tls(socket, conn.into())
    }

    /// TLS over `socket` as the server of `config` (a private listener).
    ///
    /// # Errors
    /// As [`Stream::tls_client`].
    pub fn tls_server(socket: TcpStream, config: Arc<rustls::ServerConfig>) -> io::Result<Stream> {
        let conn = rustls::ServerConnection::new(config).map_err(tls_error)?;
        Stream::tls(socket, conn.into())
    }

    fn tls(socket: TcpStream, mut conn: rustls::Connection) -> io::Result<Stream> {
        // Plaintext written before the handshake ends waits in rustls; we drain its output
        // after every write, so its own limit would only turn large writes into errors.
        conn.set_buffer_limit(None);
        Ok(Stream::Tls(Arc::new(TlsShared {
            conn: Mutex::new(conn),
            reading: Mutex::new((socket.try_clone()?, vec![0; RAW_CHUNK])),
            writing: Mutex::new(socket.try_clone()?),
            socket,
        })))
    }

    /// Whether this is a TLS stream.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// Another handle on the same connection.
    ///
    /// # Errors
    /// The socket could not be duplicated (plain TCP).
    pub fn try_clone(&self) -> io::Result<Stream> {
        match self {
            Stream::Tcp(s) => s.try_clone().map(Stream::Tcp),
            Stream::Tls(t) => Ok(Stream::Tls(Arc::clone(t))),
        }
    }

    /// The underlying socket (addresses, options).
    pub fn socket(&self) -> &TcpStream {
        match self {
            Stream::Tcp(s) => s,
            Stream::Tls(t) => &t.socket,
        }
    }

    /// The local address.
    ///
    /// # Errors
    /// The socket is closed.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket().local_addr()
    }

    /// The peer's address.
    ///
    /// # Errors
    /// The socket is closed.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket().peer_addr()
    }

    /// Sets the socket's read timeout (reads then fail with `WouldBlock` or `TimedOut`, and
    /// the stream stays usable).
    ///
    /// # Errors
    /// As [`TcpStream::set_read_timeout`].
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.socket().set_read_timeout(t)
    }

    /// Sets the socket's write timeout.
    ///
    /// # Errors
    /// As [`TcpStream::set_write_timeout`].
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.socket().set_write_timeout(t)
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    /// As [`TcpStream::set_nodelay`].
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.socket().set_nodelay(on)
    }

    /// Completes the TLS handshake before `deadline` (nothing to do for plain TCP).
    ///
    /// # Errors
    /// The peer's certificate was refused (the verifier's reason, kind `InvalidData`), the
    /// connection broke, or the deadline passed (`TimedOut`).
    pub fn handshake(&self, deadline: Instant) -> io::Result<()> {
        let Stream::Tls(t) = self else {
            return Ok(());
        };
        let mut reading = lock(&t.reading);
        let result = (|| loop {
            t.flush()?;
            if !lock(&t.conn).is_handshaking() {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    ErrorKind::TimedOut,
                    "the TLS handshake did not finish in time",
                ));
            }
            reading.0.set_read_timeout(Some(left))?;
            match t.read_raw(&mut reading) {
                Ok(false) => {}
                Ok(true) => {
                    if lock(&t.conn).is_handshaking() {
                        return Err(io::Error::new(
                            ErrorKind::UnexpectedEof,
                            "the connection closed during the TLS handshake",
                        ));
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(e),
            }
        })();
        let reset = reading.0.set_read_timeout(None);
        result.and(reset)
    }

    /// The SHA-256 fingerprint of the peer's certificate, once the handshake has got that far
    /// (`None` for plain TCP, or a peer that showed none).
    pub fn peer_fingerprint(&self) -> Option<String> {
        let Stream::Tls(t) = self else {
            return None;
        };
        let conn = lock(&t.conn);
        conn.peer_certificates()
            .and_then(|certs| certs.first())
            .map(|c| fingerprint(c))
    }

    /// Shuts one or both directions down. Over TLS, closing the writing side first sends
    /// `close_notify` (best effort, within the write timeout).
    ///
    /// # Errors
    /// As [`TcpStream::shutdown`].
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if let Stream::Tls(t) = self {
            if how != Shutdown::Read {
                // Another thread may be stuck writing to a peer that stopped reading: then the
                // alert is skipped rather than waited for.
                if let Ok(mut writing) = t.writing.try_lock() {
                    let mut out = Vec::new();
                    {
                        let mut conn = lock(&t.conn);
                        conn.send_close_notify();
                        while conn.wants_write() {
                            if conn.write_tls(&mut out).is_err() {
                                break;
                            }
                        }
                    }
                    let _ = writing.write_all(&out);
                }
            }
        }
        self.socket().shutdown(how)
    }
}

impl TlsShared {
    /// Writes out whatever the connection has to send (handshake messages, alerts, records).
    /// Takes the writing lock only when there is something to send, so a reader is not held
    /// up by a writer waiting on a peer that does not read.
    fn flush(&self) -> io::Result<()> {
        if !lock(&self.conn).wants_write() {
            return Ok(());
        }
        let mut writing = lock(&self.writing);
        self.flush_locked(&mut writing)
    }

    fn flush_locked(&self, writing: &mut TcpStream) -> io::Result<()> {
        let mut out = Vec::new();
        {
            let mut conn = lock(&self.conn);
            while conn.wants_write() {
                conn.write_tls(&mut out)?;
            }
        }
        if out.is_empty() {
            return Ok(());
        }
        writing.write_all(&out)
    }

    /// One read from the socket, handed to rustls; `true` at the end of the stream (rustls
    /// then knows it too).
    fn read_raw(&self, reading: &mut (TcpStream, Vec<u8>)) -> io::Result<bool> {
        let (socket, buf) = reading;
        let n = socket.read(buf)?;
        let mut data = &buf[..n];
        let result = {
            let mut conn = lock(&self.conn);
            (|| {
                if n == 0 {
                    conn.read_tls(&mut io::empty())?;
                    conn.process_new_packets().map_err(tls_error)?;
                    return Ok(true);
                }
                while !data.is_empty() {
                    conn.read_tls(&mut data)?;
                    conn.process_new_packets().map_err(tls_error)?;
                }
                Ok(false)
            })()
        };
        if result.is_err() {
            // rustls queued an alert telling the peer why: send it, best effort.
            let _ = self.flush();
        }
        result
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut reading = lock(&self.reading);
        loop {
            match lock(&self.conn).reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // The peer closed the socket without `close_notify`. Frames are lines, so a
                // cut-off line is recognisable as such: treat it as the end of the stream.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            self.flush()?;
            if self.read_raw(&mut reading)? {
                // The end of the stream: rustls now answers the read above with `Ok(0)` or
                // `UnexpectedEof`.
                continue;
            }
        }
    }

    fn write(&self, buf: &[u8]) -> io::Result<()> {
        let mut writing = lock(&self.writing);
        {
            let mut conn = lock(&self.conn);
            conn.writer().write_all(buf)?;
        }
        self.flush_locked(&mut writing)
    }
}

impl Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match *self {
            Stream::Tcp(s) => {
                let mut s = s;
                s.read(buf)
            }
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match *self {
            Stream::Tcp(s) => {
                let mut s = s;
                s.write(buf)
            }
            Stream::Tls(t) => t.write(buf).map(|()| buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match *self {
            Stream::Tcp(_) => Ok(()),
            Stream::Tls(t) => t.flush(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

#[cfg(test)]
mod tests;
