//! Read-only views of the hub: `whoelse` and `whoelsesince` for users, `chatctl who` and
//! `chatctl stats` for the operator.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use proto::admin::{OnlineUser, Stats};

use super::Hub;
use crate::clock::Clock;

impl Hub {
    /// `whoelse`: online users except `me` and those who block `me`, sorted.
    pub(crate) fn whoelse(&self, me: &str) -> Vec<String> {
        let st = self.lock();
        let mut v: Vec<String> = st
            .presence
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
    pub(crate) fn whoelsesince(&self, me: &str, seconds: u64) -> Vec<String> {
        let since = self
            .clock
            .now_ms()
            .saturating_sub((seconds.min(u64::MAX / 2000) * 1000) as i64);
        let st = self.lock();
        let mut set: HashSet<&String> = st.presence.online.keys().collect();
        set.extend(
            st.presence
                .last_seen
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

    /// Online users for `chatctl who`, sorted by name.
    pub(crate) fn who(&self) -> Vec<OnlineUser> {
        let st = self.lock();
        let now = self.clock.now_ms();
        let mut v: Vec<OnlineUser> = st
            .presence
            .online
            .iter()
            .filter_map(|(name, id)| {
                let c = st.conns.get(id)?;
                Some(OnlineUser {
                    user: name.clone(),
                    addr: c.addr.to_string(),
                    since: (c.since_ms / 1000) as u64,
                    idle: ((now - c.last_active.load(Ordering::Relaxed)).max(0) / 1000) as u64,
                    private: st.private.peers_of(name),
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
        let (total, since_start) = c.cumulative();
        Stats {
            uptime: self.uptime().as_secs(),
            connections: get(&c.connections),
            peak_connections: get(&c.peak_connections),
            online: self.lock().presence.online.len() as u64,
            logins: total.logins,
            failed_logins: total.failed_logins,
            locked_accounts: 0,
            messages_delivered: total.messages_delivered,
            messages_stored: total.messages_stored,
            messages_dropped: total.messages_dropped,
            slow_consumers_dropped: total.slow_consumers_dropped,
            since_start,
        }
    }

    /// How long this hub (the server) has been running.
    pub fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }
}
