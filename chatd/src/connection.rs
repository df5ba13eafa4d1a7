//! One client connection's life, in one task: registered with the hub (or refused), the
//! greeting sent, then a loop that writes what its outbox holds (frames the hub and the
//! commands queued) and waits for the next of: bytes from the client, something new in the
//! outbox, the login or inactivity deadline on the server's clock. Lines from the client are
//! decoded by the front-end and dispatched to the commands, whose answers go to the outbox and
//! leave in the same write as whatever else was queued meanwhile. At the end, the logout
//! (which stores what the client never acknowledged or never got).
//!
//! One task, not a reader and a writer: a message costs one wake-up of the recipient's task
//! (none when it is already running), and an idle connection holds no buffer: bytes are read
//! into the executor thread's buffer (only a partial line is kept), and written from a buffer
//! borrowed for the write.
//!
//! The loop never holds an executor thread for long: it lets the other tasks run after
//! [`LINE_BUDGET`] lines, stops as soon as the connection is killed (its outbox overflowed: a
//! client whose replies cannot be delivered is cut off at once), and closes a connection after
//! `limits.max_bad_lines` lines in a row that fail to decode. While a write is blocked (the
//! client does not read) it reads nothing more from that client, and the write still ends at
//! a kill or at the connection's deadline.
//!
//! This module never touches another user's connection: that goes through the hub.

use std::collections::VecDeque;
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::Sender;
use futures_lite::future;
use proto::LineError;

use crate::clock::{Alarm, Clock};
use crate::commands::{self, Answer, Failure, Phase, RateLimit, Session};
use crate::frontend::{self, Batch, Stop};
use crate::hub::{self, Acks, Outbox, Outgoing};
use crate::runtime;
use crate::seams::Store;
use crate::state::Shared;
use crate::transport::{LineReader, Socket};

/// How long a closing connection may take to flush its last frames.
const FLUSH_GRACE: Duration = Duration::from_secs(5);

/// Lines one connection handles before it lets the other tasks on its executor thread run.
const LINE_BUDGET: u32 = 32;

/// How long before the inactivity logout the user is warned: a minute, or half the timeout
/// when the timeout is shorter than two minutes (a warning a minute ahead would then come
/// almost at once, or before the user could have been idle at all).
pub(crate) fn warn_before(timeout: Duration) -> Duration {
    const MINUTE: Duration = Duration::from_secs(60);
    if timeout >= 2 * MINUTE {
        MINUTE
    } else {
        timeout / 2
    }
}

/// What one wait produced.
enum Step {
    /// Bytes (or the end of the stream) from the client.
    Read(std::io::Result<usize>),
    /// Something in the outbox.
    Mail,
    /// The alarm went off.
    Timer,
}

/// What handling the buffered lines led to.
enum Flow {
    /// Every complete line was handled.
    Drained,
    /// The line budget ran out with lines left: let others run, then go on.
    Budget,
    /// A final frame and `Close` were queued: read nothing more.
    Closing,
}

/// Serves one accepted connection until it ends. `_alive` is dropped when this returns,
/// which is how the server knows every connection has finished.
pub(crate) async fn connection_loop(
    shared: Arc<Shared>,
    socket: Socket,
    addr: SocketAddr,
    _alive: Sender<()>,
) {
    let cfg = shared.config();
    let acks = Acks::default();
    let out = Outbox::new(cfg.limits.send_queue, acks.clone());
    let (id, last_active) = match shared.hub.connect(
        addr,
        out.clone(),
        cfg.limits.max_connections,
        cfg.limits.max_connections_per_ip,
    ) {
        Ok(v) => v,
        Err(refusal) => {
            Box::pin(frontend::refuse(&socket, &Failure::Refused(refusal))).await;
            return;
        }
    };
    log::debug!("connection {id} from {addr}");
    // Read before the greeting is queued: a test that moves a manual clock once greeted must
    // move the login deadline too.
    let now = shared.clock.now();
    let _ = out.push(
        &shared.hub.counters,
        frontend::hello(cfg.limits.max_line_bytes),
    );
    let armed = now + cfg.limits.login_timeout;
    let mut conn = Conn {
        s: Session {
            id,
            addr,
            phase: Phase::Name,
            opened: now,
            last_valid: now,
            last_active,
            rate: RateLimit::new(cfg.limits.message_burst, shared.clock.coarse()),
            acks,
        },
        reader: LineReader::new(cfg.limits.max_line_bytes),
        alarm: shared.clock.alarm(armed),
        armed,
        budget: 0,
        bad_lines: 0,
        warned: None,
        shared: &shared,
        out: &out,
        socket: &socket,
    };
    drop(cfg);
    let taken = conn.run().await;
    let session = conn.s;
    // Now nothing more is written: what was taken and not written, what is still queued and
    // what is in flight is stored.
    out.kill();
    socket.shutdown(Shutdown::Both);
    if let Some(user) = shared.hub.disconnect(id, taken, &shared.store) {
        log::info!("{user} logged out ({addr})");
        if let Phase::In {
            session: Some(row), ..
        } = session.phase
        {
            let recorded = Box::pin(shared.store.record_logout(row, shared.clock.now_ms()));
            if let Err(e) = recorded.await {
                log::error!("cannot record the logout of {user}: {e}");
            }
        }
    }
    log::debug!("connection {id} closed");
}

/// One connection's task state.
struct Conn<'a> {
    s: Session,
    reader: LineReader,
    /// One alarm for the connection's life. It is moved only to an earlier deadline; when it
    /// goes off before the current deadline (activity moved it later) it is re-armed there.
    /// Re-registering a timer with the reactor on every read was a measurable cost.
    alarm: Alarm,
    armed: Instant,
    /// Lines handled since this task last let others run.
    budget: u32,
    /// Lines in a row that failed to decode.
    bad_lines: u32,
    /// The idle stretch (its start) the user was last warned about: one warning per stretch.
    warned: Option<Instant>,
    shared: &'a Arc<Shared>,
    out: &'a Outbox,
    socket: &'a Socket,
}

impl Conn<'_> {
    /// Pushes onto this connection's outbox; a full outbox kills the connection (the hub's
    /// rule), so there is nothing else to do on failure.
    fn push(&self, item: Outgoing) {
        let _ = self.shared.hub.push_own(self.out, item);
    }

    /// The connection's deadline (login, or inactivity logout) and, when the user is due a
    /// warning, the time to warn.
    fn deadlines(&self) -> (Instant, Option<Instant>) {
        let cfg = self.shared.config();
        match self.s.phase {
            Phase::In { .. } => {
                let logout = self.s.last_valid + cfg.timeout;
                let warn_at = logout - warn_before(cfg.timeout);
                (
                    logout,
                    (self.warned != Some(self.s.last_valid)).then_some(warn_at),
                )
            }
            _ => (self.s.opened + cfg.limits.login_timeout, None),
        }
    }

    /// Serves the connection until it ends. Returns what was taken from the outbox and not
    /// written (for the hub to store).
    async fn run(&mut self) -> VecDeque<Outgoing> {
        let mut closing = false;
        let mut more_lines = false;
        // Lines from this client were handled since the last write.
        let mut answered = false;
        // The deadlines, recomputed only when they may have moved (lines handled, the alarm,
        // a reload): a wake-up for the outbox alone does not read the configuration.
        let mut deadlines = None;
        let hub = &self.shared.hub;
        loop {
            // The presence log's head read before the take: every change before it was
            // logged before the items queued after it, which carry their own marker.
            let mut head = hub.presence_head();
            let mut mail = self.out.take();
            // Answers go at once, unless the connection is ending anyway (its client sends
            // nothing more to pipeline).
            let urgent = std::mem::take(&mut answered)
                && !mail.items.iter().any(|i| matches!(i, Outgoing::Close));
            let presence = self.out.seen() < head;
            if (presence || !mail.items.is_empty()) && !mail.killed && !urgent {
                // Let the tasks already runnable go first (other connections' requests, which
                // may queue more here: the next broadcast, more presence), then take what they
                // queued into this same write: under load, fewer and fuller writes. Not when
                // this client's own requests were just handled: their answers go at once, so
                // the client can send the next ones while the others' deliveries gather.
                runtime::flush_point().await;
                head = hub.presence_head();
                let more = self.out.take();
                mail.killed |= more.killed;
                mail.reloaded |= more.reloaded;
                let mut items = more.items;
                mail.items.append(&mut items);
                hub::give_back(items);
            }
            if mail.killed {
                return mail.items;
            }
            if mail.reloaded {
                deadlines = None;
            }
            // Presence that waits for this client goes with this write.
            if self.out.seen() < head {
                mail.items.push_back(Outgoing::PresenceUpTo(head));
            }
            if !mail.items.is_empty() {
                let mut items = mail.items;
                let mut batch = Batch::new(self.shared, &self.s.acks, self.s.id);
                // Most batches are lines only and the socket takes them at once: written
                // here, without the (boxed, larger) general path.
                let stop = batch.encode(&mut items);
                let done = stop.is_none() && items.is_empty() && {
                    match self.socket.try_write(batch.bytes()) {
                        Ok(n) => {
                            batch.consume(n);
                            batch.bytes().is_empty()
                        }
                        Err(_) => return items,
                    }
                };
                if done {
                    hub::give_back(items);
                } else {
                    let delivered = Box::pin(self.deliver(batch, stop, items, closing)).await;
                    if let Err(rest) = delivered {
                        return rest;
                    }
                }
            }
            if closing {
                // The outbox must hold the `Close` queued with the last frame; it was not
                // taken (a concurrent kill), so stop.
                return VecDeque::new();
            }
            if more_lines {
                // The line budget ran out: the others had their turn while we wrote.
                future::yield_now().await;
                deadlines = None;
                answered = true;
                match self.lines().await {
                    Flow::Drained => more_lines = false,
                    Flow::Budget => {}
                    Flow::Closing => closing = true,
                }
                continue;
            }
            let (deadline, warning) = *deadlines.get_or_insert_with(|| self.deadlines());
            let next = warning.map_or(deadline, |w| w.min(deadline));
            if next < self.armed {
                self.armed = next;
                self.alarm.set_at(next);
            }
            let step = {
                let reader = &mut self.reader;
                let socket = self.socket;
                let out = self.out;
                let alarm = &mut self.alarm;
                future::or(
                    future::or(async { Step::Read(reader.fill(socket).await) }, async {
                        out.mail().await;
                        Step::Mail
                    }),
                    async {
                        alarm.await;
                        Step::Timer
                    },
                )
                .await
            };
            match step {
                Step::Mail => {}
                Step::Read(Ok(0) | Err(_)) => return VecDeque::new(),
                Step::Read(Ok(_)) => {
                    deadlines = None;
                    answered = true;
                    match self.lines().await {
                        Flow::Drained => {}
                        Flow::Budget => more_lines = true,
                        Flow::Closing => closing = true,
                    }
                }
                Step::Timer => {
                    deadlines = None;
                    closing = self.timer(deadline, warning);
                }
            }
        }
    }

    /// The alarm went off: re-arm it, warn, or end the connection. True when it ends.
    fn timer(&mut self, deadline: Instant, warning: Option<Instant>) -> bool {
        let now = self.shared.clock.now();
        let next = warning.map_or(deadline, |w| w.min(deadline));
        if now < next {
            self.armed = next;
            self.alarm.set_at(next);
            return false;
        }
        if warning.is_some() && now < deadline {
            let left = deadline.saturating_duration_since(now);
            self.push(frontend::idle_warning(left.as_secs_f64().ceil() as u64));
            self.warned = Some(self.s.last_valid);
            self.armed = deadline;
            self.alarm.set_at(deadline);
            return false;
        }
        if let Phase::In { user, .. } = &self.s.phase {
            let timeout = self.shared.config().timeout;
            log::info!("{user} timed out after {}s idle", timeout.as_secs());
            self.push(frontend::inactive());
        } else {
            frontend::send_error(self.out, self.shared, None, &Failure::LoginTimeout);
        }
        self.push(Outgoing::Close);
        true
    }

    /// Handles the complete lines buffered, up to the line budget.
    async fn lines(&mut self) -> Flow {
        let limit = self.shared.config().limits.max_bad_lines;
        let flow = loop {
            // A client whose replies cannot be delivered (its outbox overflowed) is cut off
            // now, not when it stops sending.
            if self.out.is_killed() {
                break Flow::Drained;
            }
            self.budget += 1;
            if self.budget >= LINE_BUDGET {
                self.budget = 0;
                break Flow::Budget;
            }
            let line = match self.reader.next_line() {
                None => break Flow::Drained,
                Some(Ok(line)) => line,
                Some(Err(LineError::TooLong { limit })) => {
                    let failure = Failure::LineTooLong { limit };
                    frontend::send_error(self.out, self.shared, None, &failure);
                    self.push(Outgoing::Close);
                    break Flow::Closing;
                }
            };
            let (id, request) = match frontend::decode(line) {
                Ok(Some(v)) => v,
                Ok(None) => continue,
                Err((id, failure)) => {
                    frontend::send_error(self.out, self.shared, id, &failure);
                    self.bad_lines += 1;
                    if self.bad_lines >= limit {
                        log::warn!(
                            "connection {}: {limit} bad lines in a row; closing",
                            self.s.id
                        );
                        let failure = Failure::TooManyBadLines { limit };
                        frontend::send_error(self.out, self.shared, None, &failure);
                        self.push(Outgoing::Close);
                        break Flow::Closing;
                    }
                    continue;
                }
            };
            self.bad_lines = 0;
            // Boxed: most of a command's state lives only while it runs, not in every idle
            // connection's task.
            let result = Box::pin(commands::dispatch(&mut self.s, self.shared, id, request)).await;
            let close = matches!(result, Ok(Answer::Close(_)));
            if let Some(item) = frontend::reply(id, result) {
                self.push(item);
            }
            if close {
                self.push(Outgoing::Close);
                break Flow::Closing;
            }
        };
        self.reader.release();
        flow
    }

    /// Writes what `batch` holds, what stopped its encoding (`stop`), then `items` in order:
    /// lines in batches, the login's backlog streamed from the store, `Close` flushed and the
    /// writing side shut. Every write ends early if the connection is killed or its deadline
    /// passes (a client that does not read). Returns what was not written when the
    /// connection must end (closed, killed, failed).
    async fn deliver(
        &self,
        mut batch: Batch<'_>,
        mut stop: Option<Stop>,
        mut items: VecDeque<Outgoing>,
        closing: bool,
    ) -> Result<(), VecDeque<Outgoing>> {
        // The last write of a connection that ends gets the grace period, whoever ended it.
        let closing = closing
            || matches!(stop, Some(Stop::Close))
            || items.iter().any(|i| matches!(i, Outgoing::Close));
        loop {
            if !self.write(batch.bytes(), closing).await {
                return Err(items);
            }
            batch.clear();
            match stop {
                None if items.is_empty() => return Ok(()),
                None => {}
                Some(Stop::Backlog { user, upto }) => {
                    let mut after = 0;
                    while let Some(next) = batch.backlog_chunk(&user, after, upto).await {
                        after = next;
                        if !self.write(batch.bytes(), closing).await {
                            return Err(items);
                        }
                        batch.clear();
                    }
                }
                Some(Stop::Close) => {
                    let _ = self.socket.flush().await;
                    self.socket.shutdown(Shutdown::Write);
                    return Err(items);
                }
            }
            stop = batch.encode(&mut items);
        }
    }

    /// Writes `bytes`, unless the connection is killed first or its deadline passes while the
    /// client does not read (a closing connection gets [`FLUSH_GRACE`]). False if it did not
    /// complete.
    async fn write(&self, bytes: &[u8], closing: bool) -> bool {
        if bytes.is_empty() {
            return true;
        }
        let mut write = std::pin::pin!(self.socket.write_all(bytes));
        // Most writes complete at once: no timer for those.
        if let Some(done) = future::poll_once(write.as_mut()).await {
            return done.is_ok();
        }
        let guard_at = if closing {
            self.shared.clock.now() + FLUSH_GRACE
        } else {
            self.deadlines().0
        };
        let mut guard = self.shared.clock.alarm(guard_at);
        let out = self.out;
        let done = future::or(async { Some(write.await.is_ok()) }, async {
            future::or(out.killed(), &mut guard).await;
            None
        })
        .await;
        match done {
            Some(ok) => ok,
            None => {
                if !out.is_killed() {
                    log::warn!(
                        "connection {}: the client took no output before its deadline; dropping it",
                        self.s.id
                    );
                }
                false
            }
        }
    }
}
