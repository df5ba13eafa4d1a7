//! Routing between users: a direct message goes to the recipient's connection, to their node
//! over the bus, or to the store; a broadcast goes to every online user the sender may reach;
//! block lists (kept in the store, mirrored here) decide who may reach whom.

use std::sync::Arc;

use proto::Event;

use super::{event_line, Counters, Direct, Hub, Outgoing};
use crate::clock::Clock;
use crate::seams::{Bus, BusMessage, Directory, LocalBus, Location, Store};
use crate::store::StoreOutcome;

/// What happened to a direct message.
pub enum Routed<O, R> {
    /// Queued for an online recipient.
    Live,
    /// The recipient is offline: this future commits it to the store.
    Offline(O),
    /// The recipient is on another node: this future is that node's answer.
    Remote(R),
}

/// Why a direct message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The recipient blocks the sender; nothing is stored.
    #[error("the recipient blocks the sender")]
    BlockedByRecipient,
}

impl Hub {
    /// Routes a direct message accepted at `at_ms`: live if the recipient is online here, over
    /// the bus if they are on another node, else queued for the store (under the lock, so a
    /// concurrent login's load of the backlog sees it).
    ///
    /// # Errors
    /// [`RouteError::BlockedByRecipient`].
    pub(crate) fn message<S: Store>(
        &self,
        from: &str,
        to: &str,
        text: &str,
        store: &S,
        cap: u64,
        at_ms: i64,
    ) -> Result<Routed<S::Job<StoreOutcome>, <LocalBus as Bus>::Answer>, RouteError> {
        let mut st = self.lock();
        if st.blocks(to, from) {
            Counters::add(&self.counters.dropped, 1);
            return Err(RouteError::BlockedByRecipient);
        }
        let msg_id = self.msg_id();
        match st.presence.locate(to) {
            Location::Local(id) => {
                let direct = Direct {
                    frame: proto::message_line(from, text, false, at_ms as u64, msg_id).into(),
                    msg_id,
                };
                if self
                    .push_conn(&mut st, id, Outgoing::Direct(direct))
                    .is_ok()
                {
                    Counters::add(&self.counters.delivered, 1);
                    return Ok(Routed::Live);
                }
                // Its connection just failed: store it.
            }
            Location::Remote { node, session } => {
                let msg = BusMessage::Direct {
                    from,
                    to,
                    session,
                    text,
                };
                return Ok(Routed::Remote(self.bus.request(&node, msg)));
            }
            Location::Offline => {}
        }
        let job = store.store_offline(to, from, text, cap, at_ms, msg_id);
        drop(st);
        Ok(Routed::Offline(job))
    }

    /// Counts an offline message stored (or refused for a full queue).
    pub(crate) fn count_offline(&self, outcome: StoreOutcome) {
        match outcome {
            StoreOutcome::Stored => Counters::add(&self.counters.stored, 1),
            StoreOutcome::Full => Counters::add(&self.counters.dropped, 1),
        }
    }

    /// Counts a message refused before routing (rate limit).
    pub(crate) fn count_refused(&self) {
        Counters::add(&self.counters.dropped, 1);
    }

    /// Sends a broadcast to every online user but the sender and those blocking the sender.
    /// Returns `(delivered, skipped)`.
    pub(crate) fn broadcast(&self, from: &str, text: &str) -> (u64, u64) {
        self.bus.publish_all(BusMessage::Broadcast { from, text });
        let line = event_line(&Event::Broadcast {
            from: from.to_string(),
            text: text.to_string(),
            ts: Some(self.clock.now_ms() as u64),
        });
        let mut st = self.lock();
        let mut targets = Vec::new();
        let mut skipped = 0;
        let blockers = st.blocks.blockers_of(from);
        for (name, id) in &st.presence.online {
            if name == from {
                continue;
            }
            if blockers.is_some_and(|b| b.contains(name)) {
                skipped += 1;
            } else {
                targets.push(*id);
            }
        }
        for id in &targets {
            if let Some(c) = st.conns.get_mut(id) {
                let _ = self.push(c, Outgoing::Frame(Arc::clone(&line)));
            }
        }
        drop(st);
        Counters::add(&self.counters.delivered, targets.len() as u64);
        Counters::add(&self.counters.dropped, skipped);
        (targets.len() as u64, skipped)
    }

    /// Whether `blocker` blocks `blocked`.
    pub(crate) fn blocks(&self, blocker: &str, blocked: &str) -> bool {
        self.lock().blocks(blocker, blocked)
    }

    /// Applies a block-list change already committed to the store.
    pub(crate) fn set_block(&self, blocker: &str, blocked: &str, on: bool) {
        self.bus.publish_all(BusMessage::Block {
            blocker,
            blocked,
            on,
        });
        let mut st = self.lock();
        if on {
            st.blocks.insert(blocker, blocked);
        } else {
            st.blocks.remove(blocker, blocked);
        }
    }
}
