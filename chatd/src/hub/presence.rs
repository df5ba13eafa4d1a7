//! Presence: who is logged in on which connection (the local [`Directory`]), each user's last
//! logout (for `whoelsesince`), logging in (held frames, then the offline backlog, which the
//! connection's writer streams from the store) and out, and the presence events the others see.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Counters, Hub, Outgoing, PresenceChange, State};
use crate::clock::Clock;
use crate::seams::{Backlog, Bus, BusMessage, ConnId, Directory, Location, Store};

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
        let user = c.user.clone().unwrap_or_default();
        let mut items = Vec::with_capacity(held.len() + 2);
        items.push(welcome);
        if let Some(b) = backlog.filter(|b| b.count > 0) {
            items.push(Outgoing::Backlog {
                user: user.into(),
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
        // connection overflowed) go back to the store rather than being lost.
        for item in lost {
            if let Outgoing::Direct(d) = item {
                d.store_offline(store);
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
        st.presence
            .last_seen
            .insert(user.to_string(), self.clock.now_ms());
        if !st.shutting_down {
            self.announce(st, user, false);
        }
        true
    }

    /// Sends a presence line about `user` to every other online user, except those `user`
    /// has blocked (SPEC: presence) and those who blocked `user` (SPEC: a block stops the
    /// blocked user's presence reaching the blocker).
    fn announce(&self, st: &mut State, user: &str, online: bool) {
        self.bus.publish_all(BusMessage::Presence { user, online });
        let change = Arc::new(PresenceChange::new(
            user,
            online,
            self.clock.now_ms() as u64,
        ));
        // Those `user` blocks and those who block `user`: no lookup per recipient.
        let mine = st.blocks.blocked_by(user);
        let theirs = st.blocks.blockers_of(user);
        let targets: Vec<ConnId> = st
            .presence
            .online
            .iter()
            .filter(|(name, _)| {
                name.as_str() != user
                    && !mine.is_some_and(|s| s.contains(name.as_str()))
                    && !theirs.is_some_and(|s| s.contains(name.as_str()))
            })
            .map(|(_, id)| *id)
            .collect();
        for id in targets {
            self.push_presence(st, id, &change);
        }
    }
}
