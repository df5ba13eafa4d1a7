//! Private-messaging introductions: each user's advertised listener, consent requests (with
//! their expiry), the one-time token both sides get on consent, and the sessions that exist,
//! so a logout can tell the peer. The private messages themselves never pass the server.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use proto::Event;

use super::{event_line, Hub, Outgoing, State};
use crate::seams::ConnId;

/// Pending requests and active sessions.
#[derive(Default)]
pub(crate) struct Brokering {
    /// (requester, target) -> the request's serial.
    pending: HashMap<(String, String), u64>,
    /// Active private sessions, each pair stored with the smaller name first.
    sessions: HashSet<(String, String)>,
}

impl Brokering {
    /// `user`'s private peers, sorted.
    pub(super) fn peers_of(&self, user: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .sessions
            .iter()
            .filter_map(|(a, b)| match (a == user, b == user) {
                (true, _) => Some(b.clone()),
                (_, true) => Some(a.clone()),
                _ => None,
            })
            .collect();
        v.sort();
        v
    }
}

/// Why a private-messaging request or answer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PrivateError {
    /// The other user is not logged in.
    #[error("the user is offline")]
    UserOffline,
    /// The target has not told the server where to reach them.
    #[error("the user has no private listener")]
    Unavailable,
    /// The target blocks the requester.
    #[error("the user blocks the requester")]
    BlockedByUser,
    /// A session or a request between the two exists already.
    #[error("already active or requested")]
    AlreadyActive,
    /// Nothing to answer.
    #[error("no such request")]
    NoRequest,
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

impl Hub {
    /// Records the private listener of `conn` (the peer's address when `host` is `None`), and
    /// the fingerprint of its certificate when it serves TLS.
    pub(crate) fn set_private_listen(
        &self,
        conn: ConnId,
        host: Option<String>,
        port: u16,
        fingerprint: Option<String>,
    ) {
        let mut st = self.lock();
        if let Some(c) = st.conns.get_mut(&conn) {
            let host = host.unwrap_or_else(|| c.addr.ip().to_string());
            c.private_listen = Some((host, port, fingerprint));
        }
    }

    /// `startprivate`: checks the target and asks for consent. Returns the request's serial,
    /// for [`Hub::expire_private`].
    ///
    /// # Errors
    /// [`PrivateError`]: offline, unavailable, blocked, already active.
    pub(crate) fn start_private(&self, from: &str, to: &str) -> Result<u64, PrivateError> {
        let mut st = self.lock();
        let Some(target) = st.conn_of(to) else {
            return Err(PrivateError::UserOffline);
        };
        if target.private_listen.is_none() {
            return Err(PrivateError::Unavailable);
        }
        if st.blocks(to, from) {
            return Err(PrivateError::BlockedByUser);
        }
        let key = (from.to_string(), to.to_string());
        let reverse = (to.to_string(), from.to_string());
        let b = &st.private;
        if b.sessions.contains(&pair(from, to))
            || b.pending.contains_key(&key)
            || b.pending.contains_key(&reverse)
        {
            return Err(PrivateError::AlreadyActive);
        }
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        st.private.pending.insert(key, serial);
        let line = event_line(&Event::PrivateRequest {
            from: from.to_string(),
        });
        let _ = self.push_user(&mut st, to, Outgoing::Frame(line));
        Ok(serial)
    }

    /// A consent request timed out: tell both sides, if it is still pending.
    pub(crate) fn expire_private(&self, from: &str, to: &str, serial: u64) {
        let mut st = self.lock();
        let key = (from.to_string(), to.to_string());
        if st.private.pending.get(&key) == Some(&serial) {
            st.private.pending.remove(&key);
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
    /// `private_start` with the same fresh token; the requester also gets the address (and
    /// the fingerprint of the target's listener, when it serves TLS).
    ///
    /// # Errors
    /// [`PrivateError::NoRequest`] if nothing is pending; `UserOffline` if the requester left;
    /// `Unavailable` if `me` has no listener.
    pub(crate) fn answer_private(
        &self,
        me: &str,
        requester: &str,
        accept: bool,
    ) -> Result<(), PrivateError> {
        let mut st = self.lock();
        let key = (requester.to_string(), me.to_string());
        if st.private.pending.remove(&key).is_none() {
            return Err(PrivateError::NoRequest);
        }
        if !st.presence.online.contains_key(requester) {
            return Err(PrivateError::UserOffline);
        }
        if !accept {
            let line = event_line(&Event::PrivateDeclined {
                peer: me.to_string(),
            });
            let _ = self.push_user(&mut st, requester, Outgoing::Frame(line));
            return Ok(());
        }
        let Some((host, port, fingerprint)) = st.conn_of(me).and_then(|c| c.private_listen.clone())
        else {
            return Err(PrivateError::Unavailable);
        };
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let token = new_token();
        st.private.sessions.insert(pair(me, requester));
        // The listening side learns the token first, so it expects the connection.
        let line = event_line(&Event::PrivateStart {
            peer: requester.to_string(),
            addr: None,
            token: token.clone(),
            fingerprint: None,
        });
        let _ = self.push_user(&mut st, me, Outgoing::Frame(line));
        let line = event_line(&Event::PrivateStart {
            peer: me.to_string(),
            addr: Some(addr),
            token,
            fingerprint,
        });
        let _ = self.push_user(&mut st, requester, Outgoing::Frame(line));
        Ok(())
    }

    /// A private session between `me` and `peer` ended.
    pub(crate) fn end_private(&self, me: &str, peer: &str) {
        self.lock().private.sessions.remove(&pair(me, peer));
    }

    /// `user` left: their sessions and requests end, and each other side is told.
    pub(super) fn end_all_private(&self, st: &mut State, user: &str) {
        let ended: Vec<(String, String)> = st
            .private
            .sessions
            .iter()
            .filter(|(a, b)| *a == user || *b == user)
            .cloned()
            .collect();
        for p in ended {
            st.private.sessions.remove(&p);
            let other = if p.0 == user { &p.1 } else { &p.0 };
            let line = event_line(&Event::PrivateEnded {
                peer: user.to_string(),
            });
            let _ = self.push_user(st, other, Outgoing::Frame(line));
        }
        let pending: Vec<(String, String)> = st
            .private
            .pending
            .keys()
            .filter(|(a, b)| *a == user || *b == user)
            .cloned()
            .collect();
        for key in pending {
            st.private.pending.remove(&key);
            let other = if key.0 == user { &key.1 } else { &key.0 };
            let line = event_line(&Event::PrivateExpired {
                peer: user.to_string(),
            });
            let _ = self.push_user(st, other, Outgoing::Frame(line));
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
