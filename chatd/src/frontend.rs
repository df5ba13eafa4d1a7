//! The JSON-lines front-end: the adapter between the wire protocol (`proto`) and the commands.
//! Inbound, a line becomes a request with its id (or a [`Failure`] to answer); outbound, a
//! command's answer or failure becomes a reply frame, and a connection's queued items become
//! the bytes of its next write ([`Batch`]). Another front-end (IRC) would turn its own lines into
//! the same [`Request`]s and answers into its own replies, without touching the commands.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;
use proto::{ClientFrame, Hello, Request, Response, ServerFrame};

use crate::commands::errors::wire;
use crate::commands::{Answer, Failure};
use crate::hub::{event_line, Acks, Direct, Outbox, Outgoing};
use crate::seams::{ConnId, Store};
use crate::spares::spares;
use crate::state::Shared;
use crate::transport::Socket;

/// The greeting, first on every connection.
pub(crate) fn hello(max_line: usize) -> Outgoing {
    let hello = ServerFrame::Hello(Hello {
        protocol: proto::PROTOCOL_VERSION,
        server: format!("chatd {}", env!("CARGO_PKG_VERSION")),
        max_line,
    });
    Outgoing::Frame(Arc::from(hello.encode()))
}

/// The frame telling a client it was logged out for inactivity.
pub(crate) fn inactive() -> Outgoing {
    Outgoing::Frame(event_line(&proto::Event::Inactive))
}

/// The warning that the inactivity logout comes in `seconds`.
pub(crate) fn idle_warning(seconds: u64) -> Outgoing {
    Outgoing::Frame(event_line(&proto::Event::IdleWarning { seconds }))
}

/// Something and the request id its answer carries.
pub(crate) type Framed<T> = (Option<u64>, T);

/// A line as a request and its id; `Ok(None)` for a blank line.
///
/// # Errors
/// The id (if one could be read) and the failure to answer with.
pub(crate) fn decode(line: &[u8]) -> Result<Option<Framed<Request>>, Framed<Failure>> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match ClientFrame::decode(line) {
        Ok(ClientFrame { id, request }) => Ok(Some((id, request))),
        Err(e) => Err((ClientFrame::peek_id(line), Failure::BadFrame(e))),
    }
}

/// The queue item answering request `id` with `result`; `None` when the handler queued it.
pub(crate) fn reply(id: Option<u64>, result: Result<Answer, Failure>) -> Option<Outgoing> {
    let response = match result {
        Ok(Answer::Reply(r) | Answer::Close(r)) => r,
        Ok(Answer::Queued) => return None,
        Err(f) => error(&f),
    };
    Some(match response {
        Response::Sent { stored } => Outgoing::Sent { id, stored },
        response => Outgoing::Reply {
            id,
            response: Box::new(response),
        },
    })
}

/// The error reply for `failure`.
pub(crate) fn error(failure: &Failure) -> Response {
    let (code, message) = wire(failure);
    Response::error(code, message)
}

/// Pushes the error frame for `failure` (about no request in particular, or request `id`).
pub(crate) fn send_error(out: &Outbox, shared: &Shared, id: Option<u64>, failure: &Failure) {
    // A full queue drops this connection (the hub's rule); nothing else to do here.
    let _ = shared.hub.push_own(
        out,
        Outgoing::Reply {
            id,
            response: Box::new(error(failure)),
        },
    );
}

/// Tells a refused client why, briefly, then drops it.
pub(crate) async fn refuse(socket: &Socket, failure: &Failure) {
    let line = ServerFrame::Reply {
        id: None,
        response: error(failure),
    }
    .encode();
    let _ = future::or(
        async {
            // Over TLS the line can only leave once the handshake is done.
            if socket.handshake().await.is_ok() {
                let _ = socket.write_all(line.as_bytes()).await;
            }
        },
        async {
            smol::Timer::after(Duration::from_secs(1)).await;
        },
    )
    .await;
}

/// Why [`Batch::encode`] stopped before the end of the items: the writer has something else
/// to do first.
pub(crate) enum Stop {
    /// Stream the user's stored messages up to this row (the login's backlog).
    Backlog {
        /// The recipient.
        user: Box<str>,
        /// The newest row of the backlog.
        upto: i64,
    },
    /// Flush and close the connection.
    Close,
}

/// Bytes gathered before one write.
const WRITE_BATCH: usize = 64 * 1024;
spares!(
    /// Write buffers between writes (of 256 KiB at most): an idle connection holds none.
    static SPARES: Vec<u8>, keep 4, largest 256 * 1024
);

/// The bytes of one connection's next write, in a buffer borrowed from the executor thread's
/// spares (and given back when the batch is dropped), and the encoding of queue items into
/// it: every direct message written is noted in flight, until the client acknowledges it.
pub(crate) struct Batch<'a> {
    buf: Vec<u8>,
    shared: &'a Shared,
    acks: &'a Acks,
    /// The connection: presence is written from the hub's log at its position.
    conn: ConnId,
}

impl<'a> Batch<'a> {
    pub(crate) fn new(shared: &'a Shared, acks: &'a Acks, conn: ConnId) -> Self {
        let buf = SPARES.take().unwrap_or_default();
        Batch {
            buf,
            shared,
            acks,
            conn,
        }
    }

    /// What to write.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Empties the buffer once written.
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
    }

    /// Drops the first `n` bytes (written).
    pub(crate) fn consume(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
    }

    /// Encodes items from the front of `items` until about [`WRITE_BATCH`] bytes are
    /// gathered, `items` is empty, or an item is reached that is not a line (taken off and
    /// returned).
    pub(crate) fn encode(&mut self, items: &mut VecDeque<Outgoing>) -> Option<Stop> {
        while self.buf.len() < WRITE_BATCH {
            match items.pop_front()? {
                Outgoing::Frame(line) => self.buf.extend_from_slice(line.as_bytes()),
                Outgoing::PresenceUpTo(upto) => {
                    let hub = &self.shared.hub;
                    if !hub.presence_into(self.conn, upto, &mut self.buf, WRITE_BATCH) {
                        // The rest after this write.
                        items.push_front(Outgoing::PresenceUpTo(upto));
                    }
                }
                Outgoing::Direct(d) => {
                    self.buf.extend_from_slice(d.frame.as_bytes());
                    let spill = self.acks.lock().written_live(d);
                    self.spill(spill);
                }
                Outgoing::Sent { id, stored } => {
                    proto::write_sent(&mut self.buf, id, stored);
                }
                Outgoing::Reply { id, response } => {
                    proto::write_reply(&mut self.buf, id, &response);
                }
                Outgoing::Backlog { user, upto } => return Some(Stop::Backlog { user, upto }),
                Outgoing::Close => return Some(Stop::Close),
            }
        }
        None
    }

    /// Reads `user`'s next stored messages after row `after` (up to row `upto`, about
    /// [`BACKLOG_CHUNK`] bytes, at least one message) into the buffer. Returns the last row
    /// read, or `None` when the backlog is done (or cannot be read: what was not sent stays
    /// stored, for the next login).
    pub(crate) async fn backlog_chunk(&mut self, user: &str, after: i64, upto: i64) -> Option<i64> {
        let chunk = match self
            .shared
            .store
            .backlog_chunk(user, after, upto, BACKLOG_CHUNK)
            .await
        {
            Ok(chunk) if chunk.is_empty() => return None,
            Ok(chunk) => chunk,
            Err(e) => {
                log::error!("cannot read the offline messages of {user}: {e}");
                return None;
            }
        };
        let mut spill = Vec::new();
        let mut last = after;
        {
            let mut acks = self.acks.lock();
            for m in &chunk {
                self.buf.extend_from_slice(
                    proto::message_line(&m.from, &m.text, true, m.sent_ms as u64, m.msg_id)
                        .as_bytes(),
                );
                spill.extend(acks.written_stored(m.msg_id));
                last = m.id;
            }
        }
        drop(chunk);
        self.spill(spill);
        Some(last)
    }

    /// Stores the live messages the in-flight list let go of (they stay listed by id), for
    /// this connection's user: the rare path (a client that does not acknowledge).
    fn spill(&self, spill: Vec<Direct>) {
        if spill.is_empty() {
            return;
        }
        // A deleted account keeps nothing.
        let Some(to) = self.shared.hub.user_of(self.conn) else {
            return;
        };
        if self.shared.accounts.exists(&to) {
            for d in spill {
                d.store_offline(&to, &self.shared.store);
            }
        }
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        SPARES.give(std::mem::take(&mut self.buf));
    }
}

/// Bytes of stored messages read from the store at a time while streaming a backlog (at
/// least one message): with the line being written, what a login's backlog costs in memory,
/// whatever its size.
const BACKLOG_CHUNK: usize = 256 * 1024;
