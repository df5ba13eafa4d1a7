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
use crate::hub::{event_line, Outbox, Outgoing};
use crate::seams::Store;
use crate::state::Shared;
use crate::store::StoreOutcome;
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

/// Drains the queue onto the socket in batches. Stops on `Close` (after flushing), on a write
/// error, or when killed. Direct messages that did not reach the socket are stored offline.
pub(crate) async fn writer_loop(
    socket: Arc<Socket>,
    rx: Receiver<Outgoing>,
    kill: Receiver<()>,
    shared: Arc<Shared>,
    _done: Sender<()>,
) {
    // Grows with what is written; trimmed after a burst so an idle connection holds little.
    let mut buf: Vec<u8> = Vec::new();
    let mut in_flight = Vec::new();
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
        let mut delivered: Vec<i64> = Vec::new();
        let mut close = false;
        let mut yielded = false;
        loop {
            match item {
                Outgoing::Frame(line) => buf.extend_from_slice(line.as_bytes()),
                Outgoing::Direct(d) => {
                    buf.extend_from_slice(d.frame.as_bytes());
                    in_flight.push(d);
                }
                Outgoing::Reply { id, response } => proto::write_reply(&mut buf, id, &response),
                Outgoing::Delivered(ids) => delivered.extend(ids),
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
        if !buf.is_empty() {
            let wrote = future::or(async { socket.write_all(&buf).await.is_ok() }, async {
                let _ = kill.recv().await;
                false
            })
            .await;
            if !wrote {
                failed = true;
                break 'outer;
            }
            buf.clear();
            buf.shrink_to(IDLE_BUFFER);
            in_flight.clear();
        }
        if !delivered.is_empty() {
            // Queued on the store thread now; the result is not needed (at worst a message
            // is shown again after a crash, never lost).
            drop(shared.store.delete_offline(delivered));
        }
        if close {
            let _ = socket.flush().await;
            socket.shutdown(Shutdown::Write);
            break;
        }
    }
    // Whatever is still queued (a message routed while the connection was closing) or was
    // in a failed write goes back to the store: at least once, never lost.
    rx.close();
    while let Ok(item) = rx.try_recv() {
        if let Outgoing::Direct(d) = item {
            in_flight.push(d);
        }
    }
    if !in_flight.is_empty() {
        let cap = shared.config().limits.max_offline_per_user;
        for d in in_flight {
            // A deleted account keeps nothing (its session is closing because of that).
            if !shared.accounts.exists(&d.to) {
                continue;
            }
            if d.store_offline(&shared.store, cap) {
                shared.hub.count_offline(StoreOutcome::Stored);
            }
        }
    }
    if failed {
        socket.shutdown(Shutdown::Both);
    }
}
