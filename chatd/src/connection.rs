//! One client connection's life: registered with the hub (or refused), its writer task
//! started, the greeting sent, then the read loop (lines from the transport, requests through
//! the front-end, commands dispatched, answers queued) racing the login and inactivity
//! timeouts on the server's clock and the config's reloads, and at the end a bounded flush and
//! the logout (which stores what the client never acknowledged).
//!
//! The read loop never holds an executor thread for long: it yields after [`LINE_BUDGET`]
//! lines, stops as soon as its writer is gone (a client whose replies cannot be delivered is
//! cut off at once), and closes a connection after `limits.max_bad_lines` lines in a row that
//! fail to decode.
//!
//! This module never touches another user's connection: that goes through the hub.

use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use futures_lite::future;
use proto::LineError;

use crate::clock::Clock;
use crate::commands::{self, Answer, Failure, Phase, RateLimit, Session};
use crate::frontend;
use crate::hub::{Acks, Outbox, Outgoing};
use crate::seams::Store;
use crate::state::Shared;
use crate::transport::{LineReader, Socket};

/// How long a closing connection may take to flush its last frames.
const FLUSH_GRACE: Duration = Duration::from_secs(5);

/// Lines one connection handles before it lets the other tasks on its executor thread run.
const LINE_BUDGET: u32 = 32;

/// How long before the inactivity logout the user is warned: a minute, or half the timeout
/// when the timeout is shorter than two minutes (a warning a minute ahead would then come
/// almost at once, or before the user could have been idle at all).
pub(crate) fn warn_before(timeout: Duration) -> Duration {
    const MINUTE: Duration = Duration::from_secs(60);
    if timeout >= 2 * MINUTE {
        MINUTE
    } else {
        timeout / 2
    }
}

/// Why the reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client closed or the socket failed.
    Gone,
    /// We queued a final frame and `Close`; wait for the writer to flush.
    Closing,
    /// The writer stopped (kick, shutdown, slow consumer, write error).
    WriterDone,
}

/// What one read step produced.
enum Step {
    Data,
    Eof,
    WriterDone,
    Timer,
    /// The configuration was reloaded: the deadlines may have moved.
    Reloaded,
}

/// Serves one accepted connection until it ends. `_alive` is dropped when this returns,
/// which is how the server knows every connection has finished.
pub(crate) async fn connection_loop(
    shared: Arc<Shared>,
    socket: Socket,
    addr: SocketAddr,
    _alive: Sender<()>,
) {
    let cfg = shared.config();
    let socket = Arc::new(socket);
    let (tx, rx) = async_channel::unbounded();
    let (kill_tx, kill_rx) = async_channel::bounded::<()>(1);
    let acks = Acks::default();
    let out = Outbox {
        tx,
        kill: kill_tx,
        cap: cfg.limits.send_queue,
        acks: acks.clone(),
    };
    let (id, last_active) = match shared.hub.connect(
        addr,
        out.clone(),
        cfg.limits.max_connections,
        cfg.limits.max_connections_per_ip,
    ) {
        Ok(v) => v,
        Err(refusal) => {
            frontend::refuse(&socket, &Failure::Refused(refusal)).await;
            return;
        }
    };
    log::debug!("connection {id} from {addr}");
    let (done_tx, done_rx) = async_channel::bounded::<()>(1);
    let writer = shared.ex.spawn(frontend::writer_loop(
        Arc::clone(&socket),
        rx.clone(),
        kill_rx,
        Arc::clone(&shared),
        acks.clone(),
        done_tx,
    ));
    // Read before the greeting goes out: a test that moves a manual clock once greeted must
    // move the login deadline too.
    let now = shared.clock.now();
    let _ = out.tx.try_send(frontend::hello(cfg.limits.max_line_bytes));
    let mut session = Session {
        id,
        addr,
        phase: Phase::Name,
        opened: now,
        last_valid: now,
        last_active,
        rate: RateLimit::new(cfg.limits.message_burst, shared.clock.coarse()),
        acks,
    };
    let end = read_loop(&shared, &mut session, &out, &socket, &done_rx).await;
    if end == End::Closing {
        // Let the writer flush the last frames, but not forever.
        let flushed = future::or(
            async {
                let _ = done_rx.recv().await;
                true
            },
            async {
                smol::Timer::after(FLUSH_GRACE).await;
                false
            },
        )
        .await;
        if !flushed {
            log::warn!("connection {id} did not take its last frames in time; dropping it");
        }
    }
    // Stops a writer still blocked on the socket, so awaiting it is quick.
    out.kill.close();
    writer.await;
    socket.shutdown(Shutdown::Both);
    // Now nothing more is written: what is in flight or still queued is stored.
    if let Some(user) = shared.hub.disconnect(id, &rx, &shared.store) {
        log::info!("{user} logged out ({addr})");
        if let Phase::In {
            session: Some(row), ..
        } = session.phase
        {
            if let Err(e) = shared.store.record_logout(row, shared.clock.now_ms()).await {
                log::error!("cannot record the logout of {user}: {e}");
            }
        }
    }
    log::debug!("connection {id} closed");
}

/// Pushes onto this connection's queue; a full queue drops the connection (the hub's rule),
/// so there is nothing else to do on failure.
fn push(out: &Outbox, shared: &Shared, item: Outgoing) {
    let _ = out.push(&shared.hub.counters, item);
}

async fn read_loop(
    shared: &Arc<Shared>,
    s: &mut Session,
    out: &Outbox,
    socket: &Socket,
    done: &Receiver<()>,
) -> End {
    let mut reader = LineReader::new(shared.config().limits.max_line_bytes);
    // One alarm for the connection's life. It is moved only to an earlier deadline; when it
    // goes off before the current deadline (activity moved it later) it is re-armed there.
    // Re-registering a timer with the reactor on every read was a measurable cost.
    let mut armed = s.opened + shared.config().limits.login_timeout;
    let mut alarm = shared.clock.alarm(armed);
    // Lines handled since this task last let others run, and bad lines in a row.
    let mut budget = 0u32;
    let mut bad_lines = 0u32;
    // The idle stretch (its start) the user was last warned about: one warning per stretch.
    let mut warned: Option<Instant> = None;
    loop {
        let cfg = shared.config();
        let reloaded = shared.reloaded();
        let (deadline, warning) = match s.phase {
            Phase::In { .. } => {
                let logout = s.last_valid + cfg.timeout;
                let warn_at = logout - warn_before(cfg.timeout);
                (logout, (warned != Some(s.last_valid)).then_some(warn_at))
            }
            _ => (s.opened + cfg.limits.login_timeout, None),
        };
        let next = warning.map_or(deadline, |w| w.min(deadline));
        if next < armed {
            armed = next;
            alarm.set_at(next);
        }
        let step = future::or(
            future::or(
                async {
                    match reader.fill(socket).await {
                        Ok(0) | Err(_) => Step::Eof,
                        Ok(_) => Step::Data,
                    }
                },
                async {
                    let _ = done.recv().await;
                    Step::WriterDone
                },
            ),
            future::or(
                async {
                    (&mut alarm).await;
                    Step::Timer
                },
                async {
                    let _ = reloaded.recv().await;
                    Step::Reloaded
                },
            ),
        )
        .await;
        match step {
            Step::Eof => return End::Gone,
            Step::WriterDone => return End::WriterDone,
            Step::Reloaded => {}
            Step::Timer if shared.clock.now() < next => {
                armed = next;
                alarm.set_at(next);
            }
            Step::Timer if warning.is_some() && shared.clock.now() < deadline => {
                let left = deadline.saturating_duration_since(shared.clock.now());
                push(
                    out,
                    shared,
                    frontend::idle_warning(left.as_secs_f64().ceil() as u64),
                );
                warned = Some(s.last_valid);
                armed = deadline;
                alarm.set_at(deadline);
            }
            Step::Timer => {
                if let Phase::In { user, .. } = &s.phase {
                    log::info!("{user} timed out after {}s idle", cfg.timeout.as_secs());
                    push(out, shared, frontend::inactive());
                } else {
                    frontend::send_error(out, shared, None, &Failure::LoginTimeout);
                }
                push(out, shared, Outgoing::Close);
                return End::Closing;
            }
            Step::Data => loop {
                // A client whose replies cannot be delivered (its queue overflowed, or the
                // writer failed) is cut off now, not when it stops sending.
                if out.tx.is_closed() {
                    return End::WriterDone;
                }
                budget += 1;
                if budget >= LINE_BUDGET {
                    budget = 0;
                    smol::future::yield_now().await;
                }
                let line = match reader.next_line() {
                    None => break,
                    Some(Ok(line)) => line,
                    Some(Err(LineError::TooLong { limit })) => {
                        frontend::send_error(out, shared, None, &Failure::LineTooLong { limit });
                        push(out, shared, Outgoing::Close);
                        return End::Closing;
                    }
                };
                let (id, request) = match frontend::decode(line) {
                    Ok(Some(v)) => v,
                    Ok(None) => continue,
                    Err((id, failure)) => {
                        frontend::send_error(out, shared, id, &failure);
                        bad_lines += 1;
                        let limit = cfg.limits.max_bad_lines;
                        if bad_lines >= limit {
                            log::warn!("connection {}: {limit} bad lines in a row; closing", s.id);
                            let failure = Failure::TooManyBadLines { limit };
                            frontend::send_error(out, shared, None, &failure);
                            push(out, shared, Outgoing::Close);
                            return End::Closing;
                        }
                        continue;
                    }
                };
                bad_lines = 0;
                let result = commands::dispatch(s, shared, id, request).await;
                let close = matches!(result, Ok(Answer::Close(_)));
                if let Some(item) = frontend::reply(id, result) {
                    push(out, shared, item);
                }
                if close {
                    push(out, shared, Outgoing::Close);
                    return End::Closing;
                }
            },
        }
    }
}
