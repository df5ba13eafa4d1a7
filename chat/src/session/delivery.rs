//! The client half of the acknowledgement protocol (`docs/PROTOCOL.md`, "Acknowledgements"):
//! which direct messages this client has shown (so a message delivered again, with the same
//! `msg_id`, is shown once: in this session, and in later ones through the file of shown ids,
//! [`crate::seen`]) and the newest one not yet acknowledged to the server.
//!
//! An id is recorded in the file right after its message is printed, never before (a client
//! killed in between shows it again rather than losing it). When the file cannot be written,
//! the session goes on with the ids in memory only.
//!
//! The session acknowledges after showing, never before: a client that dies between the two
//! gets the message again at the next login rather than losing it. It sends one `ack` per burst
//! (when nothing else is waiting in the inbox), at least every [`ACK_EVERY`] messages, and
//! before logging out. It decides nothing about how a message looks (that is `render`).

use std::collections::{HashSet, VecDeque};

use crate::seen::SeenFile;

/// Messages shown before an acknowledgement is sent even in the middle of a burst.
pub const ACK_EVERY: usize = 64;
/// Message ids remembered for spotting repeats (the oldest are forgotten first).
const REMEMBERED: usize = crate::seen::KEEP;

/// See the module docs.
#[derive(Debug, Default)]
pub struct Delivery {
    seen: HashSet<u64>,
    order: VecDeque<u64>,
    /// Where shown ids are kept across sessions, if anywhere.
    file: Option<SeenFile>,
    /// The newest message shown and not yet acknowledged.
    pending: Option<u64>,
    /// Messages shown since the last acknowledgement.
    unacked: usize,
}

impl Delivery {
    /// Keeps shown ids in `file` from now on; `ids` (oldest first) were shown in earlier
    /// sessions.
    pub fn remember_in(&mut self, file: SeenFile, ids: Vec<u64>) {
        for id in ids {
            self.remember(id);
        }
        self.file = Some(file);
    }

    /// A message with this id arrived: whether to show it (false for a repeat). Either way it
    /// is to be acknowledged. A message to show is then [`Delivery::shown`].
    pub fn arrived(&mut self, msg_id: u64) -> bool {
        self.pending = Some(msg_id);
        self.unacked += 1;
        self.remember(msg_id)
    }

    /// The message with this id is out on the screen: records it in the file. On a failure
    /// the file is given up (the ids stay in memory) and the error returned, to be reported.
    pub fn shown(&mut self, msg_id: u64) -> Result<(), (std::path::PathBuf, std::io::Error)> {
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        let mut result = file.record(msg_id);
        if result.is_ok() && file.too_long() {
            result = file.rewrite(self.order.iter().copied());
        }
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                let path = file.path().to_path_buf();
                self.file = None;
                Err((path, e))
            }
        }
    }

    /// Adds an id to the memory (bounded); false when it was there already.
    fn remember(&mut self, msg_id: u64) -> bool {
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
    use std::path::Path;

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

    #[test]
    fn ids_shown_in_an_earlier_session_are_not_shown_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/u");
        let mut d = Delivery::default();
        let (file, ids) = SeenFile::open(&path).unwrap();
        d.remember_in(file, ids);
        assert!(d.arrived(10));
        d.shown(10).unwrap();
        // Arrived but not yet printed when the client died: not recorded.
        assert!(d.arrived(11));
        drop(d);
        let mut d = Delivery::default();
        let (file, ids) = SeenFile::open(&path).unwrap();
        d.remember_in(file, ids);
        assert!(!d.arrived(10), "shown before");
        assert!(d.arrived(11), "never recorded as shown");
        assert_eq!(d.take(), Some(11));
    }

    #[test]
    fn the_file_is_compacted_to_the_newest_ids_as_it_grows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u");
        let (file, ids) = SeenFile::open(&path).unwrap();
        let mut d = Delivery::default();
        d.remember_in(file, ids);
        let n = 2 * REMEMBERED as u64 + 1;
        for id in 0..n {
            assert!(d.arrived(id));
            d.shown(id).unwrap();
        }
        let kept: Vec<u64> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        let newest: Vec<u64> = (n - REMEMBERED as u64..n).collect();
        assert_eq!(kept, newest);
        // Appends go on to the new file.
        assert!(d.arrived(n));
        d.shown(n).unwrap();
        let (_, ids) = SeenFile::open(&path).unwrap();
        assert_eq!(ids.last(), Some(&n));
        assert_eq!(ids.len(), REMEMBERED);
    }

    #[test]
    fn a_file_that_cannot_be_written_is_given_up_and_memory_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u");
        let (file, ids) = SeenFile::open(&path).unwrap();
        let mut d = Delivery::default();
        d.remember_in(file, ids);
        // As if the disk filled up: /dev/full refuses every write.
        d.file = Some(SeenFile::dev_full());
        assert!(d.arrived(1));
        let (at, _) = d.shown(1).unwrap_err();
        assert_eq!(at, Path::new("/dev/full"));
        assert!(d.file.is_none());
        assert!(d.shown(2).is_ok(), "reported once");
        assert!(!d.arrived(1));
    }
}
