//! One client connection: the reader (`connection_loop`: decode, dispatch, timers) and the
//! writer (`writer_loop`: drains the bounded queue in batches onto the socket).
//!
//! The reader owns the partial-line buffer ([`LineDecoder`]), so reads are cancel-safe when a
//! timer or the writer's end wins the race. Handlers are named after the request they answer.
//! This module never touches another user's connection directly: that goes through the hub.

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use futures_lite::future;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use proto::{
    ClientFrame, ErrorCode, Hello, LineDecoder, LineError, Request, Response, ServerFrame,
};
use smol::{Async, Timer};

use crate::auth::{Registered, Strike, Verdict};
use crate::hub::{ConnId, Hub, Outbox, Outgoing, Refusal, Routed};
use crate::server::Shared;
use crate::store::{now_ms, StoreOutcome};

/// Bytes read from the socket at a time (allocated once per connection, so kept small).
const READ_CHUNK: usize = 4 * 1024;
/// Write-buffer capacity a connection keeps between bursts.
const IDLE_BUFFER: usize = 8 * 1024;
/// Bytes the writer gathers before one write.
const WRITE_BATCH: usize = 64 * 1024;
/// How long a closing connection may take to flush its last frames.
const FLUSH_GRACE: Duration = Duration::from_secs(5);

/// Where the login dialogue stands.
enum Phase {
    /// Waiting for `login`.
    Name,
    /// `login` answered; waiting for `password`.
    Password { user: String, new: bool },
    /// Logged in.
    In { user: String, session: Option<i64> },
}

/// Why the reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client closed or the socket failed.
    Gone,
    /// We queued a final frame and `Close`; wait for the writer to flush.
    Closing,
    /// The writer stopped (kick, shutdown, slow consumer, write error).
    WriterDone,
}

/// A token bucket: `rate` per second, `burst` at once.
struct RateLimit {
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    fn allow(&mut self, rate: u32, burst: u32) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * f64::from(rate);
        self.tokens = (self.tokens + refill).min(f64::from(burst));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Connection {
    shared: Arc<Shared>,
    id: ConnId,
    out: Outbox,
    phase: Phase,
    opened: Instant,
    /// When the last valid command arrived (drives the inactivity timeout).
    last_valid: Instant,
    /// Shared with the hub for `chatctl who`.
    last_active: Arc<AtomicI64>,
    rate: RateLimit,
}

/// Serves one accepted TCP connection until it ends. `_alive` is dropped when this returns,
/// which is how the server knows every connection has finished.
pub async fn connection_loop(
    shared: Arc<Shared>,
    stream: Async<TcpStream>,
    addr: SocketAddr,
    _alive: Sender<()>,
) {
    let cfg = shared.config();
    let stream = Arc::new(stream);
    let (tx, rx) = async_channel::unbounded();
    let (kill_tx, kill_rx) = async_channel::bounded::<()>(1);
    let out = Outbox {
        tx,
        kill: kill_tx,
        cap: cfg.limits.send_queue,
    };
    let (id, last_active) = match shared.hub.connect(
        addr,
        out.clone(),
        cfg.limits.max_connections,
        cfg.limits.max_connections_per_ip,
    ) {
        Ok(v) => v,
        Err(refusal) => {
            refuse(&stream, refusal).await;
            return;
        }
    };
    log::debug!("connection {id} from {addr}");
    let (done_tx, done_rx) = async_channel::bounded::<()>(1);
    let writer = shared.ex.spawn(writer_loop(
        Arc::clone(&stream),
        rx,
        kill_rx,
        Arc::clone(&shared),
        done_tx,
    ));
    let hello = ServerFrame::Hello(Hello {
        protocol: proto::PROTOCOL_VERSION,
        server: format!("chatd {}", env!("CARGO_PKG_VERSION")),
        max_line: cfg.limits.max_line_bytes,
    });
    let _ = out.tx.try_send(Outgoing::Frame(Arc::from(hello.encode())));
    let mut conn = Connection {
        shared: Arc::clone(&shared),
        id,
        out,
        phase: Phase::Name,
        opened: Instant::now(),
        last_valid: Instant::now(),
        last_active,
        rate: RateLimit {
            tokens: f64::from(cfg.limits.message_burst),
            last: Instant::now(),
        },
    };
    let end = conn.read_loop(&stream, &done_rx).await;
    if let Some(user) = shared.hub.disconnect(id) {
        log::info!("{user} logged out ({addr})");
        if let Phase::In {
            session: Some(row), ..
        } = conn.phase
        {
            if let Err(e) = shared.store.record_logout(row, now_ms()).await {
                log::error!("cannot record the logout of {user}: {e}");
            }
        }
    }
    let out = conn.out.clone();
    drop(conn);
    if end == End::Closing {
        // Let the writer flush the last frames, but not forever.
        let flushed = future::or(
            async {
                let _ = done_rx.recv().await;
                true
            },
            async {
                Timer::after(FLUSH_GRACE).await;
                false
            },
        )
        .await;
        if !flushed {
            log::warn!("connection {id} did not take its last frames in time; dropping it");
        }
    }
    // Stops a writer still blocked on the socket; it then stores any direct message it
    // could not deliver, so awaiting it is quick.
    out.kill.close();
    writer.await;
    let _ = stream.get_ref().shutdown(Shutdown::Both);
    log::debug!("connection {id} closed");
}

/// Tells a refused client why, briefly, then drops it.
async fn refuse(stream: &Async<TcpStream>, refusal: Refusal) {
    let (code, text) = match refusal {
        Refusal::Total => (ErrorCode::TooManyConnections, "The server is full"),
        Refusal::PerIp => (
            ErrorCode::TooManyConnections,
            "Too many connections from your address",
        ),
        Refusal::ShuttingDown => (ErrorCode::TooManyConnections, "The server is shutting down"),
    };
    let line = Hub::reply_line(None, Response::error(code, text));
    let mut w = stream;
    let _ = future::or(
        async {
            let _ = w.write_all(line.as_bytes()).await;
        },
        async {
            Timer::after(Duration::from_secs(1)).await;
        },
    )
    .await;
}

/// Drains the queue onto the socket in batches. Stops on `Close` (after flushing), on a write
/// error, or when killed. Direct messages that did not reach the socket are stored offline.
async fn writer_loop(
    stream: Arc<Async<TcpStream>>,
    rx: Receiver<Outgoing>,
    kill: Receiver<()>,
    shared: Arc<Shared>,
    _done: Sender<()>,
) {
    // Grows with what is written; trimmed after a burst so an idle connection holds little.
    let mut buf: Vec<u8> = Vec::new();
    let mut in_flight = Vec::new();
    let mut failed = false;
    'outer: loop {
        let first = future::or(async { rx.recv().await.ok() }, async {
            let _ = kill.recv().await;
            None
        })
        .await;
        let Some(mut item) = first else {
            failed = true;
            break;
        };
        let mut delivered: Vec<i64> = Vec::new();
        let mut close = false;
        loop {
            match item {
                Outgoing::Frame(line) => buf.extend_from_slice(line.as_bytes()),
                Outgoing::Direct(d) => {
                    buf.extend_from_slice(d.frame.as_bytes());
                    in_flight.push(d);
                }
                Outgoing::Reply { id, response } => proto::write_reply(&mut buf, id, &response),
                Outgoing::Delivered(ids) => delivered.extend(ids),
                Outgoing::Close => {
                    close = true;
                    break;
                }
            }
            if buf.len() >= WRITE_BATCH {
                break;
            }
            match rx.try_recv() {
                Ok(next) => item = next,
                Err(_) => break,
            }
        }
        if !buf.is_empty() {
            let mut w = &*stream;
            let wrote = future::or(async { w.write_all(&buf).await.is_ok() }, async {
                let _ = kill.recv().await;
                false
            })
            .await;
            if !wrote {
                failed = true;
                break 'outer;
            }
            buf.clear();
            buf.shrink_to(IDLE_BUFFER);
            in_flight.clear();
        }
        if !delivered.is_empty() {
            // Queued on the store thread now; the result is not needed (at worst a message
            // is shown again after a crash, never lost).
            drop(shared.store.delete_offline(delivered));
        }
        if close {
            let mut w = &*stream;
            let _ = w.flush().await;
            let _ = stream.get_ref().shutdown(Shutdown::Write);
            break;
        }
    }
    // Whatever is still queued (a message routed while the connection was closing) or was
    // in a failed write goes back to the store: at least once, never lost.
    rx.close();
    while let Ok(item) = rx.try_recv() {
        if let Outgoing::Direct(d) = item {
            in_flight.push(d);
        }
    }
    if !in_flight.is_empty() {
        let cap = shared.config().limits.max_offline_per_user;
        for d in in_flight {
            if d.store_offline(&shared.store, cap) {
                shared.hub.count_offline(StoreOutcome::Stored);
            }
        }
    }
    if failed {
        let _ = stream.get_ref().shutdown(Shutdown::Both);
    }
}

/// What one read step produced.
enum Step {
    Data(usize),
    Eof,
    WriterDone,
    Timer,
}

impl Connection {
    fn send(&self, item: Outgoing) {
        // A full queue drops this connection (the hub's rule); nothing else to do here.
        let _ = self.out.push(&self.shared.hub.counters, item);
    }

    fn reply(&self, id: Option<u64>, response: Response) {
        self.send(Outgoing::Reply { id, response });
    }

    fn error(&self, id: Option<u64>, code: ErrorCode, message: impl Into<String>) {
        self.reply(id, Response::error(code, message));
    }

    async fn read_loop(&mut self, stream: &Async<TcpStream>, done: &Receiver<()>) -> End {
        let mut decoder = LineDecoder::new(self.shared.config().limits.max_line_bytes);
        let mut chunk = vec![0u8; READ_CHUNK];
        // One timer for the connection's life. It is moved only to an earlier deadline; when
        // it fires before the current deadline (activity moved it later) it is re-armed there.
        // Re-registering a timer with the reactor on every read was a measurable cost.
        let mut armed = self.opened + self.shared.config().limits.login_timeout;
        let mut timer = Timer::at(armed);
        loop {
            let cfg = self.shared.config();
            let deadline = match self.phase {
                Phase::In { .. } => self.last_valid + cfg.timeout,
                _ => self.opened + cfg.limits.login_timeout,
            };
            if deadline < armed {
                armed = deadline;
                timer.set_at(deadline);
            }
            let mut r = stream;
            let step = future::or(
                future::or(
                    async {
                        match r.read(&mut chunk).await {
                            Ok(0) | Err(_) => Step::Eof,
                            Ok(n) => Step::Data(n),
                        }
                    },
                    async {
                        let _ = done.recv().await;
                        Step::WriterDone
                    },
                ),
                async {
                    (&mut timer).await;
                    Step::Timer
                },
            )
            .await;
            match step {
                Step::Eof => return End::Gone,
                Step::WriterDone => return End::WriterDone,
                Step::Timer if Instant::now() < deadline => {
                    armed = deadline;
                    timer.set_at(deadline);
                }
                Step::Timer => {
                    if let Phase::In { user, .. } = &self.phase {
                        log::info!("{user} timed out after {}s idle", cfg.timeout.as_secs());
                        self.send(Outgoing::Frame(crate::hub::event_line(
                            &proto::Event::Inactive,
                        )));
                    } else {
                        self.error(
                            None,
                            ErrorCode::LoginTimeout,
                            "Login took too long; closing the connection",
                        );
                    }
                    self.send(Outgoing::Close);
                    return End::Closing;
                }
                Step::Data(n) => {
                    decoder.feed(&chunk[..n]);
                    loop {
                        let line = match decoder.next_line() {
                            None => break,
                            Some(Ok(line)) => line,
                            Some(Err(LineError::TooLong { limit })) => {
                                self.error(
                                    None,
                                    ErrorCode::LineTooLong,
                                    format!(
                                        "Line longer than {limit} bytes; closing the connection"
                                    ),
                                );
                                self.send(Outgoing::Close);
                                return End::Closing;
                            }
                        };
                        if line.iter().all(u8::is_ascii_whitespace) {
                            continue;
                        }
                        let frame = match ClientFrame::decode(line) {
                            Ok(f) => f,
                            Err(e) => {
                                self.error(ClientFrame::peek_id(line), e.code(), e.to_string());
                                continue;
                            }
                        };
                        if self.handle(frame).await {
                            return End::Closing;
                        }
                    }
                }
            }
        }
    }

    /// Answers one request. Returns true when the connection should close.
    async fn handle(&mut self, frame: ClientFrame) -> bool {
        let ClientFrame { id, request } = frame;
        let Phase::In { user, .. } = &self.phase else {
            return self.handle_login(id, request).await;
        };
        let user = user.clone();
        self.last_valid = Instant::now();
        self.last_active.store(now_ms(), Ordering::Relaxed);
        match request {
            Request::Login { .. } | Request::Password { .. } => self.error(
                id,
                ErrorCode::AlreadyAuthenticated,
                format!("Already logged in as {user}"),
            ),
            Request::Message { to, text } => self.message(id, &user, &to, &text).await,
            Request::Broadcast { text } => self.broadcast(id, &user, &text),
            Request::Whoelse => {
                let users = self.shared.hub.whoelse(&user);
                self.reply(id, Response::Users { users });
            }
            Request::Whoelsesince { seconds } => {
                let users = self.shared.hub.whoelsesince(&user, seconds);
                self.reply(id, Response::Users { users });
            }
            Request::Block { user: target } => self.block(id, &user, &target, true).await,
            Request::Unblock { user: target } => self.block(id, &user, &target, false).await,
            Request::Logout => {
                self.reply(id, Response::Ok);
                self.send(Outgoing::Close);
                return true;
            }
            Request::Activity => self.reply(id, Response::Ok),
            Request::PrivateListen { port, host } => {
                self.shared.hub.set_private_listen(self.id, host, port);
                self.reply(id, Response::Ok);
            }
            Request::StartPrivate { user: target } => self.start_private(id, &user, &target),
            Request::PrivateAnswer {
                user: requester,
                accept,
            } => match self.shared.hub.answer_private(&user, &requester, accept) {
                Ok(()) => self.reply(id, Response::Ok),
                Err(code) => self.error(id, code, private_error_text(code, &requester)),
            },
            Request::PrivateEnded { user: peer } => {
                self.shared.hub.end_private(&user, &peer);
                self.reply(id, Response::Ok);
            }
        }
        false
    }

    async fn handle_login(&mut self, id: Option<u64>, request: Request) -> bool {
        match request {
            Request::Login { user } => self.login(id, user),
            Request::Password { password } => self.password(id, password).await,
            // Allowed before login, so that the listener is known by the time others see the
            // user log in and try `startprivate`.
            Request::PrivateListen { port, host } => {
                self.shared.hub.set_private_listen(self.id, host, port);
                self.reply(id, Response::Ok);
            }
            other => self.error(
                id,
                ErrorCode::NotLoggedIn,
                format!(
                    "Log in first ({} needs a logged-in session)",
                    other.type_name()
                ),
            ),
        }
        false
    }

    fn login(&mut self, id: Option<u64>, user: String) {
        let shared = Arc::clone(&self.shared);
        self.phase = Phase::Name;
        if !proto::valid_username(&user) {
            return self.error(
                id,
                ErrorCode::InvalidUsername,
                "Invalid username: use 1-32 letters, digits, '_', '-' or '.'",
            );
        }
        if shared.lockout.is_locked(&user, now_ms()) {
            return self.error(
                id,
                ErrorCode::AccountLocked,
                "Your account is blocked due to multiple login failures. Please try again later",
            );
        }
        if shared.hub.is_online(&user) {
            return self.error(
                id,
                ErrorCode::AlreadyLoggedIn,
                format!("{user} is already logged in"),
            );
        }
        if shared.accounts.exists(&user) {
            self.phase = Phase::Password { user, new: false };
            self.reply(id, Response::PasswordRequired);
        } else if shared.config().registration {
            self.phase = Phase::Password { user, new: true };
            self.reply(id, Response::NewUser);
        } else {
            self.error(
                id,
                ErrorCode::RegistrationDisabled,
                format!("Registration is disabled and {user} is not a known user"),
            );
        }
    }

    async fn password(&mut self, id: Option<u64>, password: String) {
        let Phase::Password { user, new } = &self.phase else {
            return self.error(
                id,
                ErrorCode::NotLoggedIn,
                "Send a user name (login) before the password",
            );
        };
        let (user, new) = (user.clone(), *new);
        let shared = Arc::clone(&self.shared);
        if new {
            if !proto::valid_password(&password) {
                return self.error(
                    id,
                    ErrorCode::InvalidPasswordFormat,
                    "Invalid password: use 1-1024 printable characters without spaces",
                );
            }
            match shared.accounts.register(&user, &password).await {
                Ok(Registered::Created) => {
                    log::info!("new account {user}");
                    return self.enter(id, user).await;
                }
                // Someone registered the name meanwhile: treat this as a login attempt.
                Ok(Registered::Exists) => {}
                Err(e) => {
                    log::error!("cannot register {user}: {e}");
                    return self.error(
                        id,
                        ErrorCode::Internal,
                        "The server could not save the new account; please try again later",
                    );
                }
            }
        }
        if shared.lockout.is_locked(&user, now_ms()) {
            // Locked while this connection was at the password prompt.
            crate::auth::equalize_timing(&password).await;
            self.phase = Phase::Name;
            return self.error(
                id,
                ErrorCode::AccountLocked,
                "Your account is blocked due to multiple login failures. Please try again later",
            );
        }
        match shared.accounts.verify(&user, &password).await {
            Verdict::Ok => {
                if shared.lockout.has_state(&user) {
                    shared.lockout.clear(&user, now_ms());
                    if let Err(e) = shared.store.save_lock(&user, None).await {
                        log::error!("cannot clear the login failures of {user}: {e}");
                    }
                }
                self.enter(id, user).await;
            }
            Verdict::Wrong | Verdict::Unknown => {
                shared
                    .hub
                    .counters
                    .failed_logins
                    .fetch_add(1, Ordering::Relaxed);
                let block = shared.config().block_duration;
                let (strike, state) = shared.lockout.fail(&user, now_ms(), block);
                if let Err(e) = shared.store.save_lock(&user, Some(state)).await {
                    log::error!("cannot save the login failures of {user}: {e}");
                }
                match strike {
                    Strike::Retry => {
                        log::info!("wrong password for {user}");
                        self.error(
                            id,
                            ErrorCode::InvalidPassword,
                            "Invalid Password. Please try again",
                        );
                    }
                    Strike::Locked => {
                        log::warn!("{user} locked for {}s after failed logins", block.as_secs());
                        self.phase = Phase::Name;
                        self.error(
                            id,
                            ErrorCode::AccountBlocked,
                            "Invalid Password. Your account has been blocked. Please try again later",
                        );
                    }
                }
            }
        }
    }

    /// The password was right (or the account was just created): go online.
    async fn enter(&mut self, id: Option<u64>, user: String) {
        let shared = Arc::clone(&self.shared);
        let load = match shared.hub.begin_login(self.id, &user, &shared.store) {
            Ok(load) => load,
            Err(code) => {
                self.phase = Phase::Name;
                return self.error(id, code, format!("{user} is already logged in"));
            }
        };
        self.phase = Phase::In {
            user: user.clone(),
            session: None,
        };
        self.last_valid = Instant::now();
        let session = shared.store.record_login(&user, now_ms());
        let offline = match load.await {
            Ok(v) => v,
            Err(e) => {
                log::error!("cannot load offline messages for {user}: {e}");
                Vec::new()
            }
        };
        let session = match session.await {
            Ok(row) => Some(row),
            Err(e) => {
                log::error!("cannot record the login of {user}: {e}");
                None
            }
        };
        self.phase = Phase::In {
            user: user.clone(),
            session,
        };
        let welcome = Hub::reply_line(
            id,
            Response::Welcome {
                user: user.clone(),
                offline: offline.len() as u64,
            },
        );
        shared
            .hub
            .finish_login(self.id, welcome, &offline, &shared.store);
        log::info!("{user} logged in");
    }

    async fn message(&mut self, id: Option<u64>, from: &str, to: &str, text: &str) {
        let shared = Arc::clone(&self.shared);
        if to == from {
            return self.error(id, ErrorCode::CannotMessageSelf, "Cannot message self");
        }
        if !shared.accounts.exists(to) {
            return self.error(id, ErrorCode::InvalidUser, "Invalid user");
        }
        let cfg = shared.config();
        if !self
            .rate
            .allow(cfg.limits.message_rate, cfg.limits.message_burst)
        {
            shared.hub.count_offline(StoreOutcome::Full);
            return self.error(id, ErrorCode::RateLimited, "Too many messages; slow down");
        }
        let cap = cfg.limits.max_offline_per_user;
        match shared.hub.message(from, to, text, &shared.store, cap) {
            Ok(Routed::Live) => self.reply(id, Response::Sent { stored: false }),
            Ok(Routed::Offline(job)) => {
                match job.await {
                    Ok(outcome) => {
                        shared.hub.count_offline(outcome);
                        match outcome {
                        StoreOutcome::Stored => self.reply(id, Response::Sent { stored: true }),
                        StoreOutcome::Full => self.error(
                            id,
                            ErrorCode::OfflineQueueFull,
                            format!("{to} has too many stored messages; your message was not stored"),
                        ),
                    }
                    }
                    Err(e) => {
                        log::error!("cannot store a message for {to}: {e}");
                        self.error(
                            id,
                            ErrorCode::Internal,
                            "The server could not store your message; please try again later",
                        );
                    }
                }
            }
            Err(code) => self.error(
                id,
                code,
                "Your message could not be delivered as the recipient has blocked you",
            ),
        }
    }

    fn broadcast(&mut self, id: Option<u64>, from: &str, text: &str) {
        let cfg = self.shared.config();
        if !self
            .rate
            .allow(cfg.limits.message_rate, cfg.limits.message_burst)
        {
            return self.error(id, ErrorCode::RateLimited, "Too many messages; slow down");
        }
        let (delivered, skipped) = self.shared.hub.broadcast(from, text);
        self.reply(id, Response::Broadcasted { delivered, skipped });
    }

    async fn block(&mut self, id: Option<u64>, me: &str, target: &str, on: bool) {
        let shared = Arc::clone(&self.shared);
        if target == me {
            return if on {
                self.error(id, ErrorCode::CannotBlockSelf, "Cannot block self")
            } else {
                self.error(id, ErrorCode::CannotUnblockSelf, "Cannot unblock self")
            };
        }
        if !shared.accounts.exists(target) {
            return self.error(id, ErrorCode::InvalidUser, "Invalid user");
        }
        if !on && !shared.hub.blocks(me, target) {
            return self.error(
                id,
                ErrorCode::NotBlocked,
                format!("{target} was not blocked"),
            );
        }
        if let Err(e) = shared.store.set_block(me, target, on).await {
            log::error!("cannot save a block-list change of {me}: {e}");
            return self.error(
                id,
                ErrorCode::Internal,
                "The server could not save the change; please try again later",
            );
        }
        shared.hub.set_block(me, target, on);
        self.reply(id, Response::Ok);
    }

    fn start_private(&mut self, id: Option<u64>, me: &str, target: &str) {
        let shared = Arc::clone(&self.shared);
        if target == me {
            return self.error(
                id,
                ErrorCode::CannotPrivateSelf,
                "Cannot start private messaging with self",
            );
        }
        if !shared.accounts.exists(target) {
            return self.error(id, ErrorCode::InvalidUser, "Invalid user");
        }
        match shared.hub.start_private(me, target) {
            Ok(serial) => {
                let wait = shared.config().private_request_timeout;
                let (me, target) = (me.to_string(), target.to_string());
                let hub_owner = Arc::clone(&shared);
                // Detached: the timer holds only an Arc and ends by itself after `wait`;
                // expiring an answered request is a no-op.
                shared
                    .ex
                    .spawn(async move {
                        Timer::after(wait).await;
                        hub_owner.hub.expire_private(&me, &target, serial);
                    })
                    .detach();
                self.reply(id, Response::Ok);
            }
            Err(code) => self.error(id, code, private_error_text(code, target)),
        }
    }
}

/// Human text for the private-messaging error codes.
fn private_error_text(code: ErrorCode, user: &str) -> String {
    match code {
        ErrorCode::UserOffline => format!("{user} is offline"),
        ErrorCode::BlockedByUser => format!("{user} has blocked you"),
        ErrorCode::PrivateAlreadyActive => {
            format!("Private messaging with {user} is already active")
        }
        ErrorCode::PrivateUnavailable => format!("{user} cannot accept private messages"),
        ErrorCode::NoPrivateRequest => format!("No private messaging request from {user}"),
        ErrorCode::InvalidUser => "Invalid user".to_string(),
        _ => format!("Private messaging with {user} failed"),
    }
}
