//! One connection's sending side as the hub sees it: the items on its queue ([`Outgoing`]),
//! the bounded push that drops a slow consumer ([`Outbox`]), and the direct message that goes
//! back to the store if its connection dies with it queued ([`Direct`]).
//!
//! Events are encoded here once (JSON lines, `proto`'s encoding) and shared by every queue
//! they go to; replies are encoded later, by the writer, straight into its buffer.

use std::sync::Arc;

use async_channel::{Sender, TrySendError};
use proto::{Event, Response, ServerFrame};

use super::acks::Acks;
use super::counters::Counters;
use crate::seams::Store;

/// A direct message on its way to a recipient's socket: its encoded line (written to one
/// connection only, so not shared) and the recipient, so that if the connection dies with it
/// still queued it can be stored offline instead of lost.
#[derive(Debug)]
pub struct Direct {
    /// The encoded `message` event line.
    pub frame: String,
    /// Recipient.
    pub to: String,
    /// Its id (in the line too): stored under it, acknowledged by it.
    pub msg_id: u64,
}

impl Direct {
    /// Stores this message for its recipient, under its id (the connection could not take
    /// it, or ended before the client acknowledged it). Never refused for the recipient's cap:
    /// the sender was told it was delivered. Sender, text and time are read back from the
    /// encoded line: this is the rare path, the live path never keeps a second copy of them.
    /// It keeps the time it was first accepted.
    pub(crate) fn store_offline(&self, store: &impl Store) -> bool {
        match ServerFrame::decode(self.frame.trim_end().as_bytes()) {
            Ok(ServerFrame::Event(Event::Message { from, text, ts, .. })) => {
                let sent_ms = ts.map_or_else(crate::clock::wall_ms, |ts| ts as i64);
                // Queued on the store thread now; the answer is not needed.
                drop(store.store_offline(&self.to, &from, &text, u64::MAX, sent_ms, self.msg_id));
                true
            }
            _ => false,
        }
    }
}

/// One item on a connection's send queue.
#[derive(Debug)]
pub enum Outgoing {
    /// An encoded line (shared by every recipient of a broadcast).
    Frame(Arc<str>),
    /// A direct message.
    Direct(Direct),
    /// The answer to a request, encoded by the writer straight into its buffer.
    Reply {
        /// The request's id.
        id: Option<u64>,
        /// The answer.
        response: Response,
    },
    /// The user's stored messages up to this row: the writer streams them from the store in
    /// bounded chunks before it takes the next item (the backlog at login).
    Backlog {
        /// The recipient.
        user: String,
        /// The newest row of the backlog.
        upto: i64,
    },
    /// Flush and close the connection.
    Close,
}

/// The sending side of one connection: its queue, bounded at `cap` items, and a kill switch
/// that aborts the writer even while it is blocked writing to a client that stopped reading.
///
/// The channel itself is unbounded and the bound is checked here: a bounded channel would
/// allocate all `cap` slots per connection up front, most of them never used.
#[derive(Clone)]
pub struct Outbox {
    /// The queue.
    pub tx: Sender<Outgoing>,
    /// Closed to abort the writer.
    pub kill: Sender<()>,
    /// Items the queue may hold (`limits.send_queue`).
    pub cap: usize,
    /// The messages written and not yet acknowledged.
    pub acks: Acks,
}

impl Outbox {
    /// Queues `item` without waiting. A full queue kills the connection (counted as a slow
    /// consumer). Gives the item back if it was not queued.
    ///
    /// # Errors
    /// The item, when it was not queued.
    pub fn push(&self, counters: &Counters, item: Outgoing) -> Result<(), Outgoing> {
        // Concurrent pushers may overshoot `cap` by a few items; the bound only has to stop
        // unbounded growth.
        let full = self.tx.len() >= self.cap;
        match if full {
            Err(TrySendError::Full(item))
        } else {
            self.tx.try_send(item)
        } {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(item)) => {
                if self.kill.close() {
                    self.tx.close();
                    Counters::add(&counters.slow_dropped, 1);
                    log::warn!("dropping a slow client: its send queue is full");
                }
                Err(item)
            }
            Err(TrySendError::Closed(item)) => Err(item),
        }
    }
}

/// Encodes an event once, for one or many queues.
pub fn event_line(event: &Event) -> Arc<str> {
    // The same bytes as `ServerFrame::Event(event.clone()).encode()`, without the deep clone.
    Arc::from(proto::encode_line(event))
}
