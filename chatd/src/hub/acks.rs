//! One connection's messages in flight: the direct messages written to the client and not yet
//! acknowledged, in write order ([`InFlight`]). The writer adds what it writes, the `ack`
//! command releases everything up to the acknowledged id, and when the connection ends the hub
//! stores what is left (live messages offline, under the same id; stored ones stay stored).
//! This is the server half of the acknowledgement protocol (XMPP stream management's pattern).
//!
//! Empty, it holds no allocation. It is bounded: live messages beyond [`MAX_LIVE_BYTES`] are
//! stored offline at once (spilled) and kept as ids only, and beyond [`MAX_ENTRIES`] ids the
//! oldest are forgotten (they stay stored and come again at the next login). Only a client
//! that does not acknowledge ever reaches either bound.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use super::Direct;
use crate::spares::spares;

/// Bytes of live (not yet stored) message lines a connection may hold unacknowledged.
pub const MAX_LIVE_BYTES: usize = 256 * 1024;
/// Unacknowledged messages a connection keeps track of.
pub const MAX_ENTRIES: usize = 16 * 1024;

spares!(
    /// Emptied lists (of room for 1,024 entries at most), for the next connection that
    /// writes a message.
    static SPARES: VecDeque<Entry>, keep 64, largest 1024
);

/// A message written and not acknowledged.
#[derive(Debug)]
pub enum Entry {
    /// A live message, only in memory: stored offline if the connection ends first.
    Live(Direct),
    /// A message that is in the store (`msg_id`): deleted when acknowledged.
    Stored(u64),
}

impl Entry {
    fn msg_id(&self) -> u64 {
        match self {
            Entry::Live(d) => d.msg_id,
            Entry::Stored(id) => *id,
        }
    }
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct InFlight {
    entries: VecDeque<Entry>,
    live_bytes: usize,
}

/// Shared by a connection's writer, its session and the hub.
#[derive(Debug, Clone, Default)]
pub struct Acks(Arc<Mutex<InFlight>>);

impl Acks {
    /// The list, locked (held only for a push or a scan, never across an `.await`).
    pub fn lock(&self) -> MutexGuard<'_, InFlight> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl InFlight {
    /// Notes a live message written. Returns the live messages that must be stored now to
    /// keep the bounds (the caller stores them; they stay listed by id).
    pub fn written_live(&mut self, d: Direct) -> Vec<Direct> {
        self.reuse();
        self.live_bytes += d.frame.len();
        self.entries.push_back(Entry::Live(d));
        self.bound()
    }

    /// Notes a stored message written.
    pub fn written_stored(&mut self, msg_id: u64) -> Vec<Direct> {
        self.reuse();
        self.entries.push_back(Entry::Stored(msg_id));
        self.bound()
    }

    /// An empty list takes a spare buffer rather than growing its own from nothing.
    fn reuse(&mut self) {
        if self.entries.capacity() == 0 {
            if let Some(spare) = SPARES.take() {
                self.entries = spare;
            }
        }
    }

    fn bound(&mut self) -> Vec<Direct> {
        let mut spill = Vec::new();
        if self.live_bytes > MAX_LIVE_BYTES {
            for e in self.entries.iter_mut() {
                if self.live_bytes <= MAX_LIVE_BYTES / 2 {
                    break;
                }
                if let Entry::Live(d) = e {
                    let id = d.msg_id;
                    let Entry::Live(d) = std::mem::replace(e, Entry::Stored(id)) else {
                        unreachable!("matched as live just above")
                    };
                    self.live_bytes -= d.frame.len();
                    spill.push(d);
                }
            }
        }
        while self.entries.len() > MAX_ENTRIES {
            if let Some(Entry::Live(d)) = self.entries.pop_front() {
                self.live_bytes -= d.frame.len();
                spill.push(d);
            }
        }
        spill
    }

    /// Releases everything written up to and including `msg_id`. Returns the ids of the
    /// released messages that are stored (to delete); nothing if `msg_id` is not in flight.
    pub fn ack(&mut self, msg_id: u64) -> Vec<u64> {
        let Some(at) = self.entries.iter().position(|e| e.msg_id() == msg_id) else {
            return Vec::new();
        };
        let mut stored = Vec::new();
        for e in self.entries.drain(..=at) {
            match e {
                Entry::Live(d) => self.live_bytes -= d.frame.len(),
                Entry::Stored(id) => stored.push(id),
            }
        }
        if self.entries.is_empty() {
            // An idle connection keeps no buffer from a burst; the next connection to write
            // a message reuses it.
            SPARES.give(std::mem::take(&mut self.entries));
        }
        stored
    }

    /// Everything still in flight, oldest first (the connection has ended).
    pub fn take(&mut self) -> Vec<Entry> {
        self.live_bytes = 0;
        std::mem::take(&mut self.entries).into()
    }

    /// How many messages are in flight.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(id: u64, bytes: usize) -> Direct {
        Direct {
            frame: "x".repeat(bytes).into(),
            msg_id: id,
        }
    }

    #[test]
    fn an_ack_releases_up_to_its_id_in_write_order() {
        let mut f = InFlight::default();
        f.written_stored(5);
        f.written_stored(3);
        f.written_live(live(100, 10));
        f.written_stored(4);
        assert_eq!(f.ack(3), vec![5, 3]);
        assert_eq!(f.len(), 2);
        // Unknown ids change nothing.
        assert_eq!(f.ack(77), Vec::<u64>::new());
        assert_eq!(f.ack(100), Vec::<u64>::new());
        assert_eq!(f.len(), 1);
        let left = f.take();
        assert!(matches!(left.as_slice(), [Entry::Stored(4)]));
        assert_eq!(f.len(), 0);
    }

    #[test]
    fn live_bytes_beyond_the_bound_are_spilled_and_kept_as_ids() {
        let mut f = InFlight::default();
        let mut spilled = Vec::new();
        for id in 0..100 {
            spilled.extend(f.written_live(live(id, 10 * 1024)));
        }
        assert!(!spilled.is_empty());
        assert!(f.live_bytes <= MAX_LIVE_BYTES);
        assert_eq!(f.len(), 100, "spilled ones stay listed by id");
        // Spilled in write order, oldest first.
        let ids: Vec<u64> = spilled.iter().map(|d| d.msg_id).collect();
        assert_eq!(ids, (0..ids.len() as u64).collect::<Vec<_>>());
        // The ack deletes the spilled (now stored) ones.
        let stored = f.ack(99);
        assert_eq!(stored, ids);
        assert_eq!(f.live_bytes, 0);
    }

    #[test]
    fn entries_beyond_the_bound_are_forgotten_oldest_first() {
        let mut f = InFlight::default();
        let mut spilled = Vec::new();
        spilled.extend(f.written_live(live(0, 1)));
        for id in 1..=MAX_ENTRIES as u64 + 10 {
            spilled.extend(f.written_stored(id));
        }
        assert_eq!(f.len(), MAX_ENTRIES);
        assert_eq!(
            spilled.len(),
            1,
            "the live one is stored before it is forgotten"
        );
        assert_eq!(f.ack(10), Vec::<u64>::new(), "forgotten: stays stored");
    }
}
