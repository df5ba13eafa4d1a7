//! The server's counters for `chatctl stats`: which ones exist, which survive a restart (saved
//! by the store's heartbeat), and nothing else.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Server counters (see [`proto::admin::Stats`]).
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
    /// Adds `n` to `c`.
    pub(crate) fn add(c: &AtomicU64, n: u64) {
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
    pub(crate) fn restore(&self, saved: &HashMap<String, u64>) {
        for (name, counter) in self.durable() {
            if let Some(v) = saved.get(name) {
                counter.store(*v, Ordering::Relaxed);
            }
        }
    }

    /// The cumulative counters' current values, for the store's heartbeat.
    pub(crate) fn to_save(&self) -> Vec<(&'static str, u64)> {
        self.durable()
            .into_iter()
            .map(|(name, c)| (name, c.load(Ordering::Relaxed)))
            .collect()
    }
}
