//! The JSON-lines front-end: the adapter between the wire protocol (`proto`) and the commands.
//! Inbound, a line becomes a request with its id (or a [`Failure`] to answer); outbound, a
//! command's answer or failure becomes a reply frame, and the writer turns a connection's
//! queue into bytes for the transport. Another front-end (IRC) would turn its own lines into
//! the same [`Request`]s and answers into its own replies, without touching the commands.

use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

use async_channel::{Receiver, Sender};
use futures_lite::future;
use proto::{ClientFrame, Hello, Request, Response, ServerFrame};

use crate::commands::errors::wire;
use crate::commands::{Answer, Failure};
use crate::hub::{event_line, Acks, Direct, Outbox, Outgoing};
use crate::seams::Store;
use crate::state::Shared;
use crate::transport::Socket;

/// Write-buffer capacity a connection keeps between bursts.
const IDLE_BUFFER: usize = 8 * 1024;
/// Bytes the writer gathers before one write.
const WRITE_BATCH: usize = 64 * 1024;

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
    Some(Outgoing::Reply { id, response })
}

/// The error reply for `failure`.
pub(crate) fn error(failure: &Failure) -> Response {
    let (code, message) = wire(failure);
    Response::error(code, message)
}

/// Pushes the error frame for `failure` (about no request in particular, or request `id`).
pub(crate) fn send_error(out: &Outbox, shared: &Shared, id: Option<u64>, failure: &Failure) {
    // A full queue drops this connection (the hub's rule); nothing else to do here.
    let _ = out.push(
        &shared.hub.counters,
        Outgoing::Reply {
            id,
            response: error(failure),
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

/// Drains the queue onto the socket in batches, noting each direct message it writes as in
/// flight (until the client acknowledges it), and streams the login's backlog from the store
/// in bounded chunks when it reaches it. Stops on `Close` (after flushing), on a write error,
/// or when killed; then closes the queue, so the reader and the hub see it gone. What is left
/// queued or unacknowledged is the hub's to store ([`crate::hub::Hub::disconnect`]).
pub(crate) async fn writer_loop(
    socket: Arc<Socket>,
    rx: Receiver<Outgoing>,
    kill: Receiver<()>,
    shared: Arc<Shared>,
    acks: Acks,
    _done: Sender<()>,
) {
    let w = Writer {
        socket: &socket,
        kill: &kill,
        shared: &shared,
        acks: &acks,
    };
    // Grows with what is written; trimmed after a burst so an idle connection holds little.
    let mut buf: Vec<u8> = Vec::new();
    let mut failed = false;
    'outer: loop {
        let first = future::or(async { rx.recv().await.ok() }, async {
            let _ = kill.recv().await;
            None
        })
        .await;
        let Some(mut item) = first else {
            failed = true;
            break;
        };
        let mut close = false;
        let mut yielded = false;
        let mut backlog = None;
        loop {
            match item {
                Outgoing::Frame(line) => buf.extend_from_slice(line.as_bytes()),
                Outgoing::Direct(d) => {
                    buf.extend_from_slice(d.frame.as_bytes());
                    let spill = acks.lock().written_live(d);
                    w.spill(spill);
                }
                Outgoing::Reply { id, response } => proto::write_reply(&mut buf, id, &response),
                Outgoing::Backlog { user, upto } => {
                    backlog = Some((user, upto));
                    break;
                }
                Outgoing::Close => {
                    close = true;
                    break;
                }
            }
            if buf.len() >= WRITE_BATCH {
                break;
            }
            match rx.try_recv() {
                Ok(next) => item = next,
                Err(_) if !yielded => {
                    // Once per write: let the tasks already runnable go first (other
                    // connections' requests, which may queue more frames here), then take
                    // what they queued into this same write. A storm of presence frames (a
                    // mass logout) becomes a few writes per recipient instead of one each.
                    yielded = true;
                    future::yield_now().await;
                    match rx.try_recv() {
                        Ok(next) => item = next,
                        Err(_) => break,
                    }
                }
                Err(_) => break,
            }
        }
        if !w.write(&mut buf).await {
            failed = true;
            break 'outer;
        }
        if let Some((user, upto)) = backlog {
            if !w.backlog(&mut buf, &user, upto).await {
                failed = true;
                break 'outer;
            }
        }
        if close {
            let _ = socket.flush().await;
            socket.shutdown(Shutdown::Write);
            break;
        }
    }
    rx.close();
    if failed {
        socket.shutdown(Shutdown::Both);
    }
}

/// Bytes of stored messages the writer reads from the store at a time while streaming a
/// backlog (at least one message): with the line being written, what a login's backlog costs
/// in memory, whatever its size.
const BACKLOG_CHUNK: usize = 256 * 1024;

/// What the writer works with.
struct Writer<'a> {
    socket: &'a Socket,
    kill: &'a Receiver<()>,
    shared: &'a Shared,
    acks: &'a Acks,
}

impl Writer<'_> {
    /// Writes and clears `buf`; false if the socket failed or the writer was killed.
    async fn write(&self, buf: &mut Vec<u8>) -> bool {
        if buf.is_empty() {
            return true;
        }
        let wrote = future::or(async { self.socket.write_all(buf).await.is_ok() }, async {
            let _ = self.kill.recv().await;
            false
        })
        .await;
        buf.clear();
        buf.shrink_to(IDLE_BUFFER);
        wrote
    }

    /// Streams `user`'s stored messages up to row `upto`, a chunk at a time, each written
    /// before the next is read. False if the socket failed or the writer was killed.
    async fn backlog(&self, buf: &mut Vec<u8>, user: &str, upto: i64) -> bool {
        let mut after = 0;
        loop {
            let chunk = self
                .shared
                .store
                .backlog_chunk(user, after, upto, BACKLOG_CHUNK);
            let chunk = future::or(async { Some(chunk.await) }, async {
                let _ = self.kill.recv().await;
                None
            })
            .await;
            let chunk = match chunk {
                None => return false,
                Some(Ok(chunk)) if chunk.is_empty() => return true,
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => {
                    // What was not sent stays stored, for the next login.
                    log::error!("cannot read the offline messages of {user}: {e}");
                    return true;
                }
            };
            let mut spill = Vec::new();
            {
                let mut acks = self.acks.lock();
                for m in &chunk {
                    buf.extend_from_slice(
                        proto::message_line(&m.from, &m.text, true, m.sent_ms as u64, m.msg_id)
                            .as_bytes(),
                    );
                    spill.extend(acks.written_stored(m.msg_id));
                    after = m.id;
                }
            }
            drop(chunk);
            self.spill(spill);
            if !self.write(buf).await {
                return false;
            }
        }
    }

    /// Stores the live messages the in-flight list let go of (they stay listed by id).
    fn spill(&self, spill: Vec<Direct>) {
        for d in spill {
            // A deleted account keeps nothing.
            if self.shared.accounts.exists(&d.to) {
                d.store_offline(&self.shared.store);
            }
        }
    }
}
