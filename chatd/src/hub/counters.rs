//! The server's counters for `chatctl stats`: which ones exist, which survive a restart (saved
//! by the store's heartbeat), where they stood at start (so `stats` shows both "since the store
//! was created" and "since start"), and nothing else.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use proto::admin::Counts;

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
    /// The cumulative counters' values when this chatd started (as restored from the store),
    /// in the order of [`Counters::durable`].
    at_start: [u64; 6],
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

    /// Continues the cumulative counters from their saved values, and remembers them as the
    /// starting point of the "since start" figures.
    pub(crate) fn restore(&mut self, saved: &HashMap<String, u64>) {
        let mut at_start = [0; 6];
        for ((name, counter), start) in self.durable().into_iter().zip(&mut at_start) {
            if let Some(v) = saved.get(name) {
                counter.store(*v, Ordering::Relaxed);
                *start = *v;
            }
        }
        self.at_start = at_start;
    }

    /// The cumulative counters: since the store was created, and since this chatd started.
    pub(crate) fn cumulative(&self) -> (Counts, Counts) {
        let now = self.durable().map(|(_, c)| c.load(Ordering::Relaxed));
        let mut since_start = now;
        for (v, start) in since_start.iter_mut().zip(self.at_start) {
            *v = v.saturating_sub(start);
        }
        (counts(now), counts(since_start))
    }

    /// The cumulative counters' current values, for the store's heartbeat.
    pub(crate) fn to_save(&self) -> Vec<(&'static str, u64)> {
        self.durable()
            .into_iter()
            .map(|(name, c)| (name, c.load(Ordering::Relaxed)))
            .collect()
    }
}

/// Values in the order of [`Counters::durable`] as [`Counts`].
fn counts(v: [u64; 6]) -> Counts {
    let [logins, failed_logins, messages_delivered, messages_stored, messages_dropped, slow_consumers_dropped] =
        v;
    Counts {
        logins,
        failed_logins,
        messages_delivered,
        messages_stored,
        messages_dropped,
        slow_consumers_dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_start_counts_from_the_restored_values() {
        let mut c = Counters::default();
        let saved: HashMap<String, u64> = [("logins", 10), ("messages_stored", 4)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        c.restore(&saved);
        Counters::add(&c.logins, 2);
        Counters::add(&c.delivered, 5);
        let (total, since_start) = c.cumulative();
        assert_eq!(
            (
                total.logins,
                total.messages_stored,
                total.messages_delivered
            ),
            (12, 4, 5)
        );
        assert_eq!(
            (
                since_start.logins,
                since_start.messages_stored,
                since_start.messages_delivered
            ),
            (2, 0, 5)
        );
        // Saved values are the totals, so a restart continues them.
        assert!(c.to_save().contains(&("logins", 12)));
    }
}
