//! Private (peer-to-peer) messaging, the socket side: this client's private listener, the token
//! handshake of `proto::peer` in both roles, and the threads that read an established peer
//! connection into the session's inbox.
//!
//! The server introduces two clients with the same one-time token (`private_start`). The
//! requester connects to the target's listener and sends `auth`; the target answers `auth_ok`.
//! Everything that reaches the session from here is a [`PeerInput`], tagged with the link id
//! the session chose, so a late report about an old link is recognised and ignored.
//!
//! This module decides nothing about what users see, and keeps no session state beyond the
//! tokens the listener is told to expect: [`crate::session`] owns the sessions.
//!
//! When the server link is TLS, so are private links: the listener serves TLS with this
//! client's own certificate ([`PeerTls`], made at start), whose fingerprint the server hands
//! to requesters, and the requester accepts only the certificate with that fingerprint
//! ([`Dial::fingerprint`]). That is all of TLS here: once set up, a [`Stream`] reads and writes
//! alike either way.
//!
//! Every read is bounded: lines by [`LineDecoder`], the handshake by deadlines. Connections
//! that have not yet presented an expected token are bounded in number and time ([`Pending`]):
//! at most [`MAX_PENDING`], each with [`AUTH_TIMEOUT`] to send its `auth`; a new connection
//! beyond the limit closes the oldest, so junk held open cannot keep the expected peer out,
//! and a requester whose connection was closed unanswered tries again until its deadline. A
//! connection that does not present a token it was given, a token a second time, or junk, is
//! dropped without a word to the user.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use proto::peer::PeerFrame;
use proto::tls::{rustls, Stream};
use proto::LineDecoder;

/// How long a peer has to authenticate, counted from the connect.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the listening side waits, after reading an `auth`, for the server's
/// `private_start` that announces its token: it travels on another socket and may come a
/// moment after the requester's connection. An unknown token is refused after this.
const TOKEN_WAIT: Duration = Duration::from_secs(2);
/// How long the listening side waits for the requester to connect after `private_start`.
/// Longer than the requester's connect plus handshake, so the requester gives up first.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(12);
/// How long connecting to a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A write to a peer that takes longer than this ends the session (the peer stopped reading).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection to the listener has to send its `auth` line, counted from the
/// accept. The requester sends it at once.
const AUTH_TIMEOUT: Duration = Duration::from_secs(3);
/// Connections to the listener that have not presented an expected token yet; a new one
/// beyond this closes the oldest.
const MAX_PENDING: usize = 32;
/// Handshake threads alive at once (pending ones, closed ones still ending, claimed ones
/// answering); a connection beyond this is closed at once. A safety net: closed connections
/// end their threads promptly, so [`MAX_PENDING`] is what applies.
const MAX_HANDSHAKE_THREADS: usize = 4 * MAX_PENDING;
/// How long a requester waits before connecting again after the listener closed its
/// connection without an answer (it may have been closed to make room).
const RETRY_PAUSE: Duration = Duration::from_millis(150);

/// Where everything that happens on private links goes (the session's inbox); cloned into
/// every thread of this module. `false` from the function means nobody listens any more.
#[derive(Clone)]
pub struct PeerSink(Arc<dyn Fn(PeerInput) -> bool + Send + Sync>);

impl PeerSink {
    /// A sink that hands each [`PeerInput`] to `deliver`.
    pub fn new(deliver: impl Fn(PeerInput) -> bool + Send + Sync + 'static) -> PeerSink {
        PeerSink(Arc::new(deliver))
    }

    /// Delivers `input`; `false` when nobody listens any more.
    fn send(&self, input: PeerInput) -> bool {
        (self.0)(input)
    }
}

/// What happened on a private link, for the session.
#[derive(Debug)]
pub struct PeerInput {
    /// The other user.
    pub peer: String,
    /// The link id the session gave when it started setting this link up.
    pub link: u64,
    /// What happened.
    pub what: PeerEvent,
}

/// One thing that happened on a private link.
#[derive(Debug)]
pub enum PeerEvent {
    /// The handshake succeeded (either role): the session can start.
    Connected(PeerStream),
    /// Requester: the peer could not be reached or did not authenticate. The reason is for
    /// diagnostics.
    Failed(String),
    /// Target: the requester did not connect within [`SETUP_TIMEOUT`], or its connection
    /// broke after presenting the token.
    SetupFailed,
    /// A private message.
    Text(String),
    /// The peer sent `stop` (`stopprivate`).
    Stop,
    /// The connection closed or broke without a `stop`.
    Closed,
}

/// An authenticated peer connection, with whatever was read past the handshake.
#[derive(Debug)]
pub struct PeerStream {
    stream: Stream,
    decoder: LineDecoder,
}

/// What the private listener serves TLS with.
pub struct PeerTls {
    /// The configuration (this client's own key and certificate).
    pub config: Arc<rustls::ServerConfig>,
    /// The certificate's SHA-256 fingerprint, sent to the server with `private_listen`.
    pub fingerprint: String,
}

/// A token the listener accepts once, from one user.
struct Expected {
    peer: String,
    link: u64,
}

/// The tokens the listener expects, and this client's user name for `auth_ok`.
#[derive(Default)]
struct Registry {
    /// The lock is held only for map lookups and updates.
    state: Mutex<RegistryState>,
    /// Signalled when a token is added, for handshakes that arrived before it.
    added: Condvar,
}

#[derive(Default)]
struct RegistryState {
    me: String,
    tokens: HashMap<String, Expected>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, RegistryState> {
        // A panic under this lock cannot leave the map inconsistent (single inserts/removes).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `token` for `user`, waiting until `deadline` for it to be announced. `None` when
    /// it is unknown by then, belongs to someone else (then it stays, for its owner), or the
    /// connection was closed meanwhile (`closed`).
    fn claim(
        &self,
        token: &str,
        user: &str,
        deadline: Instant,
        closed: &AtomicBool,
    ) -> Option<(String, u64)> {
        let mut st = self.lock();
        loop {
            if closed.load(Ordering::Acquire) {
                return None;
            }
            if let Some(expected) = st.tokens.get(token) {
                if expected.peer != user {
                    return None;
                }
                let expected = st.tokens.remove(token)?;
                return Some((expected.peer, expected.link));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            // Woken by a new token, or soon enough to notice a closed connection.
            st = self
                .added
                .wait_timeout(st, left.min(Duration::from_millis(50)))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// This client's private listener.
pub struct Listener {
    port: u16,
    fingerprint: Option<String>,
    registry: Arc<Registry>,
    inbox: PeerSink,
}

impl Listener {
    /// Listens on `ip`, any free port, and starts the accept thread, which hands
    /// authenticated connections to `inbox`. Lines from peers are limited to `max_line` bytes
    /// (the server's limit, which senders keep to as well); a longer one drops the connection.
    /// With `tls`, every connection is TLS with that certificate.
    ///
    /// # Errors
    /// The socket could not be bound or the thread not started.
    pub fn bind(
        ip: IpAddr,
        max_line: usize,
        inbox: PeerSink,
        tls: Option<PeerTls>,
    ) -> std::io::Result<Listener> {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0))?;
        let port = listener.local_addr()?.port();
        let registry = Arc::new(Registry::default());
        let accept_registry = Arc::clone(&registry);
        let accept_inbox = inbox.clone();
        let (config, fingerprint) = match tls {
            Some(t) => (Some(t.config), Some(t.fingerprint)),
            None => (None, None),
        };
        // Detached: it blocks in accept(2) until the process exits.
        std::thread::Builder::new()
            .name("private-listener".into())
            .spawn(move || {
                accept_loop(listener, max_line, accept_registry, accept_inbox, config)
            })?;
        Ok(Listener {
            port,
            fingerprint,
            registry,
            inbox,
        })
    }

    /// The port to announce to the server.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The fingerprint of the listener's certificate, when it serves TLS.
    pub fn fingerprint(&self) -> Option<&str> {
        self.fingerprint.as_deref()
    }

    /// The user name this client is logged in as, sent in `auth_ok`.
    pub fn set_me(&self, user: &str) {
        self.registry.lock().me = user.to_string();
    }

    /// Accept one connection from `peer` presenting `token`, as `link`. If none comes within
    /// [`SETUP_TIMEOUT`], the token is forgotten and [`PeerEvent::SetupFailed`] reported.
    pub fn expect(&self, token: &str, peer: &str, link: u64) {
        self.registry.lock().tokens.insert(
            token.to_string(),
            Expected {
                peer: peer.to_string(),
                link,
            },
        );
        self.registry.added.notify_all();
        let registry = Arc::clone(&self.registry);
        let inbox = self.inbox.clone();
        let (token, peer) = (token.to_string(), peer.to_string());
        // A timer: sleeps, then withdraws the token unless it was used. If the thread cannot
        // start, the token simply stays valid until the session forgets it.
        let _ = std::thread::Builder::new()
            .name("private-setup-timer".into())
            .spawn(move || {
                std::thread::sleep(SETUP_TIMEOUT);
                let unused = registry.lock().tokens.remove(&token).is_some();
                if unused {
                    let _ = inbox.send(PeerInput {
                        peer,
                        link,
                        what: PeerEvent::SetupFailed,
                    });
                }
            });
    }

    /// Withdraws every token expected from `peer`.
    pub fn forget(&self, peer: &str) {
        self.registry.lock().tokens.retain(|_, e| e.peer != peer);
    }
}

/// The listener's connections that have not presented an expected token yet, oldest first,
/// at most [`MAX_PENDING`]. Admitting one beyond that closes the oldest: junk, however much of
/// it is held open, only ever holds the newest slots, and is gone [`AUTH_TIMEOUT`] after it
/// came, so the expected peer always gets in.
#[derive(Default)]
struct Pending {
    /// Held only for queue updates.
    state: Mutex<PendingState>,
}

#[derive(Default)]
struct PendingState {
    next_id: u64,
    conns: std::collections::VecDeque<PendingConn>,
}

struct PendingConn {
    id: u64,
    /// A handle on the socket, to close it.
    stream: TcpStream,
    closed: Arc<AtomicBool>,
}

/// A connection's place in [`Pending`]; leaves it when dropped or promoted.
struct Admitted {
    pending: Arc<Pending>,
    id: u64,
    /// Set when the connection was closed to make room.
    closed: Arc<AtomicBool>,
}

impl Pending {
    fn lock(&self) -> MutexGuard<'_, PendingState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits `stream`, closing the oldest pending connections beyond [`MAX_PENDING`].
    fn admit(self: &Arc<Self>, stream: &TcpStream) -> std::io::Result<Admitted> {
        let handle = stream.try_clone()?;
        let closed = Arc::new(AtomicBool::new(false));
        let mut st = self.lock();
        while st.conns.len() >= MAX_PENDING {
            if let Some(old) = st.conns.pop_front() {
                old.closed.store(true, Ordering::Release);
                let _ = old.stream.shutdown(Shutdown::Both);
            }
        }
        let id = st.next_id;
        st.next_id += 1;
        st.conns.push_back(PendingConn {
            id,
            stream: handle,
            closed: Arc::clone(&closed),
        });
        Ok(Admitted {
            pending: Arc::clone(self),
            id,
            closed,
        })
    }

    fn remove(&self, id: u64) {
        self.lock().conns.retain(|c| c.id != id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().conns.len()
    }
}

impl Admitted {
    /// The connection presented an expected token: it no longer counts, and is never closed
    /// to make room.
    fn promote(&self) {
        self.pending.remove(self.id);
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.pending.remove(self.id);
    }
}

/// Counts a handshake thread for as long as it lives.
struct ThreadSlot(Arc<AtomicUsize>);

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn accept_loop(
    listener: TcpListener,
    max_line: usize,
    registry: Arc<Registry>,
    inbox: PeerSink,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let threads = Arc::new(AtomicUsize::new(0));
    let pending = Arc::new(Pending::default());
    loop {
        let stream = match listener.accept() {
            // Over TLS the handshake runs with the first read, under the same deadline.
            Ok((stream, _)) => match &tls {
                None => Stream::Tcp(stream),
                Some(config) => match Stream::tls_server(stream, Arc::clone(config)) {
                    Ok(stream) => stream,
                    Err(_) => continue,
                },
            },
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => {
                // Out of file descriptors or similar: do not spin while it lasts.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if threads.fetch_add(1, Ordering::AcqRel) >= MAX_HANDSHAKE_THREADS {
            threads.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        let slot = ThreadSlot(Arc::clone(&threads));
        let Ok(admitted) = pending.admit(stream.socket()) else {
            continue;
        };
        let registry = Arc::clone(&registry);
        let inbox = inbox.clone();
        let spawned = std::thread::Builder::new()
            .name("private-handshake".into())
            .spawn(move || {
                let _slot = slot;
                if let Some(input) = answer_handshake(stream, max_line, &registry, &admitted) {
                    let _ = inbox.send(input);
                }
            });
        // If the thread cannot start, the closure (and the stream and slots in it) is dropped.
        drop(spawned);
    }
}

/// Listening side: reads the `auth`, claims its token, answers `auth_ok`. `None` drops the
/// connection unnoticed (no valid token); once a token is claimed, the outcome is reported
/// either way, since the token cannot be used again.
fn answer_handshake(
    stream: Stream,
    max_line: usize,
    registry: &Registry,
    admitted: &Admitted,
) -> Option<PeerInput> {
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let mut decoder = LineDecoder::new(max_line);
    let auth_deadline = Instant::now() + AUTH_TIMEOUT;
    let (user, token) = match read_frame(&stream, &mut decoder, Some(auth_deadline))? {
        PeerFrame::Auth { user, token } => (user, token),
        _ => return None,
    };
    let (peer, link) = registry.claim(
        &token,
        &user,
        deadline.min(Instant::now() + TOKEN_WAIT),
        &admitted.closed,
    )?;
    admitted.promote();
    let me = registry.lock().me.clone();
    let what = match accept_claimed(&stream, &me) {
        Ok(()) => PeerEvent::Connected(PeerStream { stream, decoder }),
        Err(_) => PeerEvent::SetupFailed,
    };
    Some(PeerInput { peer, link, what })
}

/// Answers `auth_ok` as `me` and readies the stream for the session.
fn accept_claimed(stream: &Stream, me: &str) -> std::io::Result<()> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut writer = stream;
    writer.write_all(
        proto::encode_line(&PeerFrame::AuthOk {
            user: me.to_string(),
        })
        .as_bytes(),
    )?;
    stream.set_read_timeout(None)?;
    let _ = stream.set_nodelay(true);
    Ok(())
}

/// Where and as whom the requester connects.
pub struct Dial {
    /// `host:port` from `private_start`.
    pub addr: String,
    /// The one-time token.
    pub token: String,
    /// This client's user name.
    pub me: String,
    /// The user expected on the other end.
    pub peer: String,
    /// The link id.
    pub link: u64,
    /// The line limit (see [`Listener::bind`]).
    pub max_line: usize,
    /// From `private_start`: the peer's listener serves TLS with the certificate of this
    /// SHA-256 fingerprint, and no other is accepted. `None`: plain TCP.
    pub fingerprint: Option<String>,
}

/// Requester side: connects, authenticates with the token and checks that the listener is the
/// expected peer. Runs on its own thread; the outcome goes to `inbox`.
pub fn connect(dial: Dial, inbox: PeerSink) {
    let (peer, link) = (dial.peer.clone(), dial.link);
    let thread_inbox = inbox.clone();
    let spawned = std::thread::Builder::new()
        .name("private-connect".into())
        .spawn(move || {
            let what = match handshake_with_retries(&dial) {
                Ok(stream) => PeerEvent::Connected(stream),
                Err(reason) => PeerEvent::Failed(format!("{}: {reason}", dial.addr)),
            };
            let _ = thread_inbox.send(PeerInput {
                peer: dial.peer,
                link: dial.link,
                what,
            });
        });
    if let Err(e) = spawned {
        let _ = inbox.send(PeerInput {
            peer,
            link,
            what: PeerEvent::Failed(format!("cannot start a thread: {e}")),
        });
    }
}

/// Why a handshake failed, and whether trying again may help.
enum DialError {
    /// The listener closed the connection without an answer: it may have closed it to make
    /// room among junk connections, or not have known the token yet. Worth another try.
    Unanswered(String),
    /// Anything else (cannot resolve or connect, a wrong peer): final.
    Final(String),
}

/// [`handshake`], again after [`RETRY_PAUSE`] each time the listener closed the connection
/// unanswered, until the connect-and-handshake deadline.
fn handshake_with_retries(dial: &Dial) -> Result<PeerStream, String> {
    let give_up = Instant::now() + CONNECT_TIMEOUT + HANDSHAKE_TIMEOUT;
    loop {
        match handshake(dial) {
            Ok(stream) => return Ok(stream),
            Err(DialError::Unanswered(_)) if Instant::now() + RETRY_PAUSE < give_up => {
                std::thread::sleep(RETRY_PAUSE);
            }
            Err(DialError::Unanswered(reason) | DialError::Final(reason)) => return Err(reason),
        }
    }
}

fn handshake(dial: &Dial) -> Result<PeerStream, DialError> {
    use DialError::{Final, Unanswered};
    let deadline = Instant::now() + CONNECT_TIMEOUT + HANDSHAKE_TIMEOUT;
    let resolved: Vec<SocketAddr> = dial
        .addr
        .to_socket_addrs()
        .map_err(|e| Final(format!("cannot resolve: {e}")))?
        .collect();
    let mut last = String::from("the address resolved to nothing");
    let mut stream = None;
    for sockaddr in resolved {
        match TcpStream::connect_timeout(&sockaddr, CONNECT_TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    let stream = stream.ok_or(Final(last))?;
    let _ = stream.set_nodelay(true);
    let stream = match &dial.fingerprint {
        None => Stream::Tcp(stream),
        Some(fingerprint) => {
            let config =
                proto::tls::pinned_client_config(fingerprint).map_err(|e| Final(e.to_string()))?;
            // The name is not checked: the fingerprint is.
            let name = proto::tls::server_name("chat-peer").map_err(|e| Final(e.to_string()))?;
            let stream = Stream::tls_client(stream, Arc::new(config), name)
                .map_err(|e| Final(e.to_string()))?;
            stream
                .handshake(deadline)
                .map_err(|e| Final(format!("TLS: {e}")))?;
            stream
        }
    };
    stream
        .set_write_timeout(Some(WRITE_TIMEOUT))
        .map_err(|e| Final(e.to_string()))?;
    let auth = PeerFrame::Auth {
        user: dial.me.clone(),
        token: dial.token.clone(),
    };
    let mut writer = &stream;
    writer
        .write_all(proto::encode_line(&auth).as_bytes())
        .map_err(|e| Unanswered(e.to_string()))?;
    let mut decoder = LineDecoder::new(dial.max_line);
    match read_frame(&stream, &mut decoder, Some(deadline)) {
        Some(PeerFrame::AuthOk { user }) if user == dial.peer => {}
        Some(PeerFrame::AuthOk { user }) => {
            return Err(Final(format!(
                "the listener is {user:?}, not {:?}",
                dial.peer
            )));
        }
        Some(_) => return Err(Final("the listener did not answer auth_ok".to_string())),
        None if Instant::now() < deadline => {
            return Err(Unanswered(
                "the listener refused the token or closed".to_string(),
            ))
        }
        None => return Err(Final("the listener did not answer in time".to_string())),
    }
    stream
        .set_read_timeout(None)
        .map_err(|e| Final(e.to_string()))?;
    Ok(PeerStream { stream, decoder })
}

/// Reads one frame, until `deadline` if given. `None` on end of stream, a read error, the
/// deadline, an over-long line or a line that is no peer frame.
fn read_frame(
    mut stream: &Stream,
    decoder: &mut LineDecoder,
    deadline: Option<Instant>,
) -> Option<PeerFrame> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(line) = decoder.next_line() {
            let line = line.ok()?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return serde_json::from_slice(line).ok();
        }
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            stream.set_read_timeout(Some(left)).ok()?;
        }
        match stream.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => decoder.feed(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// The session's end of an established private link: writes frames; a reader thread reports
/// what arrives.
pub struct Link {
    /// The link id (see [`PeerInput::link`]).
    pub id: u64,
    stream: Stream,
}

impl Link {
    /// Starts the reader thread for `stream` and returns the writing end.
    ///
    /// # Errors
    /// The socket could not be duplicated or the thread not started.
    pub fn start(
        stream: PeerStream,
        peer: &str,
        id: u64,
        inbox: PeerSink,
    ) -> std::io::Result<Link> {
        let PeerStream { stream, decoder } = stream;
        let reader = stream.try_clone()?;
        let peer = peer.to_string();
        // Detached: it ends when the socket closes (the session shuts it down when the link
        // ends), or with the process.
        std::thread::Builder::new()
            .name("private-reader".into())
            .spawn(move || read_loop(reader, decoder, peer, id, inbox))?;
        Ok(Link { id, stream })
    }

    /// Sends a private message.
    ///
    /// # Errors
    /// The peer is gone or stopped reading for [`WRITE_TIMEOUT`].
    pub fn send_text(&self, text: &str) -> std::io::Result<()> {
        self.send(&PeerFrame::Text {
            text: text.to_string(),
        })
    }

    /// Sends `stop` (best effort) and closes the link.
    pub fn stop(self) {
        let _ = self.send(&PeerFrame::Stop);
        self.close();
    }

    /// Closes the link; the reader thread then ends.
    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    fn send(&self, frame: &PeerFrame) -> std::io::Result<()> {
        let mut writer = &self.stream;
        writer.write_all(proto::encode_line(frame).as_bytes())
    }
}

/// The encoded length (newline excluded) of a private message frame, to check against the
/// line limit before sending.
pub fn text_frame_len(text: &str) -> usize {
    proto::encode_line(&PeerFrame::Text {
        text: text.to_string(),
    })
    .len()
        - 1
}

fn read_loop(stream: Stream, mut decoder: LineDecoder, peer: String, link: u64, inbox: PeerSink) {
    let report = |what: PeerEvent| {
        inbox.send(PeerInput {
            peer: peer.clone(),
            link,
            what,
        })
    };
    loop {
        match read_frame(&stream, &mut decoder, None) {
            Some(PeerFrame::Text { text }) => {
                if !report(PeerEvent::Text(text)) {
                    return;
                }
            }
            Some(PeerFrame::Stop) => {
                report(PeerEvent::Stop);
                break;
            }
            // A second handshake frame is out of place but harmless.
            Some(PeerFrame::Auth { .. } | PeerFrame::AuthOk { .. }) => {}
            None => {
                report(PeerEvent::Closed);
                break;
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_claimed_once_and_only_by_their_user() {
        let registry = Registry::default();
        registry.lock().tokens.insert(
            "t1".into(),
            Expected {
                peer: "hans".into(),
                link: 7,
            },
        );
        let soon = Instant::now() + Duration::from_millis(20);
        let open = AtomicBool::new(false);
        assert_eq!(registry.claim("t1", "vader", soon, &open), None);
        assert_eq!(registry.claim("nope", "hans", soon, &open), None);
        assert_eq!(
            registry.claim("t1", "hans", soon, &open),
            Some(("hans".to_string(), 7))
        );
        assert_eq!(registry.claim("t1", "hans", soon, &open), None);
    }

    #[test]
    fn a_claim_waits_for_the_token() {
        let registry = Arc::new(Registry::default());
        let waiting = Arc::clone(&registry);
        let claim = std::thread::spawn(move || {
            let open = AtomicBool::new(false);
            waiting.claim(
                "late",
                "luke",
                Instant::now() + Duration::from_secs(10),
                &open,
            )
        });
        registry.lock().tokens.insert(
            "late".into(),
            Expected {
                peer: "luke".into(),
                link: 1,
            },
        );
        registry.added.notify_all();
        assert_eq!(claim.join().unwrap(), Some(("luke".to_string(), 1)));
    }

    #[test]
    fn a_closed_connection_stops_waiting_for_its_token() {
        let registry = Arc::new(Registry::default());
        let closed = Arc::new(AtomicBool::new(false));
        let (waiting, flag) = (Arc::clone(&registry), Arc::clone(&closed));
        let claim = std::thread::spawn(move || {
            // Far beyond any test's patience: only the flag can end this wait.
            waiting.claim(
                "never",
                "luke",
                Instant::now() + Duration::from_secs(3600),
                &flag,
            )
        });
        closed.store(true, Ordering::Release);
        assert_eq!(claim.join().unwrap(), None);
    }

    #[test]
    fn pending_connections_beyond_the_limit_close_the_oldest() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let pending = Arc::new(Pending::default());
        let mut clients = Vec::new();
        let mut admitted = Vec::new();
        for _ in 0..MAX_PENDING + 3 {
            clients.push(TcpStream::connect(addr).unwrap());
            let (server_side, _) = listener.accept().unwrap();
            admitted.push((pending.admit(&server_side).unwrap(), server_side));
        }
        assert_eq!(pending.len(), MAX_PENDING);
        // The three oldest were closed: their clients read end of stream.
        for (i, client) in clients.iter_mut().enumerate() {
            let closed = admitted[i].0.closed.load(Ordering::Acquire);
            assert_eq!(closed, i < 3, "connection {i}");
            if closed {
                client
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                assert_eq!(client.read(&mut [0u8; 8]).unwrap(), 0, "connection {i}");
            }
        }
        // A promoted connection leaves the queue and is never closed to make room.
        admitted[3].0.promote();
        assert_eq!(pending.len(), MAX_PENDING - 1);
        for _ in 0..MAX_PENDING {
            let c = TcpStream::connect(addr).unwrap();
            let (server_side, _) = listener.accept().unwrap();
            admitted.push((pending.admit(&server_side).unwrap(), server_side));
            clients.push(c);
        }
        assert!(!admitted[3].0.closed.load(Ordering::Acquire));
        // Dropping an admission frees its place.
        let before = pending.len();
        admitted.pop();
        assert_eq!(pending.len(), before - 1);
    }
}
