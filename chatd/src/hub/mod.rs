//! The hub: who is connected and who is logged in, and everything that routes between users.
//! Split by concern: [`presence`] (logins, logouts, presence events, the local
//! [`Directory`](crate::seams::Directory)), [`routing`] (direct messages, broadcasts, block
//! lists), [`private`] (private-messaging introductions), [`views`] (`whoelse`,
//! `whoelsesince`, `chatctl who` and `stats`), [`accounts`] (a deleted account leaving),
//! [`counters`] and [`outbox`] (a connection's queue). This file holds the shared state, connections coming and going, kicks and shutdown.
//!
//! State sits behind one `std::sync::Mutex`, held only for map lookups and non-blocking queue
//! pushes, never across an `.await`. Store jobs that must be ordered with routing decisions
//! (an offline message versus the recipient's login) are *queued* under the lock and awaited
//! after it is released. The hub never writes to a socket: it pushes frames onto each
//! connection's bounded queue, and a full queue drops that connection. Its errors are domain
//! errors; the wire codes and texts are the commands' business.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use proto::Event;

use crate::clock::{AnyClock, Clock};
use crate::seams::{ConnId, LocalBus, Store};

pub(crate) mod accounts;
pub(crate) mod acks;
pub(crate) mod counters;
pub(crate) mod outbox;
pub(crate) mod presence;
pub(crate) mod private;
pub(crate) mod routing;
#[cfg(test)]
mod tests;
pub(crate) mod views;

pub use acks::{Acks, Entry};
pub use counters::Counters;
pub use outbox::{event_line, give_back, Direct, Outbox, Outgoing, NO_PRESENCE};

/// How long a presence change may wait for company before it is written to a client that
/// has nothing else to write (anything else written to that client takes it along at once):
/// the period of the presence rounds ([`Hub::presence_rounds`]).
pub const PRESENCE_DELAY: std::time::Duration = std::time::Duration::from_millis(100);
pub use presence::LoginError;
pub use private::PrivateError;
pub use routing::{RouteError, Routed};

/// Why a connection may not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `max_connections` reached.
    #[error("the server is full")]
    Total,
    /// `max_connections_per_ip` reached.
    #[error("too many connections from one address")]
    PerIp,
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
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
    /// The private listener: host, port, and its certificate's fingerprint when it serves TLS.
    private_listen: Option<(String, u16, Option<String>)>,
}

/// Block lists in memory, both ways: blocker -> users they block, and blocked -> users who
/// block them. The second makes a presence change or a broadcast skip its blockers without a
/// lookup per recipient (a user nobody blocks costs nothing).
#[derive(Default)]
struct Blocks {
    by_blocker: HashMap<String, HashSet<String>>,
    by_blocked: HashMap<String, HashSet<String>>,
}

impl Blocks {
    fn blocks(&self, blocker: &str, blocked: &str) -> bool {
        self.by_blocker
            .get(blocker)
            .is_some_and(|set| set.contains(blocked))
    }

    /// The users `user` blocks.
    fn blocked_by(&self, user: &str) -> Option<&HashSet<String>> {
        self.by_blocker.get(user)
    }

    /// The users who block `user`.
    fn blockers_of(&self, user: &str) -> Option<&HashSet<String>> {
        self.by_blocked.get(user)
    }

    fn insert(&mut self, blocker: &str, blocked: &str) {
        self.by_blocker
            .entry(blocker.to_string())
            .or_default()
            .insert(blocked.to_string());
        self.by_blocked
            .entry(blocked.to_string())
            .or_default()
            .insert(blocker.to_string());
    }

    fn remove(&mut self, blocker: &str, blocked: &str) {
        for (map, key, value) in [
            (&mut self.by_blocker, blocker, blocked),
            (&mut self.by_blocked, blocked, blocker),
        ] {
            if let Some(set) = map.get_mut(key) {
                set.remove(value);
                if set.is_empty() {
                    map.remove(key);
                }
            }
        }
    }

    /// Forgets every block by or of `user` (a deleted account).
    fn forget(&mut self, user: &str) {
        for blocked in self.by_blocker.remove(user).unwrap_or_default() {
            self.remove(user, &blocked);
        }
        for blocker in self.by_blocked.remove(user).unwrap_or_default() {
            self.remove(&blocker, user);
        }
    }
}

#[derive(Default)]
struct State {
    conns: HashMap<ConnId, Conn>,
    presence: presence::Presence,
    blocks: Blocks,
    private: private::Brokering,
    per_ip: HashMap<IpAddr, usize>,
    shutting_down: bool,
    /// Logins and logouts not yet written to everyone who was online for them.
    log: presence::Log,
}

impl State {
    fn blocks(&self, blocker: &str, blocked: &str) -> bool {
        self.blocks.blocks(blocker, blocked)
    }

    fn conn_of(&self, user: &str) -> Option<&Conn> {
        self.presence
            .online
            .get(user)
            .and_then(|id| self.conns.get(id))
    }
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
    /// The next message id: unique per server (see [`Hub::msg_ids_above`]).
    next_msg_id: AtomicU64,
    clock: AnyClock,
    bus: LocalBus,
    /// Rung by every presence change: presence rounds run while the log holds any.
    presence_bell: (async_channel::Sender<()>, async_channel::Receiver<()>),
    /// The presence log's head (its next position), readable without the lock: connection
    /// tasks compare it with their own position to see whether presence waits for them.
    presence_head: AtomicU64,
}

impl Hub {
    /// A hub with the persisted block lists, login history and counters.
    pub(crate) fn new(
        blocks: Vec<(String, String)>,
        last_seen: HashMap<String, i64>,
        saved_counters: &HashMap<String, u64>,
        clock: AnyClock,
    ) -> Self {
        let mut state = State::default();
        state.presence.last_seen = last_seen;
        for (blocker, blocked) in blocks {
            state.blocks.insert(&blocker, &blocked);
        }
        let mut counters = Counters::default();
        counters.restore(saved_counters);
        Hub {
            state: Mutex::new(state),
            counters,
            started: Instant::now(),
            next_conn: AtomicU64::new(1),
            next_serial: AtomicU64::new(1),
            // Above the wall clock in ms times 1024: above any id an earlier run handed out,
            // unless it averaged more than 1024 messages per millisecond.
            next_msg_id: AtomicU64::new(u64::try_from(crate::clock::wall_ms()).unwrap_or(0) << 10),
            clock,
            bus: LocalBus,
            presence_bell: async_channel::bounded(1),
            presence_head: AtomicU64::new(0),
        }
    }

    /// Makes every later message id greater than `max` (the highest stored one).
    pub(crate) fn msg_ids_above(&self, max: u64) {
        self.next_msg_id
            .fetch_max(max.saturating_add(1), Ordering::Relaxed);
    }

    /// A fresh message id.
    pub(crate) fn msg_id(&self) -> u64 {
        self.next_msg_id.fetch_add(1, Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pushes onto a connection's queue, or holds it during login. Gives the item back if the
    /// connection is gone or was just dropped as a slow consumer. Presence changes logged
    /// since the connection's last marker get a marker first, so they reach the client before
    /// this item, as they happened.
    fn push(&self, conn: &mut Conn, item: Outgoing) -> Result<(), Outgoing> {
        let head = self.presence_head();
        let Some(held) = conn.held.as_mut() else {
            return conn.out.push_in_order(&self.counters, head, item);
        };
        if conn.out.advance_fence(head) && !outbox::merge_marker(held.last_mut(), head) {
            held.push(Outgoing::PresenceUpTo(head));
        }
        held.push(item);
        Ok(())
    }

    /// Pushes onto a connection's own queue (its task's answers), after the presence changes
    /// logged before, as [`Hub::push`] does: a client sees the login before a `whoelse`
    /// answer that lists the user. Gives the item back if it was not queued.
    ///
    /// # Errors
    /// The item, when it was not queued (a full queue kills the connection).
    pub(crate) fn push_own(&self, out: &Outbox, item: Outgoing) -> Result<(), Outgoing> {
        out.push_in_order(&self.counters, self.presence_head(), item)
    }

    /// The presence log's head: connection tasks with a position below it have presence to
    /// write.
    pub(crate) fn presence_head(&self) -> u64 {
        self.presence_head.load(Ordering::Acquire)
    }

    /// Runs presence rounds ([`Hub::presence_round`]) while the presence log holds changes,
    /// [`PRESENCE_DELAY`] apart once the last round's writes are done (`settle`: the server
    /// waits for its executor thread to be idle, or another [`PRESENCE_DELAY`] at most): the
    /// server runs this for as long as it serves. Changes that come close together (a class
    /// logging in) then reach each idle client as one line and one write, instead of one
    /// write per change per client; and with many clients online, writing one round's
    /// presence to all of them cannot take up all the time between rounds.
    pub(crate) async fn presence_rounds<F: std::future::Future<Output = ()>>(
        &self,
        mut settle: impl FnMut() -> F,
    ) {
        loop {
            let _ = self.presence_bell.1.recv().await;
            loop {
                smol::Timer::after(PRESENCE_DELAY).await;
                if !self.presence_round() {
                    break;
                }
                futures_lite::future::or(settle(), async {
                    smol::Timer::after(PRESENCE_DELAY).await;
                })
                .await;
            }
        }
    }

    /// Pushes to connection `id`. Gives the item back if it is gone or could not take it.
    fn push_conn(&self, st: &mut State, id: ConnId, item: Outgoing) -> Result<(), Outgoing> {
        match st.conns.get_mut(&id) {
            Some(conn) => self.push(conn, item),
            None => Err(item),
        }
    }

    /// Pushes to `user`'s connection. Gives the item back if the user is not online or their
    /// connection could not take it.
    fn push_user(&self, st: &mut State, user: &str, item: Outgoing) -> Result<(), Outgoing> {
        match st.presence.online.get(user).copied() {
            Some(id) => self.push_conn(st, id, item),
            None => Err(item),
        }
    }

    /// Registers a new connection, enforcing the connection limits. Returns its id and the
    /// time of its last activity (which the connection keeps current for `chatctl who`).
    ///
    /// # Errors
    /// [`Refusal`] when a limit is reached or the server is shutting down.
    pub(crate) fn connect(
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
        let now = self.clock.now_ms();
        let last_active = Arc::new(AtomicI64::new(now));
        st.conns.insert(
            id,
            Conn {
                out,
                addr,
                user: None,
                last_active: Arc::clone(&last_active),
                held: None,
                since_ms: now,
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

    /// The user logged in on `conn`, if any (none either once its account is deleted).
    pub(crate) fn user_of(&self, conn: ConnId) -> Option<String> {
        self.lock().conns.get(&conn)?.user.clone()
    }

    /// Removes a connection whose task has stopped writing. What it never acknowledged, what
    /// its task took and did not write (`taken`), and what was still queued or held for it is
    /// stored for the user's next login, under
    /// the lock and before the user goes offline, so a login right after sees it. If it was
    /// logged in: the others see the logout, private sessions and requests involving the user
    /// end, and the logout time is noted. Returns the user.
    pub(crate) fn disconnect<S: Store>(
        &self,
        conn: ConnId,
        taken: VecDeque<Outgoing>,
        store: &S,
    ) -> Option<String> {
        let mut st = self.lock();
        let mut c = st.conns.remove(&conn)?;
        // A connection of no account (never logged in, or its account was deleted: it keeps
        // nothing) stores nothing.
        let to = c.user.as_deref();
        let mut stored = 0;
        for entry in c.out.acks().lock().take() {
            if let (Entry::Live(d), Some(to)) = (entry, to) {
                stored += u64::from(d.store_offline(to, store));
            }
        }
        let queued = c.out.close();
        let held = c.held.take().unwrap_or_default();
        for item in taken.into_iter().chain(held).chain(queued) {
            if let (Outgoing::Direct(d), Some(to)) = (item, to) {
                stored += u64::from(d.store_offline(to, store));
            }
        }
        Counters::add(&self.counters.stored, stored);
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
        if !self.logout(&mut st, conn, &user) {
            return None;
        }
        self.end_all_private(&mut st, &user);
        Some(user)
    }

    /// Kicks `user`: they get a `kicked` event, then the connection closes.
    /// Returns false if the user is not online.
    pub(crate) fn kick(&self, user: &str, reason: Option<String>) -> bool {
        let mut st = self.lock();
        let line = event_line(&Event::Kicked { reason });
        let Some(id) = st.presence.online.get(user).copied() else {
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
    pub(crate) fn shutdown(&self) {
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

    /// Tells every connection that the configuration was reloaded (their deadlines may have
    /// moved: a lowered `timeout` logs idle users out at once).
    pub(crate) fn reloaded(&self) {
        for c in self.lock().conns.values() {
            c.out.reloaded();
        }
    }

    /// Open connections.
    pub(crate) fn connection_count(&self) -> usize {
        self.lock().conns.len()
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
