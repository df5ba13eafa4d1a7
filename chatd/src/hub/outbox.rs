//! One connection's sending side as the hub sees it: the items on its queue ([`Outgoing`]),
//! the bounded push that drops a slow consumer and wakes the connection's task ([`Outbox`]),
//! and the direct message that goes back to the store if its connection dies with it queued
//! ([`Direct`]).
//!
//! Events are encoded here once (JSON lines, `proto`'s encoding) and shared by every queue
//! they go to; replies are encoded later, by the writer, straight into its buffer.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use proto::{Event, Response, ServerFrame};

use super::acks::Acks;
use super::counters::Counters;
use crate::seams::Store;
use crate::spares::spares;

/// A direct message on its way to a recipient's socket: its encoded line (written to one
/// connection only, so not shared), kept so that if the connection dies with it still queued
/// or unacknowledged it can be stored offline instead of lost. The recipient is the user of
/// the connection it was queued for (whoever stores it knows that user): one allocation per
/// message, the line, and nothing boxed around it.
#[derive(Debug)]
pub struct Direct {
    /// The encoded `message` event line.
    pub frame: Box<str>,
    /// Its id (in the line too): stored under it, acknowledged by it.
    pub msg_id: u64,
}

impl Direct {
    /// Stores this message for its recipient, under its id (the connection could not take
    /// it, or ended before the client acknowledged it). Never refused for the recipient's cap:
    /// the sender was told it was delivered. Sender, text and time are read back from the
    /// encoded line: this is the rare path, the live path never keeps a second copy of them.
    /// It keeps the time it was first accepted.
    pub(crate) fn store_offline(&self, to: &str, store: &impl Store) -> bool {
        match ServerFrame::decode(self.frame.trim_end().as_bytes()) {
            Ok(ServerFrame::Event(Event::Message { from, text, ts, .. })) => {
                let sent_ms = ts.map_or_else(crate::clock::wall_ms, |ts| ts as i64);
                // Queued on the store thread now; the answer is not needed.
                drop(store.store_offline(to, &from, &text, u64::MAX, sent_ms, self.msg_id));
                true
            }
            _ => false,
        }
    }
}

/// One item on a connection's send queue: 32 bytes (a full queue holds thousands), so what is
/// larger sits behind a box, and the answer to every `message` has a variant of its own.
#[derive(Debug)]
pub enum Outgoing {
    /// An encoded line (shared by every recipient of a broadcast).
    Frame(Arc<str>),
    /// The presence changes of the hub's log before this position that this connection has
    /// not written yet go here, before what follows (see [`crate::hub::presence`]): presence
    /// is not queued per recipient, only its place among the other items is.
    PresenceUpTo(u64),
    /// A direct message.
    Direct(Direct),
    /// The answer `sent` to request `id`.
    Sent {
        /// The request's id.
        id: Option<u64>,
        /// Stored for an offline recipient.
        stored: bool,
    },
    /// The answer to a request, encoded by the writer straight into its buffer.
    Reply {
        /// The request's id.
        id: Option<u64>,
        /// The answer.
        response: Box<Response>,
    },
    /// The user's stored messages up to this row: the writer streams them from the store in
    /// bounded chunks before it takes the next item (the backlog at login).
    Backlog {
        /// The recipient.
        user: Box<str>,
        /// The newest row of the backlog.
        upto: i64,
    },
    /// Flush and close the connection.
    Close,
}

/// The sending side of one connection, shared by the hub (which pushes) and the connection's
/// task (which takes and writes): a queue bounded at `cap` items, the task's waker, and flags
/// for "killed" (stop at once: a slow consumer, or the connection is ending) and "reloaded"
/// (the configuration changed: deadlines may have moved).
///
/// A plain mutex and a `VecDeque`, not a channel: a push is a lock, a `push_back` and at most
/// one wake-up (only when the task is waiting), and the task takes everything queued in one
/// lock. Empty, it holds no allocation: the task takes the whole deque away with it.
#[derive(Clone)]
pub struct Outbox(Arc<Mailbox>);

struct Mailbox {
    queue: Mutex<Queue>,
    /// Items the queue may hold (`limits.send_queue`).
    cap: usize,
    /// The messages written and not yet acknowledged.
    acks: Acks,
    /// The position in the hub's presence log up to which this connection has been given
    /// presence ([`NO_PRESENCE`]: it gets none, not logged in). Written under the hub's lock;
    /// read by the task to see, without that lock, whether presence waits for it.
    seen: AtomicU64,
}

/// [`Outbox::seen`] of a connection that gets no presence (not logged in).
pub const NO_PRESENCE: u64 = u64::MAX;

#[derive(Default)]
struct Queue {
    items: VecDeque<Outgoing>,
    /// The connection's task, while it waits for something to do.
    waker: Option<Waker>,
    /// Takes nothing more: the connection is ending (or was killed).
    closed: bool,
    /// Stop now, without writing what is queued.
    killed: bool,
    /// The presence log's head when a presence marker was last queued (or the login began):
    /// changes logged since must be written before the next item ([`Outbox::push_in_order`]).
    fence: u64,
    /// The configuration was reloaded since the task last looked.
    reloaded: bool,
}

impl Queue {
    /// Ends the queue with a presence marker at `head` (moves a trailing one forward), and
    /// notes that the changes before `head` have their marker.
    fn add_marker(&mut self, head: u64) {
        if self.items.capacity() == 0 {
            self.items = spare_queue();
        }
        if !merge_marker(self.items.back_mut(), head) {
            self.items.push_back(Outgoing::PresenceUpTo(head));
        }
        self.fence = self.fence.max(head);
    }
}

/// Wakes the task waiting on `q`, if one is, after releasing the lock.
fn wake(mut q: MutexGuard<'_, Queue>) {
    let waker = q.waker.take();
    drop(q);
    if let Some(w) = waker {
        w.wake();
    }
}

/// What the connection's task found in its outbox.
#[derive(Default)]
pub struct Mail {
    /// Everything queued, oldest first.
    pub items: VecDeque<Outgoing>,
    /// The connection must stop at once.
    pub killed: bool,
    /// The configuration was reloaded since the last take.
    pub reloaded: bool,
}

impl Outbox {
    /// An empty outbox taking at most `cap` items.
    pub fn new(cap: usize, acks: Acks) -> Self {
        Outbox(Arc::new(Mailbox {
            queue: Mutex::new(Queue::default()),
            cap,
            acks,
            seen: AtomicU64::new(NO_PRESENCE),
        }))
    }

    /// Items the queue may hold.
    pub fn cap(&self) -> usize {
        self.0.cap
    }

    /// The presence log position this connection has been given presence up to
    /// ([`NO_PRESENCE`] if it gets none).
    pub fn seen(&self) -> u64 {
        self.0.seen.load(Ordering::Acquire)
    }

    /// Moves [`Outbox::seen`] (the hub does, under its lock).
    pub(crate) fn set_seen(&self, seen: u64) {
        self.0.seen.store(seen, Ordering::Release);
    }

    /// The connection gets the presence changes from position `head` on (a login begins;
    /// the hub does this under its lock).
    pub(crate) fn start_presence(&self, head: u64) {
        let mut q = self.lock();
        q.fence = head;
        self.set_seen(head);
    }

    /// Whether presence changes were logged (the log's head is now `head`) since the last
    /// marker for this connection: if so, the marker goes next, and this notes it.
    pub(crate) fn advance_fence(&self, head: u64) -> bool {
        let mut q = self.lock();
        self.fence(&mut q, head)
    }

    fn fence(&self, q: &mut Queue, head: u64) -> bool {
        // The position is read only when the head has moved: not per push.
        if head <= q.fence || self.seen() == NO_PRESENCE {
            return false;
        }
        q.fence = head;
        true
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.0.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The connection's messages in flight.
    pub fn acks(&self) -> &Acks {
        &self.0.acks
    }

    /// Queues `item` without waiting. A full queue kills the connection (counted as a slow
    /// consumer). Gives the item back if it was not queued.
    ///
    /// # Errors
    /// The item, when it was not queued.
    pub fn push(&self, counters: &Counters, item: Outgoing) -> Result<(), Outgoing> {
        self.push_in_order(counters, 0, item)
    }

    /// [`Outbox::push`], after a presence marker if changes were logged since the last one
    /// (the log's head is now `head`): what was logged before `item` is written before it.
    ///
    /// # Errors
    /// The item, when it was not queued.
    pub fn push_in_order(
        &self,
        counters: &Counters,
        head: u64,
        item: Outgoing,
    ) -> Result<(), Outgoing> {
        let mut q = self.lock();
        if q.closed {
            return Err(item);
        }
        if self.fence(&mut q, head) {
            q.add_marker(head);
        }
        if q.items.len() >= self.0.cap {
            q.closed = true;
            q.killed = true;
            wake(q);
            Counters::add(&counters.slow_dropped, 1);
            log::warn!("dropping a slow client: its send queue is full");
            return Err(item);
        }
        if q.items.capacity() == 0 {
            q.items = spare_queue();
        }
        q.items.push_back(item);
        wake(q);
        Ok(())
    }

    /// Queues a presence marker ([`Outgoing::PresenceUpTo`] `head`) and wakes the task if it
    /// waits. Never refused for the bound (a presence round must not kill a connection the
    /// round only nudges): a marker at the end of the queue is moved forward rather than
    /// repeated, so there is at most one per other item, plus one.
    pub fn mark(&self, head: u64) {
        let mut q = self.lock();
        if q.closed {
            return;
        }
        q.add_marker(head);
        wake(q);
    }

    /// Stops the connection at once (what is queued stays for [`Outbox::close`] to hand
    /// over). Returns false if it was already killed.
    pub fn kill(&self) -> bool {
        let mut q = self.lock();
        let first = !q.killed;
        q.closed = true;
        q.killed = true;
        wake(q);
        first
    }

    /// Whether the connection was killed.
    pub fn is_killed(&self) -> bool {
        self.lock().killed
    }

    /// Tells the connection's task that the configuration was reloaded.
    pub fn reloaded(&self) {
        let mut q = self.lock();
        q.reloaded = true;
        wake(q);
    }

    /// Takes everything queued, and the flags (a reload is noticed once).
    pub fn take(&self) -> Mail {
        let mut q = self.lock();
        Mail {
            items: std::mem::take(&mut q.items),
            killed: q.killed,
            reloaded: std::mem::take(&mut q.reloaded),
        }
    }

    /// Ready when there is something to take (items, a kill, a reload); otherwise the task
    /// is woken by the next of those.
    pub fn poll_mail(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut q = self.lock();
        if !q.items.is_empty() || q.killed || q.reloaded {
            return Poll::Ready(());
        }
        match &mut q.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Ready once the connection is killed (raced against a write to a client that does not
    /// read). Pushes wake the task too; it then polls again.
    pub fn poll_killed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut q = self.lock();
        if q.killed {
            return Poll::Ready(());
        }
        match &mut q.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Something to take: waits for [`Outbox::poll_mail`].
    pub async fn mail(&self) {
        futures_lite::future::poll_fn(|cx| self.poll_mail(cx)).await;
    }

    /// Waits until the connection is killed.
    pub async fn killed(&self) {
        futures_lite::future::poll_fn(|cx| self.poll_killed(cx)).await;
    }

    /// Takes nothing more, and hands over what is still queued (the connection has ended).
    pub fn close(&self) -> VecDeque<Outgoing> {
        let mut q = self.lock();
        q.closed = true;
        q.waker = None;
        std::mem::take(&mut q.items)
    }

    /// The next queued item (tests read a connection's queue with it).
    ///
    /// # Errors
    /// `()` when the queue is empty.
    #[cfg(test)]
    pub fn try_recv(&self) -> Result<Outgoing, ()> {
        self.lock().items.pop_front().ok_or(())
    }

    /// Whether `other` is this same outbox.
    #[cfg(test)]
    pub fn same(&self, other: &Outbox) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Items queued.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }
}

/// Moves `last` (the last queued item) forward to `head` if it is a presence marker. False
/// if it is not: a marker must be added.
pub(crate) fn merge_marker(last: Option<&mut Outgoing>, head: u64) -> bool {
    match last {
        Some(Outgoing::PresenceUpTo(at)) => {
            *at = (*at).max(head);
            true
        }
        _ => false,
    }
}

spares!(
    /// Queues emptied by connection tasks (of room for 256 items at most), for the next push
    /// to an empty outbox (an idle outbox keeps none).
    static SPARES: VecDeque<Outgoing>, keep 64, largest 256
);

fn spare_queue() -> VecDeque<Outgoing> {
    SPARES.take().unwrap_or_default()
}

/// Gives an emptied queue (taken with [`Outbox::take`]) back for reuse.
pub fn give_back(items: VecDeque<Outgoing>) {
    SPARES.give(items);
}

/// Encodes an event once, for one or many queues.
pub fn event_line(event: &Event) -> Arc<str> {
    // The same bytes as `ServerFrame::Event(event.clone()).encode()`, without the deep clone.
    Arc::from(proto::encode_line(event))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A waker that counts its wake-ups.
    fn counting_waker() -> (Waker, Arc<AtomicUsize>) {
        struct Count(Arc<AtomicUsize>);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let count = Arc::new(AtomicUsize::new(0));
        (Waker::from(Arc::new(Count(Arc::clone(&count)))), count)
    }

    #[test]
    fn a_queue_item_stays_small() {
        // A full queue holds thousands: keep them small.
        assert!(std::mem::size_of::<Outgoing>() <= 32);
    }

    #[test]
    fn a_full_outbox_kills_its_connection_and_a_closed_one_takes_nothing() {
        let counters = Counters::default();
        let out = Outbox::new(2, Acks::default());
        assert!(out.push(&counters, Outgoing::Close).is_ok());
        assert!(out.push(&counters, Outgoing::Close).is_ok());
        assert!(!out.is_killed());
        assert!(out.push(&counters, Outgoing::Close).is_err());
        assert!(out.is_killed());
        assert_eq!(
            counters
                .slow_dropped
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        // What was queued is handed over at the end.
        assert_eq!(out.close().len(), 2);
        assert!(out.push(&counters, Outgoing::Close).is_err());
    }

    #[test]
    fn a_push_wakes_the_waiting_task_once() {
        let (waker, count) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let counters = Counters::default();
        let out = Outbox::new(10, Acks::default());
        assert!(out.poll_mail(&mut cx).is_pending());
        out.push(&counters, Outgoing::Close).unwrap();
        out.push(&counters, Outgoing::Close).unwrap();
        assert_eq!(
            count.load(Ordering::Relaxed),
            1,
            "woken once until it looks again"
        );
        assert!(out.poll_mail(&mut cx).is_ready());
        let mail = out.take();
        assert_eq!(mail.items.len(), 2);
        assert!(!mail.killed);
        // A reload wakes it too.
        assert!(out.poll_mail(&mut cx).is_pending());
        out.reloaded();
        assert_eq!(count.load(Ordering::Relaxed), 2);
        assert!(out.poll_mail(&mut cx).is_ready());
        let _ = out.take();
        assert!(
            out.poll_mail(&mut cx).is_pending(),
            "the notice is taken with the mail"
        );
    }
}
