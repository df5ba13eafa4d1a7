//! The scenarios: `login`, `direct`, `broadcast` and `offline`, each one timed run against a
//! server, producing an [`Outcome`].
//!
//! Every message text carries `b<sender> <seq> <micros>`: who sent it, its number, and when
//! it was written (microseconds since the run started, on this process's monotonic clock), so
//! the receiver measures the latency and the [`Tracker`] knows which message arrived.
//!
//! The in-flight window is the same for both protocols: a sender may have at most `window`
//! messages that have not yet *completed*, where complete means delivered to every expected
//! receiver (`direct`, `broadcast`) or acknowledged after the store commit (`offline`). IRC
//! never acknowledges a `PRIVMSG`, so counting at the receivers is the only bound that means
//! the same thing on both servers.
//!
//! Every wait is bounded by the run's deadline; a run that misses it reports what it got.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use async_channel::{Receiver, Sender};
use futures_lite::future;
use smol::{LocalExecutor, Task, Timer};

use crate::client::{self, Incoming, Kind, LineReader, Session, Writer};
use crate::server::{offline_user, password, user};

/// What to run against.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Protocol.
    pub kind: Kind,
    /// A loopback address.
    pub addr: SocketAddr,
}

/// Sizes of a run.
#[derive(Debug, Clone)]
pub struct Params {
    /// Connections logged in at once (`login`, `direct`, `broadcast`), or senders (`offline`).
    pub clients: usize,
    /// Messages each sender sends.
    pub messages: u32,
    /// Messages one sender may have in flight.
    pub window: usize,
    /// Senders in `broadcast`.
    pub senders: usize,
    /// Offline recipients in `offline`.
    pub recipients: usize,
    /// Bytes of message text.
    pub size: usize,
    /// Logins in progress at once.
    pub concurrency: usize,
    /// Longest a run may take.
    pub timeout: Duration,
    /// The server's process id, to measure the CPU time it spends on the run.
    pub pid: Option<u32>,
}

/// The figures of one run.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Things counted (logins, deliveries, stored messages).
    pub count: u64,
    /// How many were expected.
    pub expected: u64,
    /// Seconds from the start to the last one counted.
    pub secs: f64,
    /// Latencies in microseconds, sorted.
    pub latencies: Vec<u32>,
    /// Refused requests and other failures.
    pub errors: u64,
    /// Why the run is incomplete, if it is.
    pub note: Option<String>,
    /// CPU seconds the server used during the timed part, if its pid is known.
    pub server_cpu: Option<f64>,
}

impl Outcome {
    /// Counted per second.
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.count as f64 / self.secs
        } else {
            0.0
        }
    }

    /// Server CPU microseconds per thing counted: a figure that depends much less on what
    /// else runs on the machine than the rate does.
    pub fn cpu_us_per_op(&self) -> Option<f64> {
        self.server_cpu
            .filter(|_| self.count > 0)
            .map(|c| c * 1e6 / self.count as f64)
    }

    /// The `p`-th percentile latency (0..=100) in microseconds.
    pub fn percentile(&self, p: f64) -> u32 {
        if self.latencies.is_empty() {
            return 0;
        }
        let rank = ((p / 100.0) * (self.latencies.len() - 1) as f64).round() as usize;
        self.latencies[rank.min(self.latencies.len() - 1)]
    }
}

/// Counts completions per message, releases window slots, and records latencies.
pub struct Tracker {
    start: Instant,
    /// Completions each message needs (1, or receivers of a broadcast).
    expected: u32,
    /// `counts[sender][seq]`.
    counts: Vec<Vec<u32>>,
    /// Each sender's window: holding one item = one message in flight.
    windows: Vec<Receiver<()>>,
    remaining: u64,
    counted: u64,
    errors: u64,
    latencies: Vec<u32>,
    last: Instant,
    /// Closed when nothing remains.
    done: Sender<()>,
}

impl Tracker {
    fn new(
        senders: usize,
        messages: u32,
        expected: u32,
        windows: Vec<Receiver<()>>,
        done: Sender<()>,
    ) -> Self {
        let total = senders as u64 * u64::from(messages) * u64::from(expected);
        let now = Instant::now();
        Tracker {
            start: now,
            expected,
            counts: vec![vec![0; messages as usize]; senders],
            windows,
            remaining: total,
            counted: 0,
            errors: 0,
            latencies: Vec::with_capacity(total.min(1 << 24) as usize),
            last: now,
            done,
        }
    }

    /// Microseconds since the start of the run.
    fn micros(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// A message text arrived at a receiver.
    fn delivered(&mut self, text: &str) {
        let mut it = text.split(' ');
        let parsed = (|| {
            let s: usize = it.next()?.strip_prefix('b')?.parse().ok()?;
            let q: usize = it.next()?.parse().ok()?;
            let t: u64 = it.next()?.parse().ok()?;
            Some((s, q, t))
        })();
        match parsed {
            Some((s, q, t)) => self.complete(s, q, t),
            None => self.errors += 1,
        }
    }

    /// Message `q` of sender `s`, written at `t` µs, completed once more.
    fn complete(&mut self, s: usize, q: usize, t: u64) {
        let Some(c) = self.counts.get_mut(s).and_then(|v| v.get_mut(q)) else {
            self.errors += 1;
            return;
        };
        if *c >= self.expected {
            // A duplicate, or a leftover from an earlier run on the same server.
            return;
        }
        *c += 1;
        let now = Instant::now();
        let lat = (now.duration_since(self.start).as_micros() as u64).saturating_sub(t);
        self.latencies.push(lat.min(u64::from(u32::MAX)) as u32);
        self.counted += 1;
        self.last = now;
        let finished = *c == self.expected;
        if finished {
            let _ = self.windows[s].try_recv();
        }
        self.remaining -= 1;
        if self.remaining == 0 {
            self.done.close();
        }
    }

    /// Message `q` of sender `s` was refused: it will complete no further.
    fn refused(&mut self, s: usize, q: usize) {
        self.errors += 1;
        let Some(c) = self.counts.get_mut(s).and_then(|v| v.get_mut(q)) else {
            return;
        };
        let missing = self.expected - *c;
        *c = self.expected;
        if missing > 0 {
            let _ = self.windows[s].try_recv();
            self.remaining -= u64::from(missing);
            if self.remaining == 0 {
                self.done.close();
            }
        }
    }
}

/// What a connection's reader does with the lines it reads.
#[derive(Clone)]
enum Role {
    /// Nothing but keep the socket drained (and answer PINGs).
    Drain,
    /// Count message texts arriving here; chatd acks of this sender's requests are checked
    /// for refusals.
    Deliveries {
        tracker: Rc<RefCell<Tracker>>,
        me: usize,
        sent: Rc<RefCell<VecDeque<(u32, u64)>>>,
    },
    /// Count chatd acks of this sender's requests as completions (`offline`).
    Acks {
        tracker: Rc<RefCell<Tracker>>,
        me: usize,
        sent: Rc<RefCell<VecDeque<(u32, u64)>>>,
    },
}

/// Reads until end of stream, acting per `role`. Signals `joined` on IRC's end of NAMES
/// (the answer to our JOIN). Returns the number of failures seen.
/// chatd's messages a receiver acknowledges at once (as `chat` does during a burst).
const ACK_EVERY: u32 = 64;

async fn reader_loop(
    mut reader: LineReader,
    writer: Writer,
    kind: Kind,
    role: Role,
    joined: Option<Sender<()>>,
) -> u64 {
    let mut errors = 0;
    // chatd's direct messages shown and not yet acknowledged (acknowledged every so many,
    // so the server's in-flight list stays short and nothing is stored for this client).
    let mut unacked = 0u32;
    loop {
        let line = match reader.next().await {
            Ok(Some(line)) => line,
            Ok(None) => return errors,
            Err(_) => return errors + 1,
        };
        let incoming = match kind {
            Kind::Chat => client::parse_chat(line),
            Kind::Irc => match std::str::from_utf8(line) {
                Ok(l) => client::parse_irc(l),
                Err(_) => Incoming::Other,
            },
        };
        match incoming {
            Incoming::Delivery(text, msg_id) => {
                if let Role::Deliveries { tracker, .. } = &role {
                    tracker.borrow_mut().delivered(&text);
                }
                if let Some(msg_id) = msg_id {
                    unacked += 1;
                    if unacked >= ACK_EVERY {
                        unacked = 0;
                        if client::send(&writer, client::ack_line(msg_id).as_bytes())
                            .await
                            .is_err()
                        {
                            return errors + 1;
                        }
                    }
                }
            }
            Incoming::Ack => match &role {
                Role::Acks { tracker, me, sent } => {
                    if let Some((q, t)) = sent.borrow_mut().pop_front() {
                        tracker.borrow_mut().complete(*me, q as usize, t);
                    }
                }
                Role::Deliveries { sent, .. } => {
                    sent.borrow_mut().pop_front();
                }
                Role::Drain => {}
            },
            Incoming::Refused(_) => match &role {
                Role::Acks { tracker, me, sent } | Role::Deliveries { tracker, me, sent } => {
                    if let Some((q, _)) = sent.borrow_mut().pop_front() {
                        tracker.borrow_mut().refused(*me, q as usize);
                    }
                }
                Role::Drain => errors += 1,
            },
            Incoming::Ping(token) => {
                let pong = format!("PONG :{token}\r\n");
                if client::send(&writer, pong.as_bytes()).await.is_err() {
                    return errors + 1;
                }
            }
            Incoming::Numeric(366) => {
                if let Some(j) = &joined {
                    let _ = j.try_send(());
                }
            }
            // The answer to our own logout/QUIT, or a disconnect whose cost shows up as
            // missing deliveries: not counted twice.
            Incoming::Closed(_) | Incoming::Numeric(_) | Incoming::Other => {}
        }
    }
}

/// Where a sender's messages go.
#[derive(Clone)]
enum Dest {
    /// Round-robin over these names.
    Users(Rc<Vec<String>>),
    /// Everyone (chatd `broadcast`, IRC channel).
    All,
}

/// The text of message `seq` of sender `me`, written at `t` µs, padded to `size` bytes.
fn message_text(me: usize, seq: u32, t: u64, size: usize) -> String {
    let mut text = format!("b{me} {seq} {t} ");
    while text.len() < size {
        text.push('x');
    }
    text
}

/// Sends `messages` messages, at most `window` in flight, batching whatever the window allows
/// into one write.
#[allow(clippy::too_many_arguments)]
async fn sender_loop(
    writer: Writer,
    kind: Kind,
    me: usize,
    messages: u32,
    dest: Dest,
    window: Sender<()>,
    tracker: Rc<RefCell<Tracker>>,
    sent: Rc<RefCell<VecDeque<(u32, u64)>>>,
    size: usize,
) -> anyhow::Result<()> {
    let mut seq = 0u32;
    let mut batch = String::new();
    while seq < messages {
        window.send(()).await.context("window closed")?;
        batch.clear();
        loop {
            let t = tracker.borrow().micros();
            let text = message_text(me, seq, t, size);
            let id = u64::from(seq) + 100;
            let line = match &dest {
                Dest::Users(names) => {
                    let to = &names[seq as usize % names.len()];
                    client::direct_line(kind, id, to, &text)
                }
                Dest::All => client::broadcast_line(kind, id, &text),
            };
            batch.push_str(&line);
            if kind == Kind::Chat {
                sent.borrow_mut().push_back((seq, t));
            }
            seq += 1;
            if seq >= messages || window.try_send(()).is_err() {
                break;
            }
        }
        client::send(&writer, batch.as_bytes())
            .await
            .context("write")?;
    }
    Ok(())
}

/// Runs `fut` unless `deadline` passes first.
async fn until<T>(deadline: Instant, fut: impl std::future::Future<Output = T>) -> Option<T> {
    future::or(async { Some(fut.await) }, async {
        Timer::at(deadline).await;
        None
    })
    .await
}

/// Logs in every `(name, password)`, at most `concurrency` at a time. Returns the sessions in
/// the order of `accounts`, each login's duration, and the time until the last finished.
async fn login_all(
    ex: &Rc<LocalExecutor<'static>>,
    target: Target,
    accounts: Vec<(String, String)>,
    concurrency: usize,
    join: bool,
    deadline: Instant,
) -> anyhow::Result<(Vec<Session>, Vec<Duration>, Duration)> {
    let slots = async_channel::bounded::<()>(concurrency.max(1));
    let start = Instant::now();
    let tasks: Vec<Task<anyhow::Result<(Session, Duration)>>> = accounts
        .into_iter()
        .map(|(name, pw)| {
            let slots = slots.clone();
            ex.spawn(async move {
                slots.0.send(()).await.context("login slots")?;
                let r = client::login(target.kind, target.addr, &name, &pw, join).await;
                let _ = slots.1.try_recv();
                r
            })
        })
        .collect();
    let mut sessions = Vec::with_capacity(tasks.len());
    let mut times = Vec::with_capacity(tasks.len());
    let n = tasks.len();
    let all = until(deadline, async {
        let mut out = Vec::with_capacity(n);
        for t in tasks {
            out.push(t.await);
        }
        out
    })
    .await
    .ok_or_else(|| anyhow!("logins did not finish in time"))?;
    let elapsed = start.elapsed();
    for r in all {
        let (s, d) = r?;
        sessions.push(s);
        times.push(d);
    }
    Ok((sessions, times, elapsed))
}

/// Sends the logout line on every connection and waits (bounded) for the readers to see the
/// server close it, so the next run can log the same names in.
async fn logout_all(
    kind: Kind,
    writers: &[Writer],
    readers: Vec<Task<u64>>,
    deadline: Instant,
) -> u64 {
    for w in writers {
        let _ = client::send(w, client::logout_line(kind).as_bytes()).await;
    }
    let end = deadline.max(Instant::now() + Duration::from_secs(10));
    until(end, async {
        let mut errors = 0;
        for r in readers {
            errors += r.await;
        }
        errors
    })
    .await
    .unwrap_or(0)
}

/// CPU seconds `pid` used since `before`.
fn cpu_delta(pid: Option<u32>, before: Option<f64>) -> Option<f64> {
    Some(crate::server::cpu_secs(pid?)? - before?)
}

fn accounts(range: std::ops::Range<usize>, name: fn(usize) -> String) -> Vec<(String, String)> {
    range
        .map(|i| {
            let n = name(i);
            let p = password(&n);
            (n, p)
        })
        .collect()
}

/// `login`: `clients` connections log in concurrently (at most `concurrency` at a time).
/// Counts logins per second; the latency is connect-to-welcome. On IRC a login is the
/// registration plus a JOIN of the common channel, whose members are all told: the same
/// fan-out as chatd's presence notice to every online user.
///
/// # Errors
/// A failed login or connection.
pub async fn login(
    ex: &Rc<LocalExecutor<'static>>,
    target: Target,
    p: &Params,
) -> anyhow::Result<Outcome> {
    let deadline = Instant::now() + p.timeout;
    let cpu0 = p.pid.and_then(crate::server::cpu_secs);
    let (sessions, times, elapsed) = login_all(
        ex,
        target,
        accounts(0..p.clients, user),
        p.concurrency,
        true,
        deadline,
    )
    .await?;
    let server_cpu = cpu_delta(p.pid, cpu0);
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for s in sessions {
        writers.push(Rc::clone(&s.writer));
        readers.push(ex.spawn(reader_loop(s.reader, s.writer, s.kind, Role::Drain, None)));
    }
    let errors = logout_all(target.kind, &writers, readers, deadline).await;
    let mut latencies: Vec<u32> = times
        .iter()
        .map(|d| d.as_micros().min(u128::from(u32::MAX)) as u32)
        .collect();
    latencies.sort_unstable();
    Ok(Outcome {
        count: latencies.len() as u64,
        expected: p.clients as u64,
        secs: elapsed.as_secs_f64(),
        latencies,
        errors,
        note: None,
        server_cpu,
    })
}

/// The shape of a message-sending run.
struct Plan {
    /// Connections to log in.
    logins: Vec<(String, String)>,
    /// How many of them (the first ones) send.
    senders: usize,
    /// Completions each message needs.
    expected: u32,
    /// Where sender `i` sends.
    dest: Box<dyn Fn(usize) -> Dest>,
    /// Completions counted at the receivers (true) or as the sender's acks (false).
    at_receivers: bool,
    /// IRC: join the channel first.
    join: bool,
}

async fn run_plan(
    ex: &Rc<LocalExecutor<'static>>,
    target: Target,
    p: &Params,
    plan: Plan,
) -> anyhow::Result<Outcome> {
    let deadline = Instant::now() + p.timeout;
    let (sessions, _, _) =
        login_all(ex, target, plan.logins, p.concurrency, false, deadline).await?;
    let n = sessions.len();
    let mut window_tx = Vec::new();
    let mut window_rx = Vec::new();
    for _ in 0..plan.senders {
        let (tx, rx) = async_channel::bounded::<()>(p.window.max(1));
        window_tx.push(tx);
        window_rx.push(rx);
    }
    let (done_tx, done_rx) = async_channel::bounded::<()>(1);
    let tracker = Rc::new(RefCell::new(Tracker::new(
        plan.senders,
        p.messages,
        plan.expected,
        window_rx,
        done_tx,
    )));
    let (joined_tx, joined_rx) = async_channel::bounded::<()>(n.max(1));
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    let mut queues = Vec::new();
    for (i, s) in sessions.into_iter().enumerate() {
        let sent = Rc::new(RefCell::new(VecDeque::new()));
        queues.push(Rc::clone(&sent));
        let role = if plan.at_receivers {
            Role::Deliveries {
                tracker: Rc::clone(&tracker),
                me: i,
                sent,
            }
        } else {
            Role::Acks {
                tracker: Rc::clone(&tracker),
                me: i,
                sent,
            }
        };
        writers.push(Rc::clone(&s.writer));
        let joined = plan.join.then(|| joined_tx.clone());
        readers.push(ex.spawn(reader_loop(s.reader, s.writer, s.kind, role, joined)));
    }
    let mut note = None;
    if plan.join && target.kind == Kind::Irc {
        let join = format!("JOIN {}\r\n", client::CHANNEL);
        for w in &writers {
            client::send(w, join.as_bytes()).await?;
        }
        let joined = until(deadline, async {
            for _ in 0..n {
                if joined_rx.recv().await.is_err() {
                    break;
                }
            }
        })
        .await;
        if joined.is_none() {
            bail!("not every client joined {} in time", client::CHANNEL);
        }
    }
    // The clock starts now: joins and logins are not part of the figures.
    let cpu0 = p.pid.and_then(crate::server::cpu_secs);
    {
        let mut t = tracker.borrow_mut();
        t.start = Instant::now();
        t.last = t.start;
    }
    let mut senders = Vec::new();
    for (i, tx) in window_tx.into_iter().enumerate() {
        senders.push(ex.spawn(sender_loop(
            Rc::clone(&writers[i]),
            target.kind,
            i,
            p.messages,
            (plan.dest)(i),
            tx,
            Rc::clone(&tracker),
            Rc::clone(&queues[i]),
            p.size,
        )));
    }
    if until(deadline, async {
        let _ = done_rx.recv().await;
    })
    .await
    .is_none()
    {
        note = Some(format!("timed out after {:?}", p.timeout));
    }
    let server_cpu = cpu_delta(p.pid, cpu0);
    let mut send_errors = 0;
    for s in senders {
        if let Some(Err(e)) = s.cancel().await {
            send_errors += 1;
            note.get_or_insert_with(|| format!("sender failed: {e:#}"));
        }
    }
    let reader_errors = logout_all(target.kind, &writers, readers, deadline).await;
    let t = tracker.borrow();
    let mut latencies = t.latencies.clone();
    latencies.sort_unstable();
    let total = plan.senders as u64 * u64::from(p.messages) * u64::from(plan.expected);
    Ok(Outcome {
        count: t.counted,
        expected: total,
        secs: t.last.duration_since(t.start).as_secs_f64(),
        latencies,
        errors: t.errors + send_errors + reader_errors,
        note,
        server_cpu,
    })
}

/// `direct`: `clients` connections each send `messages` direct messages, round-robin over
/// the other clients. Counts deliveries at the receivers; latency is write-to-receipt.
///
/// # Errors
/// A failed login or connection.
pub async fn direct(
    ex: &Rc<LocalExecutor<'static>>,
    target: Target,
    p: &Params,
) -> anyhow::Result<Outcome> {
    if p.clients < 2 {
        bail!("direct needs at least 2 clients");
    }
    let n = p.clients;
    let names: Vec<String> = (0..n).map(user).collect();
    let plan = Plan {
        logins: accounts(0..n, user),
        senders: n,
        expected: 1,
        dest: Box::new(move |i| {
            // Everyone else, starting with the next one.
            let peers = (1..n).map(|k| names[(i + k) % n].clone()).collect();
            Dest::Users(Rc::new(peers))
        }),
        at_receivers: true,
        join: false,
    };
    run_plan(ex, target, p, plan).await
}

/// `broadcast`: `clients` connections are online (in the channel, for IRC); the first
/// `senders` of them each send `messages` broadcasts, which every other client receives.
///
/// # Errors
/// A failed login or connection.
pub async fn broadcast(
    ex: &Rc<LocalExecutor<'static>>,
    target: Target,
    p: &Params,
) -> anyhow::Result<Outcome> {
    if p.clients < 2 || p.senders == 0 || p.senders > p.clients {
        bail!("broadcast needs 2+ clients and 1..=clients senders");
    }
    let plan = Plan {
        logins: accounts(0..p.clients, user),
        senders: p.senders,
        expected: (p.clients - 1) as u32,
        dest: Box::new(|_| Dest::All),
        at_receivers: true,
        join: true,
    };
    run_plan(ex, target, p, plan).await
}

/// `offline`: `clients` senders each send `messages` direct messages round-robin to
/// `recipients` users who are offline, so each is committed to chatd's store before the
/// answer. Counts answers (`sent` with `stored: true`); latency is request-to-answer.
///
/// # Errors
/// A failed login or connection; an IRC target (IRC stores nothing).
pub async fn offline(
    ex: &Rc<LocalExecutor<'static>>,
    target: Target,
    p: &Params,
) -> anyhow::Result<Outcome> {
    if target.kind != Kind::Chat {
        bail!("offline applies to chatd only");
    }
    let deadline = Instant::now() + p.timeout;
    // Not timed: make sure the recipients exist (an external chatd registers them) and have
    // no messages left from an earlier run, then leave them offline.
    let (sessions, _, _) = login_all(
        ex,
        target,
        accounts(0..p.recipients, offline_user),
        p.concurrency,
        false,
        deadline,
    )
    .await
    .context("preparing the offline recipients")?;
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for s in sessions {
        writers.push(Rc::clone(&s.writer));
        readers.push(ex.spawn(reader_loop(s.reader, s.writer, s.kind, Role::Drain, None)));
    }
    logout_all(target.kind, &writers, readers, deadline).await;
    let recipients: Rc<Vec<String>> = Rc::new((0..p.recipients).map(offline_user).collect());
    let plan = Plan {
        logins: accounts(0..p.clients, user),
        senders: p.clients,
        expected: 1,
        dest: Box::new(move |_| Dest::Users(Rc::clone(&recipients))),
        at_receivers: false,
        join: false,
    };
    run_plan(ex, target, p, plan).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_counts_and_releases() {
        let (wtx, wrx) = async_channel::bounded(2);
        let (dtx, drx) = async_channel::bounded(1);
        let mut t = Tracker::new(1, 2, 2, vec![wrx], dtx);
        wtx.try_send(()).unwrap();
        wtx.try_send(()).unwrap();
        t.delivered(&message_text(0, 0, 0, 30));
        assert!(wtx.is_full());
        t.delivered(&message_text(0, 0, 0, 30));
        assert_eq!(wtx.len(), 1);
        t.refused(0, 1);
        assert!(drx.is_closed());
        assert_eq!((t.counted, t.errors), (2, 1));
    }

    #[test]
    fn percentiles() {
        let o = Outcome {
            latencies: (1..=100).collect(),
            count: 100,
            secs: 2.0,
            ..Outcome::default()
        };
        assert_eq!(o.percentile(50.0), 51);
        assert_eq!(o.percentile(99.0), 99);
        assert_eq!(o.percentile(100.0), 100);
        assert_eq!(o.rate(), 50.0);
    }
}
