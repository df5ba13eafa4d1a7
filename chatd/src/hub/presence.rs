//! Presence: who is logged in on which connection (the local [`Directory`]), each user's last
//! logout (for `whoelsesince`), logging in (held frames, then the offline backlog, which the
//! connection's writer streams from the store) and out, and the presence events the others see.
//!
//! Presence changes are not queued per recipient. Each login or logout is appended once to
//! one shared, ordered [`Log`]; every logged-in connection has a position in it
//! ([`Outbox::seen`](super::Outbox::seen)) and writes the changes past its position itself
//! ([`Hub::presence_into`]), filtered for it (not its own, none across a block), merged into
//! `presence_batch` lines. It does so whenever it writes anything else (a marker,
//! [`Outgoing::PresenceUpTo`], keeps the changes ahead of the items queued after them) and
//! at the presence rounds ([`Hub::presence_round`], every [`super::PRESENCE_DELAY`]), which
//! wake the idle connections with changes to write and trim the log below the lowest
//! position. A change costs the hub the same with 10 or 15,000 users online: a mass logout
//! of N users is N appends, not N² queue pushes.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;

use super::{Counters, Hub, Outgoing, State, NO_PRESENCE};
use crate::clock::Clock;
use crate::seams::{Backlog, Bus, BusMessage, ConnId, Directory, Location, Store};

/// One user's login or logout, encoded once for every recipient.
#[derive(Debug)]
pub struct PresenceChange {
    /// The `presence` line.
    pub line: Box<str>,
    /// Who.
    pub user: Box<str>,
    /// Logged in (or out).
    pub online: bool,
    /// When (ms since the Unix epoch).
    pub ts: u64,
}

impl PresenceChange {
    /// The change and its line.
    pub fn new(user: &str, online: bool, ts: u64) -> Self {
        let line = proto::encode_line(&proto::Event::Presence {
            user: user.to_string(),
            online,
            ts: Some(ts),
        });
        PresenceChange {
            line: line.into(),
            user: user.into(),
            online,
            ts,
        }
    }
}

/// The most changes one `presence_batch` line carries.
pub const PRESENCE_RUN_MAX: usize = 1024;

/// The presence changes some logged-in connection has not written yet, oldest first, each at
/// a position (0, 1, 2, ... since the server started).
#[derive(Default)]
pub(crate) struct Log {
    /// The position of `entries[0]`.
    base: u64,
    entries: VecDeque<PresenceChange>,
}

impl Log {
    /// The position the next change gets.
    pub(crate) fn head(&self) -> u64 {
        self.base + self.entries.len() as u64
    }

    /// Drops the changes before position `below`.
    fn trim(&mut self, below: u64) {
        let n = below
            .saturating_sub(self.base)
            .min(self.entries.len() as u64);
        self.entries.drain(..n as usize);
        self.base += n;
    }

    /// The changes from position `from` (or the oldest kept) up to `to`, with their positions.
    fn range(&self, from: u64, to: u64) -> impl Iterator<Item = (u64, &PresenceChange)> {
        let from = from.max(self.base);
        let to = to.min(self.head()).max(from);
        let (a, b) = ((from - self.base) as usize, (to - self.base) as usize);
        self.entries
            .range(a..b)
            .zip(from..)
            .map(|(c, pos)| (pos, c))
    }
}

/// Writes `run` (changes of one kind, in order) as one line: the `presence` line of a single
/// change, a `presence_batch` of several.
fn write_run(buf: &mut Vec<u8>, run: &[&PresenceChange]) {
    match run {
        [] => {}
        [one] => buf.extend_from_slice(one.line.as_bytes()),
        [.., last] => {
            proto::write_presence_batch(buf, run.iter().map(|c| &*c.user), last.online, last.ts)
        }
    }
}

/// Who is online where, and when each user last logged out.
#[derive(Default)]
pub(crate) struct Presence {
    /// Logged-in users and their connections.
    pub(super) online: HashMap<String, ConnId>,
    /// Latest logout time per user (ms).
    pub(super) last_seen: HashMap<String, i64>,
}

impl Directory for Presence {
    fn locate(&self, user: &str) -> Location {
        match self.online.get(user) {
            Some(id) => Location::Local(*id),
            None => Location::Offline,
        }
    }
}

/// Why a login could not go online.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Another connection logged in as this user first.
    #[error("already logged in elsewhere")]
    AlreadyLoggedIn,
    /// The connection is no longer registered (it is closing).
    #[error("the connection is gone")]
    ConnectionGone,
}

impl Hub {
    /// Whether `user` is logged in right now.
    pub(crate) fn is_online(&self, user: &str) -> bool {
        self.lock().presence.online.contains_key(user)
    }

    /// Marks `conn` as logged in as `user`, tells the others, and queues the count of the
    /// user's offline messages (ordered after any offline message already routed). Frames for
    /// the user are held until [`Hub::finish_login`].
    ///
    /// # Errors
    /// [`LoginError`] if another connection got there first or this one is gone.
    pub(crate) fn begin_login<S: Store>(
        &self,
        conn: ConnId,
        user: &str,
        store: &S,
    ) -> Result<S::Job<Backlog>, LoginError> {
        let mut st = self.lock();
        if st.presence.online.contains_key(user) {
            return Err(LoginError::AlreadyLoggedIn);
        }
        let now = self.clock.now_ms();
        let Some(c) = st.conns.get_mut(&conn) else {
            return Err(LoginError::ConnectionGone);
        };
        c.user = Some(user.to_string());
        c.held = Some(Vec::new());
        c.since_ms = now;
        c.last_active.store(now, Ordering::Relaxed);
        st.presence.online.insert(user.to_string(), conn);
        self.announce(&mut st, user, true);
        // From now on, the others' changes are this connection's to write (once the login
        // is finished); items held meanwhile get markers from here on.
        let head = st.log.head();
        if let Some(c) = st.conns.get(&conn) {
            c.out.start_presence(head);
        }
        let load = store.backlog(user);
        drop(st);
        Counters::add(&self.counters.logins, 1);
        Ok(load)
    }

    /// Queues the welcome, the offline backlog (streamed from the store by the writer) and
    /// whatever was held during login, in that order, and releases the hold.
    pub(crate) fn finish_login<S: Store>(
        &self,
        conn: ConnId,
        welcome: Outgoing,
        backlog: Option<Backlog>,
        store: &S,
    ) {
        let mut st = self.lock();
        let Some(c) = st.conns.get_mut(&conn) else {
            return;
        };
        let held = c.held.take().unwrap_or_default();
        let out = c.out.clone();
        let user = c.user.clone();
        let mut items = Vec::with_capacity(held.len() + 2);
        items.push(welcome);
        if let Some(b) = backlog.filter(|b| b.count > 0) {
            items.push(Outgoing::Backlog {
                user: user.as_deref().unwrap_or_default().into(),
                upto: b.last,
            });
            Counters::add(&self.counters.delivered, b.count);
        }
        items.extend(held);
        let mut lost = Vec::new();
        for item in items {
            if let Err(item) = out.push(&self.counters, item) {
                lost.push(item);
            }
        }
        drop(st);
        // Direct messages that arrived during the login and could not be queued (the
        // connection overflowed) go back to the store rather than being lost (unless the
        // account was deleted meanwhile: it keeps nothing).
        for item in lost {
            if let (Outgoing::Direct(d), Some(user)) = (item, &user) {
                d.store_offline(user, store);
            }
        }
    }

    /// Takes `user` on `conn` offline, if that is where they are logged in, noting the time
    /// and telling the others. Returns whether it was.
    ///
    /// Once the server is shutting down the others are not told: every one of them has been
    /// sent `shutdown` and is being closed too, and telling each of N sessions about the other
    /// N - 1 ending was a storm of N² frames (15,000 sessions: 112 million) that outlasted the
    /// shutdown's guard. The logout time is still noted (and recorded in the store by the
    /// connection).
    pub(super) fn logout(&self, st: &mut State, conn: ConnId, user: &str) -> bool {
        if st.presence.online.get(user) != Some(&conn) {
            return false;
        }
        st.presence.online.remove(user);
        if let Some(c) = st.conns.get(&conn) {
            c.out.set_seen(NO_PRESENCE);
        }
        st.presence
            .last_seen
            .insert(user.to_string(), self.clock.now_ms());
        if !st.shutting_down {
            self.announce(st, user, false);
        }
        true
    }

    /// Logs a presence change about `user` for every other online user to write (see the
    /// module docs); those `user` blocks and those who block `user` skip it when they do
    /// (SPEC: presence; a block stops the blocked user's presence reaching the blocker).
    fn announce(&self, st: &mut State, user: &str, online: bool) {
        self.bus.publish_all(BusMessage::Presence { user, online });
        let change = PresenceChange::new(user, online, self.clock.now_ms() as u64);
        st.log.entries.push_back(change);
        self.presence_head.store(st.log.head(), Ordering::Release);
        // The next round (a full bell means one is already coming).
        let _ = self.presence_bell.0.try_send(());
    }

    /// Writes into `buf` the presence changes for connection `conn` from its position up to
    /// `upto` (the log's head at most), and moves its position there: its own changes and
    /// those across a block are skipped, consecutive changes of one kind become one
    /// `presence_batch` line. Nothing while its login is not finished (its welcome goes
    /// first). Stops early once `buf` holds `budget` bytes; returns whether it got to `upto`.
    pub(crate) fn presence_into(
        &self,
        conn: ConnId,
        upto: u64,
        buf: &mut Vec<u8>,
        budget: usize,
    ) -> bool {
        let st = self.lock();
        let Some(c) = st.conns.get(&conn) else {
            return true;
        };
        let (Some(me), None) = (c.user.as_deref(), &c.held) else {
            return true;
        };
        let from = c.out.seen();
        let to = upto.min(st.log.head());
        if from >= to {
            return true;
        }
        let mine = st.blocks.blocked_by(me);
        let theirs = st.blocks.blockers_of(me);
        let mut run: Vec<&PresenceChange> = Vec::new();
        let mut pos = from;
        let mut done = true;
        for (at, change) in st.log.range(from, to) {
            let user = &*change.user;
            if user != me
                && !mine.is_some_and(|s| s.contains(user))
                && !theirs.is_some_and(|s| s.contains(user))
            {
                if run.first().is_some_and(|first| {
                    first.online != change.online || run.len() >= PRESENCE_RUN_MAX
                }) {
                    write_run(buf, &run);
                    run.clear();
                    if buf.len() >= budget {
                        done = false;
                        break;
                    }
                }
                run.push(change);
            }
            pos = at + 1;
        }
        write_run(buf, &run);
        // Stopped early, `pos` is the change that would have started the next run.
        c.out.set_seen(if done { to } else { pos });
        done
    }

    /// One presence round: wakes the connections with presence to write (idle ones have
    /// waited up to [`super::PRESENCE_DELAY`] for company), drops those lagging behind
    /// by more than their send queue could hold ([`PRESENCE_RUN_MAX`] changes per item) as
    /// slow consumers, and trims the log below the lowest position. Returns whether the log
    /// still holds changes (another round is due).
    pub(crate) fn presence_round(&self) -> bool {
        let mut st = self.lock();
        let head = st.log.head();
        let mut low = head;
        let mut slow = Vec::new();
        for c in st.conns.values() {
            let seen = c.out.seen();
            if seen >= head {
                continue;
            }
            low = low.min(seen);
            if c.held.is_some() {
                continue;
            }
            if head - seen > (c.out.cap() * PRESENCE_RUN_MAX) as u64 {
                slow.push(c.out.clone());
            } else {
                c.out.mark(head);
            }
        }
        st.log.trim(low);
        let more = !st.log.entries.is_empty();
        drop(st);
        for out in slow {
            if out.kill() {
                Counters::add(&self.counters.slow_dropped, 1);
                log::warn!("dropping a slow client: it is too far behind on presence");
            }
        }
        more
    }
}
