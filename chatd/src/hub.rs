//! The hub: who is connected and who is logged in, and everything that routes between users:
//! direct messages (live, or stored offline), broadcasts, presence, block lists in memory,
//! `whoelse`/`whoelsesince`, private-messaging introductions, kicks and shutdown.
//!
//! State sits behind one `std::sync::Mutex`, held only for map lookups and non-blocking queue
//! pushes, never across an `.await`. Store jobs that must be ordered with routing decisions
//! (an offline message versus the recipient's login) are *queued* under the lock and awaited
//! after it is released. The hub never writes to a socket: it pushes frames onto each
//! connection's bounded queue, and a full queue drops that connection.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use async_channel::{Sender, TrySendError};
use proto::admin::{OnlineUser, Stats};
use proto::{ErrorCode, Event, Response, ServerFrame};

use crate::store::{now_ms, OfflineMessage, Store, StoreError, StoreOutcome};

/// Identifies one connection for its lifetime.
pub type ConnId = u64;

/// A direct message on its way to a recipient's socket: its encoded line (written to one
/// connection only, so not shared) and the recipient, so that if the connection dies with it
/// still queued it can be stored offline instead of lost.
#[derive(Debug)]
pub struct Direct {
    /// The encoded `message` event line.
    pub frame: String,
    /// Recipient.
    pub to: String,
}

impl Direct {
    /// Stores this message for its recipient (the connection could not take it). Sender and
    /// text are read back from the encoded line: this is the rare path, the live path never
    /// keeps a second copy of them.
    pub fn store_offline(&self, store: &Store, cap: u64) -> bool {
        match ServerFrame::decode(self.frame.trim_end().as_bytes()) {
            Ok(ServerFrame::Event(Event::Message { from, text, .. })) => {
                // Queued on the store thread now; the answer is not needed.
                drop(store.store_offline(&self.to, &from, &text, cap));
                true
            }
            _ => false,
        }
    }
}

/// One item on a connection's send queue.
#[derive(Debug)]
pub enum Outgoing {
    /// An encoded line (shared by every recipient of a broadcast).
    Frame(Arc<str>),
    /// A direct message.
    Direct(Direct),
    /// The answer to a request, encoded by the writer straight into its buffer.
    Reply {
        /// The request's id.
        id: Option<u64>,
        /// The answer.
        response: Response,
    },
    /// These offline messages have been written once everything before this was flushed:
    /// delete them from the store.
    Delivered(Vec<i64>),
    /// Flush and close the connection.
    Close,
}

/// Server counters (see [`Stats`]).
#[derive(Debug, Default)]
pub struct Counters {
    /// Open connections.
    pub connections: AtomicU64,
    /// Peak open connections.
    pub peak_connections: AtomicU64,
    /// Successful logins.
    pub logins: AtomicU64,
    /// Wrong passwords.
    pub failed_logins: AtomicU64,
    /// Messages written to online recipients' queues.
    pub delivered: AtomicU64,
    /// Messages stored offline.
    pub stored: AtomicU64,
    /// Messages refused.
    pub dropped: AtomicU64,
    /// Connections dropped for a full queue.
    pub slow_dropped: AtomicU64,
}

impl Counters {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters that accumulate over the server's whole life (kept in the store), by the
    /// name they are saved under. The others describe the running process only.
    fn durable(&self) -> [(&'static str, &AtomicU64); 6] {
        [
            ("logins", &self.logins),
            ("failed_logins", &self.failed_logins),
            ("messages_delivered", &self.delivered),
            ("messages_stored", &self.stored),
            ("messages_dropped", &self.dropped),
            ("slow_consumers_dropped", &self.slow_dropped),
        ]
    }

    /// Continues the cumulative counters from their saved values.
    pub fn restore(&self, saved: &HashMap<String, u64>) {
        for (name, counter) in self.durable() {
            if let Some(v) = saved.get(name) {
                counter.store(*v, Ordering::Relaxed);
            }
        }
    }

    /// The cumulative counters' current values, for [`Store::heartbeat`].
    pub fn to_save(&self) -> Vec<(&'static str, u64)> {
        self.durable()
            .into_iter()
            .map(|(name, c)| (name, c.load(Ordering::Relaxed)))
            .collect()
    }
}

/// Most queue items the offline messages take at login, as a share of the queue's capacity:
/// they are sent in chunks (one frame of many lines, then its `Delivered`), so a user with more
/// waiting messages than the queue holds can still log in.
const OFFLINE_QUEUE_SHARE: usize = 4;
/// Fewest messages per chunk, so small queues do not mean many tiny writes.
const OFFLINE_CHUNK_MIN: usize = 64;

/// Why a connection may not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_connections` reached.
    Total,
    /// `max_connections_per_ip` reached.
    PerIp,
    /// The server is shutting down.
    ShuttingDown,
}

/// The sending side of one connection: its queue, bounded at `cap` items, and a kill switch
/// that aborts the writer even while it is blocked writing to a client that stopped reading.
///
/// The channel itself is unbounded and the bound is checked here: a bounded channel would
/// allocate all `cap` slots per connection up front, most of them never used.
#[derive(Clone)]
pub struct Outbox {
    /// The queue.
    pub tx: Sender<Outgoing>,
    /// Closed to abort the writer.
    pub kill: Sender<()>,
    /// Items the queue may hold (`limits.send_queue`).
    pub cap: usize,
}

impl Outbox {
    /// Queues `item` without waiting. A full queue kills the connection (counted as a slow
    /// consumer). Gives the item back if it was not queued.
    ///
    /// # Errors
    /// The item, when it was not queued.
    pub fn push(&self, counters: &Counters, item: Outgoing) -> Result<(), Outgoing> {
        // Concurrent pushers may overshoot `cap` by a few items; the bound only has to stop
        // unbounded growth.
        let full = self.tx.len() >= self.cap;
        match if full {
            Err(TrySendError::Full(item))
        } else {
            self.tx.try_send(item)
        } {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(item)) => {
                if self.kill.close() {
                    self.tx.close();
                    Counters::add(&counters.slow_dropped, 1);
                    log::warn!("dropping a slow client: its send queue is full");
                }
                Err(item)
            }
            Err(TrySendError::Closed(item)) => Err(item),
        }
    }
}

struct Conn {
    out: Outbox,
    addr: SocketAddr,
    user: Option<String>,
    last_active: Arc<AtomicI64>,
    /// Frames held while the login (offline-message load) completes, so nothing overtakes
    /// the welcome. `None` once ready.
    held: Option<Vec<Outgoing>>,
    since_ms: i64,
    private_listen: Option<(String, u16)>,
}

/// A private-messaging request waiting for the target's answer.
struct Pending {
    serial: u64,
}

#[derive(Default)]
struct State {
    conns: HashMap<ConnId, Conn>,
    online: HashMap<String, ConnId>,
    /// blocker -> users they block.
    blocks: HashMap<String, HashSet<String>>,
    /// Latest logout time per user (ms).
    last_seen: HashMap<String, i64>,
    /// (requester, target) -> pending request.
    pending: HashMap<(String, String), Pending>,
    /// Active private sessions, each pair stored with the smaller name first.
    private: HashSet<(String, String)>,
    per_ip: HashMap<IpAddr, usize>,
    shutting_down: bool,
}

impl State {
    fn blocks(&self, blocker: &str, blocked: &str) -> bool {
        self.blocks
            .get(blocker)
            .is_some_and(|set| set.contains(blocked))
    }

    fn conn_of(&self, user: &str) -> Option<&Conn> {
        self.online.get(user).and_then(|id| self.conns.get(id))
    }
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

/// Encodes an event once, for one or many queues.
pub fn event_line(event: &Event) -> Arc<str> {
    // The same bytes as `ServerFrame::Event(event.clone()).encode()`, without the deep clone.
    Arc::from(proto::encode_line(event))
}

/// The routing core. See the module docs.
pub struct Hub {
    /// Held only for lookups and non-blocking pushes; never across an `.await`.
    state: Mutex<State>,
    /// Counters for `chatctl stats`.
    pub counters: Counters,
    started: Instant,
    next_conn: AtomicU64,
    next_serial: AtomicU64,
}

/// A queued store job.
pub type StoreJob<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send>>;

/// What happened to a direct message.
pub enum Routed {
    /// Queued for an online recipient.
    Live,
    /// The recipient is offline: this future commits it to the store.
    Offline(StoreJob<StoreOutcome>),
}

impl Hub {
    /// A hub with the persisted block lists and login history.
    pub fn new(blocks: Vec<(String, String)>, last_seen: HashMap<String, i64>) -> Self {
        let mut state = State {
            last_seen,
            ..State::default()
        };
        for (blocker, blocked) in blocks {
            state.blocks.entry(blocker).or_default().insert(blocked);
        }
        Hub {
            state: Mutex::new(state),
            counters: Counters::default(),
            started: Instant::now(),
            next_conn: AtomicU64::new(1),
            next_serial: AtomicU64::new(1),
        }
    }

    /// Continues the cumulative counters from the store's saved values.
    pub fn with_counters(self, saved: &HashMap<String, u64>) -> Self {
        self.counters.restore(saved);
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pushes onto a connection's queue, or holds it during login. Gives the item back if the
    /// connection is gone or was just dropped as a slow consumer.
    fn push(&self, conn: &mut Conn, item: Outgoing) -> Result<(), Outgoing> {
        if let Some(held) = conn.held.as_mut() {
            held.push(item);
            return Ok(());
        }
        conn.out.push(&self.counters, item)
    }

    /// Pushes to `user`'s connection. Gives the item back if the user is not online or their
    /// connection could not take it.
    fn push_user(&self, st: &mut State, user: &str, item: Outgoing) -> Result<(), Outgoing> {
        let Some(id) = st.online.get(user).copied() else {
            return Err(item);
        };
        match st.conns.get_mut(&id) {
            Some(conn) => self.push(conn, item),
            None => Err(item),
        }
    }

    /// Registers a new connection, enforcing the connection limits.
    ///
    /// # Errors
    /// [`Refusal`] when a limit is reached or the server is shutting down.
    pub fn connect(
        &self,
        addr: SocketAddr,
        out: Outbox,
        max_total: usize,
        max_per_ip: usize,
    ) -> Result<(ConnId, Arc<AtomicI64>), Refusal> {
        let mut st = self.lock();
        if st.shutting_down {
            return Err(Refusal::ShuttingDown);
        }
        if st.conns.len() >= max_total {
            return Err(Refusal::Total);
        }
        let n = st.per_ip.entry(addr.ip()).or_default();
        if *n >= max_per_ip {
            return Err(Refusal::PerIp);
        }
        *n += 1;
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let last_active = Arc::new(AtomicI64::new(now_ms()));
        st.conns.insert(
            id,
            Conn {
                out,
                addr,
                user: None,
                last_active: Arc::clone(&last_active),
                held: None,
                since_ms: now_ms(),
                private_listen: None,
            },
        );
        let open = st.conns.len() as u64;
        drop(st);
        self.counters.connections.store(open, Ordering::Relaxed);
        self.counters
            .peak_connections
            .fetch_max(open, Ordering::Relaxed);
        Ok((id, last_active))
    }

    /// Whether `user` is logged in right now.
    pub fn is_online(&self, user: &str) -> bool {
        self.lock().online.contains_key(user)
    }

    /// Marks `conn` as logged in as `user`, tells the others, and queues the load of the
    /// user's offline messages (ordered after any offline message already routed). Frames for
    /// the user are held until [`Hub::finish_login`].
    ///
    /// # Errors
    /// `AlreadyLoggedIn` if another connection got there first.
    pub fn begin_login(
        &self,
        conn: ConnId,
        user: &str,
        store: &Store,
    ) -> Result<impl std::future::Future<Output = Result<Vec<OfflineMessage>, StoreError>>, ErrorCode>
    {
        let mut st = self.lock();
        if st.online.contains_key(user) {
            return Err(ErrorCode::AlreadyLoggedIn);
        }
        let Some(c) = st.conns.get_mut(&conn) else {
            return Err(ErrorCode::Internal);
        };
        c.user = Some(user.to_string());
        c.held = Some(Vec::new());
        c.since_ms = now_ms();
        c.last_active.store(now_ms(), Ordering::Relaxed);
        st.online.insert(user.to_string(), conn);
        let line = event_line(&Event::Presence {
            user: user.to_string(),
            online: true,
        });
        self.presence(&mut st, user, &line);
        let load = store.offline_for(user);
        drop(st);
        Counters::add(&self.counters.logins, 1);
        Ok(load)
    }

    /// Sends a presence line about `user` to every other online user, except those `user`
    /// has blocked (SPEC: presence) and those who blocked `user` (SPEC: a block stops the
    /// blocked user's presence reaching the blocker).
    fn presence(&self, st: &mut State, user: &str, line: &Arc<str>) {
        let targets: Vec<ConnId> = st
            .online
            .iter()
            .filter(|(name, _)| {
                name.as_str() != user && !st.blocks(user, name) && !st.blocks(name, user)
            })
            .map(|(_, id)| *id)
            .collect();
        for id in targets {
            if let Some(c) = st.conns.get_mut(&id) {
                let _ = self.push(c, Outgoing::Frame(Arc::clone(line)));
            }
        }
    }

    /// Queues the welcome, the offline messages and whatever was held during login, in that
    /// order, and releases the hold.
    pub fn finish_login(
        &self,
        conn: ConnId,
        welcome: Arc<str>,
        offline: &[OfflineMessage],
        store: &Store,
    ) {
        let mut st = self.lock();
        let Some(c) = st.conns.get_mut(&conn) else {
            return;
        };
        let held = c.held.take().unwrap_or_default();
        let out = c.out.clone();
        let mut items = Vec::with_capacity(offline.len() + held.len() + 2);
        items.push(Outgoing::Frame(welcome));
        // Each chunk is deleted from the store once its frame was written, so a crash during
        // a long delivery repeats at most the chunks not yet written.
        let capacity = out.cap;
        let chunks = (capacity / OFFLINE_QUEUE_SHARE / 2).max(1);
        let per_chunk = offline.len().div_ceil(chunks).max(OFFLINE_CHUNK_MIN);
        for chunk in offline.chunks(per_chunk) {
            let mut lines = String::new();
            for m in chunk {
                lines.push_str(&event_line(&Event::Message {
                    from: m.from.clone(),
                    text: m.text.clone(),
                    offline: true,
                }));
            }
            items.push(Outgoing::Frame(Arc::from(lines)));
            items.push(Outgoing::Delivered(chunk.iter().map(|m| m.id).collect()));
        }
        Counters::add(&self.counters.delivered, offline.len() as u64);
        items.extend(held);
        let mut lost = Vec::new();
        for item in items {
            if let Err(item) = out.push(&self.counters, item) {
                lost.push(item);
            }
        }
        drop(st);
        // Direct messages that arrived during the login and could not be queued (the
        // connection overflowed) go back to the store rather than being lost.
        for item in lost {
            if let Outgoing::Direct(d) = item {
                d.store_offline(store, u64::MAX);
            }
        }
    }

    /// Removes a connection. If it was logged in: the others see the logout, private sessions
    /// and requests involving the user end, and the logout time is recorded. Returns the user.
    pub fn disconnect(&self, conn: ConnId) -> Option<String> {
        let mut st = self.lock();
        let c = st.conns.remove(&conn)?;
        if let Some(n) = st.per_ip.get_mut(&c.addr.ip()) {
            *n -= 1;
            if *n == 0 {
                st.per_ip.remove(&c.addr.ip());
            }
        }
        self.counters
            .connections
            .store(st.conns.len() as u64, Ordering::Relaxed);
        let user = c.user?;
        if st.online.get(&user) != Some(&conn) {
            return None;
        }
        st.online.remove(&user);
        st.last_seen.insert(user.clone(), now_ms());
        let line = event_line(&Event::Presence {
            user: user.clone(),
            online: false,
        });
        self.presence(&mut st, &user, &line);
        let ended: Vec<(String, String)> = st
            .private
            .iter()
            .filter(|(a, b)| *a == user || *b == user)
            .cloned()
            .collect();
        for p in ended {
            st.private.remove(&p);
            let other = if p.0 == user { &p.1 } else { &p.0 };
            let line = event_line(&Event::PrivateEnded { peer: user.clone() });
            let _ = self.push_user(&mut st, other, Outgoing::Frame(line));
        }
        let pending: Vec<(String, String)> = st
            .pending
            .keys()
            .filter(|(a, b)| *a == user || *b == user)
            .cloned()
            .collect();
        for key in pending {
            st.pending.remove(&key);
            let other = if key.0 == user { &key.1 } else { &key.0 };
            let line = event_line(&Event::PrivateExpired { peer: user.clone() });
            let _ = self.push_user(&mut st, other, Outgoing::Frame(line));
        }
        Some(user)
    }

    /// Routes a direct message: live if the recipient is online, else queued for the store.
    ///
    /// # Errors
    /// `BlockedByRecipient` when the recipient blocks the sender.
    pub fn message(
        &self,
        from: &str,
        to: &str,
        text: &str,
        store: &Store,
        cap: u64,
    ) -> Result<Routed, ErrorCode> {
        let mut st = self.lock();
        if st.blocks(to, from) {
            Counters::add(&self.counters.dropped, 1);
            return Err(ErrorCode::BlockedByRecipient);
        }
        let direct = Direct {
            frame: proto::message_line(from, text),
            to: to.to_string(),
        };
        if self
            .push_user(&mut st, to, Outgoing::Direct(direct))
            .is_ok()
        {
            Counters::add(&self.counters.delivered, 1);
            return Ok(Routed::Live);
        }
        // Offline, or its connection just failed: store it.
        // Queued while the lock is held, so a concurrent login's load sees it.
        let job = store.store_offline(to, from, text, cap);
        drop(st);
        Ok(Routed::Offline(Box::pin(job)))
    }

    /// Counts an offline message stored (or refused).
    pub fn count_offline(&self, outcome: StoreOutcome) {
        match outcome {
            StoreOutcome::Stored => Counters::add(&self.counters.stored, 1),
            StoreOutcome::Full => Counters::add(&self.counters.dropped, 1),
        }
    }

    /// Sends a broadcast to every online user but the sender and those blocking the sender.
    /// Returns `(delivered, skipped)`.
    pub fn broadcast(&self, from: &str, text: &str) -> (u64, u64) {
        let line = event_line(&Event::Broadcast {
            from: from.to_string(),
            text: text.to_string(),
        });
        let mut st = self.lock();
        let mut targets = Vec::new();
        let mut skipped = 0;
        for (name, id) in &st.online {
            if name == from {
                continue;
            }
            if st.blocks(name, from) {
                skipped += 1;
            } else {
                targets.push(*id);
            }
        }
        for id in &targets {
            if let Some(c) = st.conns.get_mut(id) {
                let _ = self.push(c, Outgoing::Frame(Arc::clone(&line)));
            }
        }
        drop(st);
        Counters::add(&self.counters.delivered, targets.len() as u64);
        Counters::add(&self.counters.dropped, skipped);
        (targets.len() as u64, skipped)
    }

    /// `whoelse`: online users except `me` and those who block `me`, sorted.
    pub fn whoelse(&self, me: &str) -> Vec<String> {
        let st = self.lock();
        let mut v: Vec<String> = st
            .online
            .keys()
            .filter(|u| u.as_str() != me && !st.blocks(u, me))
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// `whoelsesince`: users online at any moment in the last `seconds`, except `me` and those
    /// who block `me`, sorted.
    pub fn whoelsesince(&self, me: &str, seconds: u64) -> Vec<String> {
        let since = now_ms().saturating_sub((seconds.min(u64::MAX / 2000) * 1000) as i64);
        let st = self.lock();
        let mut set: HashSet<&String> = st.online.keys().collect();
        set.extend(
            st.last_seen
                .iter()
                .filter(|(_, &t)| t >= since)
                .map(|(u, _)| u),
        );
        let mut v: Vec<String> = set
            .into_iter()
            .filter(|u| u.as_str() != me && !st.blocks(u, me))
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Whether `blocker` blocks `blocked`.
    pub fn blocks(&self, blocker: &str, blocked: &str) -> bool {
        self.lock().blocks(blocker, blocked)
    }

    /// Applies a block-list change already committed to the store.
    pub fn set_block(&self, blocker: &str, blocked: &str, on: bool) {
        let mut st = self.lock();
        if on {
            st.blocks
                .entry(blocker.to_string())
                .or_default()
                .insert(blocked.to_string());
        } else if let Some(set) = st.blocks.get_mut(blocker) {
            set.remove(blocked);
        }
    }

    /// Records the private listener of `conn`.
    pub fn set_private_listen(&self, conn: ConnId, host: Option<String>, port: u16) {
        let mut st = self.lock();
        if let Some(c) = st.conns.get_mut(&conn) {
            let host = host.unwrap_or_else(|| c.addr.ip().to_string());
            c.private_listen = Some((host, port));
        }
    }

    /// `startprivate`: checks the target and asks for consent. Returns the request's serial,
    /// for [`Hub::expire_private`].
    ///
    /// # Errors
    /// `UserOffline`, `BlockedByUser`, `PrivateAlreadyActive`, `PrivateUnavailable`.
    pub fn start_private(&self, from: &str, to: &str) -> Result<u64, ErrorCode> {
        let mut st = self.lock();
        let Some(target) = st.conn_of(to) else {
            return Err(ErrorCode::UserOffline);
        };
        if target.private_listen.is_none() {
            return Err(ErrorCode::PrivateUnavailable);
        }
        if st.blocks(to, from) {
            return Err(ErrorCode::BlockedByUser);
        }
        let key = (from.to_string(), to.to_string());
        let reverse = (to.to_string(), from.to_string());
        if st.private.contains(&pair(from, to))
            || st.pending.contains_key(&key)
            || st.pending.contains_key(&reverse)
        {
            return Err(ErrorCode::PrivateAlreadyActive);
        }
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        st.pending.insert(key, Pending { serial });
        let line = event_line(&Event::PrivateRequest {
            from: from.to_string(),
        });
        let _ = self.push_user(&mut st, to, Outgoing::Frame(line));
        Ok(serial)
    }

    /// A consent request timed out: tell both sides, if it is still pending.
    pub fn expire_private(&self, from: &str, to: &str, serial: u64) {
        let mut st = self.lock();
        let key = (from.to_string(), to.to_string());
        if st.pending.get(&key).is_some_and(|p| p.serial == serial) {
            st.pending.remove(&key);
            let line = event_line(&Event::PrivateExpired {
                peer: to.to_string(),
            });
            let _ = self.push_user(&mut st, from, Outgoing::Frame(line));
            let line = event_line(&Event::PrivateExpired {
                peer: from.to_string(),
            });
            let _ = self.push_user(&mut st, to, Outgoing::Frame(line));
        }
    }

    /// The target (`me`) answers `requester`'s request. On accept both sides get a
    /// `private_start` with the same fresh token; the requester also gets the address.
    ///
    /// # Errors
    /// `NoPrivateRequest` if nothing is pending; `UserOffline` if the requester left.
    pub fn answer_private(&self, me: &str, requester: &str, accept: bool) -> Result<(), ErrorCode> {
        let mut st = self.lock();
        let key = (requester.to_string(), me.to_string());
        if st.pending.remove(&key).is_none() {
            return Err(ErrorCode::NoPrivateRequest);
        }
        if !st.online.contains_key(requester) {
            return Err(ErrorCode::UserOffline);
        }
        if !accept {
            let line = event_line(&Event::PrivateDeclined {
                peer: me.to_string(),
            });
            let _ = self.push_user(&mut st, requester, Outgoing::Frame(line));
            return Ok(());
        }
        let Some((host, port)) = st.conn_of(me).and_then(|c| c.private_listen.clone()) else {
            return Err(ErrorCode::PrivateUnavailable);
        };
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let token = new_token();
        st.private.insert(pair(me, requester));
        // The listening side learns the token first, so it expects the connection.
        let line = event_line(&Event::PrivateStart {
            peer: requester.to_string(),
            addr: None,
            token: token.clone(),
        });
        let _ = self.push_user(&mut st, me, Outgoing::Frame(line));
        let line = event_line(&Event::PrivateStart {
            peer: me.to_string(),
            addr: Some(addr),
            token,
        });
        let _ = self.push_user(&mut st, requester, Outgoing::Frame(line));
        Ok(())
    }

    /// A private session between `me` and `peer` ended.
    pub fn end_private(&self, me: &str, peer: &str) {
        self.lock().private.remove(&pair(me, peer));
    }

    /// Kicks `user`: they get a `kicked` event, then the connection closes.
    /// Returns false if the user is not online.
    pub fn kick(&self, user: &str, reason: Option<String>) -> bool {
        let mut st = self.lock();
        let line = event_line(&Event::Kicked { reason });
        let Some(id) = st.online.get(user).copied() else {
            return false;
        };
        if let Some(c) = st.conns.get_mut(&id) {
            let held = c.held.take().unwrap_or_default();
            // If the queue cannot take these, the connection is dropped anyway.
            let _ = c.out.push(&self.counters, Outgoing::Frame(line));
            let _ = c.out.push(&self.counters, Outgoing::Close);
            queue_behind_close(&self.counters, c, held);
        }
        true
    }

    /// Starts the shutdown: refuses new connections, and tells every connection (logged in
    /// or not) that the server is shutting down, then closes it.
    pub fn shutdown(&self) {
        let line = event_line(&Event::Shutdown);
        let mut st = self.lock();
        st.shutting_down = true;
        for c in st.conns.values_mut() {
            let held = c.held.take().unwrap_or_default();
            let _ = c
                .out
                .push(&self.counters, Outgoing::Frame(Arc::clone(&line)));
            let _ = c.out.push(&self.counters, Outgoing::Close);
            queue_behind_close(&self.counters, c, held);
        }
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.lock().conns.len()
    }

    /// Online users for `chatctl who`, sorted by name.
    pub fn who(&self) -> Vec<OnlineUser> {
        let st = self.lock();
        let now = now_ms();
        let mut v: Vec<OnlineUser> = st
            .online
            .iter()
            .filter_map(|(name, id)| {
                let c = st.conns.get(id)?;
                let mut private: Vec<String> = st
                    .private
                    .iter()
                    .filter_map(|(a, b)| {
                        if a == name {
                            Some(b.clone())
                        } else if b == name {
                            Some(a.clone())
                        } else {
                            None
                        }
                    })
                    .collect();
                private.sort();
                Some(OnlineUser {
                    user: name.clone(),
                    addr: c.addr.to_string(),
                    since: (c.since_ms / 1000) as u64,
                    idle: ((now - c.last_active.load(Ordering::Relaxed)).max(0) / 1000) as u64,
                    private,
                })
            })
            .collect();
        v.sort_by(|a, b| a.user.cmp(&b.user));
        v
    }

    /// Counters for `chatctl stats` (`locked_accounts` is filled by the caller).
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            uptime: self.started.elapsed().as_secs(),
            connections: get(&c.connections),
            peak_connections: get(&c.peak_connections),
            online: self.lock().online.len() as u64,
            logins: get(&c.logins),
            failed_logins: get(&c.failed_logins),
            locked_accounts: 0,
            messages_delivered: get(&c.delivered),
            messages_stored: get(&c.stored),
            messages_dropped: get(&c.dropped),
            slow_consumers_dropped: get(&c.slow_dropped),
        }
    }

    /// Encodes a reply for `id`.
    pub fn reply_line(id: Option<u64>, response: Response) -> Arc<str> {
        Arc::from(ServerFrame::Reply { id, response }.encode())
    }
}

/// Puts the direct messages held for a login that is being cut short behind its `Close`: the
/// writer never writes them, and stores them offline instead of dropping them.
fn queue_behind_close(counters: &Counters, c: &Conn, held: Vec<Outgoing>) {
    for item in held {
        if matches!(item, Outgoing::Direct(_)) {
            let _ = c.out.push(counters, item);
        }
    }
}

/// A fresh one-time token: 128 random bits, hex.
fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
