//! The client half of the acknowledgement protocol (`docs/PROTOCOL.md`, "Acknowledgements"):
//! which direct messages this session has shown (so a message delivered again, with the same
//! `msg_id`, is shown once) and the newest one not yet acknowledged to the server.
//!
//! The session acknowledges after showing, never before: a client that dies between the two
//! gets the message again at the next login rather than losing it. It sends one `ack` per burst
//! (when nothing else is waiting in the inbox), at least every [`ACK_EVERY`] messages, and
//! before logging out. It decides nothing about how a message looks (that is `render`).

use std::collections::{HashSet, VecDeque};

/// Messages shown before an acknowledgement is sent even in the middle of a burst.
pub const ACK_EVERY: usize = 64;
/// Message ids remembered for spotting repeats (the oldest are forgotten first).
const REMEMBERED: usize = 100_000;

/// See the module docs.
#[derive(Debug, Default)]
pub struct Delivery {
    seen: HashSet<u64>,
    order: VecDeque<u64>,
    /// The newest message shown and not yet acknowledged.
    pending: Option<u64>,
    /// Messages shown since the last acknowledgement.
    unacked: usize,
}

impl Delivery {
    /// A message with this id arrived: whether to show it (false for a repeat). Either way it
    /// is to be acknowledged.
    pub fn arrived(&mut self, msg_id: u64) -> bool {
        self.pending = Some(msg_id);
        self.unacked += 1;
        if !self.seen.insert(msg_id) {
            return false;
        }
        self.order.push_back(msg_id);
        if self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    /// Whether enough messages were shown that an acknowledgement should go now.
    pub fn due(&self) -> bool {
        self.unacked >= ACK_EVERY
    }

    /// The id to acknowledge, if any; it is then considered sent.
    pub fn take(&mut self) -> Option<u64> {
        self.unacked = 0;
        self.pending.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_not_shown_but_still_acknowledged() {
        let mut d = Delivery::default();
        assert!(d.arrived(5));
        assert!(d.arrived(3));
        assert_eq!(d.take(), Some(3));
        assert_eq!(d.take(), None);
        assert!(!d.arrived(5));
        assert_eq!(d.take(), Some(5));
    }

    #[test]
    fn an_acknowledgement_is_due_every_so_many_messages() {
        let mut d = Delivery::default();
        for id in 0..ACK_EVERY as u64 - 1 {
            d.arrived(id);
            assert!(!d.due());
        }
        d.arrived(1000);
        assert!(d.due());
        assert_eq!(d.take(), Some(1000));
        assert!(!d.due());
    }

    #[test]
    fn the_memory_of_ids_is_bounded() {
        let mut d = Delivery::default();
        for id in 0..REMEMBERED as u64 + 10 {
            d.arrived(id);
        }
        assert_eq!(d.seen.len(), REMEMBERED);
        assert!(d.arrived(0), "forgotten long ago");
        assert!(!d.arrived(REMEMBERED as u64));
    }
}
