//! The scenarios, each one timed run against a server producing an [`Outcome`]: `login`,
//! `direct` (closed loop, or paced with a rate), `broadcast` and `offline` measure throughput,
//! latency and server CPU; `idle` the server's memory per idle logged-in connection; `mass`
//! (many clients logging in, then all logging out at once) and `shutdown` (SIGTERM with many
//! sessions) the costs that grow with the number of sessions.
//!
//! Every message text carries `b<sender> <seq> <micros>`: who sent it, its number, and when
//! it was written (microseconds since the run started, on this process's monotonic clock), so
//! the receiver measures the latency and the [`Tracker`] knows which message arrived.
//!
//! The in-flight window is the same for both protocols: a sender may have at most `window`
//! messages that have not yet *completed*, where complete means delivered to every expected
//! receiver (`direct`, `broadcast`) or acknowledged after the store commit (`offline`). IRC
//! never acknowledges a `PRIVMSG`, so counting at the receivers is the only bound that means
//! the same thing on both servers. A paced run has no window: messages leave on a schedule.
//!
//! Every connection's socket is drained from the moment it is logged in (by a reader task
//! whose [`Role`] the scenario changes later), so presence storms never back up into the
//! server. Every wait is bounded by the run's deadline; a run that misses it reports what it
//! got. This module does not start or stop servers (that is `server`, and `main`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use async_channel::{Receiver, Sender};
use futures_lite::future;
use smol::{LocalExecutor, Task, Timer};

use crate::client::{self, Incoming, Kind, LineReader, Writer};
use crate::server::{self, offline_user, password, user};

/// What to run against.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Protocol.
    pub kind: Kind,
    /// A loopback address.
    pub addr: SocketAddr,
    /// Loopback source addresses to spread the connections over (127.0.0.1, .2, ...); 1
    /// leaves the choice to the kernel.
    pub sources: u8,
    /// Read buffer per connection, in bytes.
    pub read_buf: usize,
}

impl Target {
    /// The source address of connection `i`.
    fn source(&self, i: usize) -> Option<IpAddr> {
        (self.sources > 1).then(|| {
            let host = 1 + (i % usize::from(self.sources)) as u8;
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, host))
        })
    }
}

/// Sizes of a run.
#[derive(Debug, Clone)]
pub struct Params {
    /// Connections logged in at once (`login`, `direct`, `broadcast`, `idle`, `mass`,
    /// `shutdown`), or senders (`offline`).
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
    /// `direct` only: send this many messages per second in all, on a schedule, instead of
    /// as fast as the window allows.
    pub rate: Option<f64>,
    /// Longest a run may take.
    pub timeout: Duration,
    /// The server's process id, to measure the CPU time and memory it spends on the run.
    pub pid: Option<u32>,
    /// A command run during the timed part of a message scenario (`{pid}` is replaced by
    /// the server's process id), stopped with SIGINT at its end: `perf stat`, `strace -c`.
    pub attach: Option<String>,
    /// `mass`: the longest the logins may take; past it, the run reports how far they got.
    pub login_budget: Option<Duration>,
}

/// The figures of one run.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Things counted (logins, deliveries, stored messages, connections).
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
    /// The headline figure when it is not `count / secs` (`idle`: KiB per connection,
    /// `shutdown`: seconds to exit).
    pub value: Option<f64>,
    /// Further named figures of the scenario.
    pub extra: Vec<(&'static str, f64)>,
}

impl Outcome {
    /// The headline figure: counted per second unless the scenario says otherwise.
    pub fn rate(&self) -> f64 {
        if let Some(v) = self.value {
            v
        } else if self.secs > 0.0 {
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
        percentile(&self.latencies, p)
    }
}

/// The `p`-th percentile (0..=100) of sorted `v`; 0 for an empty one.
fn percentile(v: &[u32], p: f64) -> u32 {
    if v.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[rank.min(v.len() - 1)]
}

/// A sender's chatd requests not yet answered: `(seq, µs written)`, oldest first.
type Pending = Rc<RefCell<VecDeque<(u32, u64)>>>;

/// Counts completions per message, releases window slots, and records latencies.
pub struct Tracker {
    start: Instant,
    /// Completions each message needs (1, or receivers of a broadcast).
    expected: u32,
    /// `counts[sender][seq]`.
    counts: Vec<Vec<u32>>,
    /// Each sender's window: holding one item = one message in flight. Empty when paced.
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
            if let Some(w) = self.windows.get(s) {
                let _ = w.try_recv();
            }
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
            if let Some(w) = self.windows.get(s) {
                let _ = w.try_recv();
            }
            self.remaining -= u64::from(missing);
            if self.remaining == 0 {
                self.done.close();
            }
        }
    }
}

/// Counts of presence-like events seen by the connections watching them, with a wake-up for
/// whoever waits on the counts.
#[derive(Default)]
pub struct Watch {
    /// Others came online (chatd presence, IRC JOIN).
    joined: Cell<u64>,
    /// Others went away (chatd presence, IRC QUIT).
    left: Cell<u64>,
    /// The server announced it is closing the connection (chatd `shutdown`, IRC `ERROR`).
    closing: Cell<u64>,
    /// Connections watching this that have ended.
    ended: Cell<u64>,
    changed: Option<(Sender<()>, Receiver<()>)>,
}

impl Watch {
    fn new() -> Rc<Watch> {
        Rc::new(Watch {
            changed: Some(async_channel::bounded(1)),
            ..Watch::default()
        })
    }

    fn bump(&self, c: &Cell<u64>, n: u64) {
        c.set(c.get() + n);
        if let Some((tx, _)) = &self.changed {
            let _ = tx.try_send(());
        }
    }

    /// Waits until `ready(self)` holds, or `deadline`. Returns whether it held.
    async fn wait(&self, deadline: Instant, ready: impl Fn(&Watch) -> bool) -> bool {
        let Some((_, rx)) = &self.changed else {
            return ready(self);
        };
        until(deadline, async {
            while !ready(self) {
                if rx.recv().await.is_err() {
                    break;
                }
            }
        })
        .await
        .is_some()
            && ready(self)
    }
}

/// What a connection's reader does with the lines it reads. Changed by the scenario as it
/// goes (drain during logins, then count deliveries, ...).
#[derive(Clone)]
pub enum Role {
    /// Nothing but keep the socket drained (and answer PINGs).
    Drain,
    /// Count message texts arriving here; chatd acks of this sender's requests are checked
    /// for refusals.
    Deliveries {
        tracker: Rc<RefCell<Tracker>>,
        me: usize,
        sent: Pending,
    },
    /// Count chatd acks of this sender's requests as completions (`offline`).
    Acks {
        tracker: Rc<RefCell<Tracker>>,
        me: usize,
        sent: Pending,
    },
    /// Signal IRC's end of NAMES (the answer to our JOIN).
    Joining(Sender<()>),
    /// Count presence and closing notices.
    Watch(Rc<Watch>),
}

/// A logged-in connection whose socket is being read.
pub struct Conn {
    writer: Writer,
    role: Rc<RefCell<Role>>,
    reader: Task<u64>,
}

impl Conn {
    fn set(&self, role: Role) {
        *self.role.borrow_mut() = role;
    }
}

/// chatd's messages a receiver acknowledges at once (as `chat` does during a burst), so the
/// server's in-flight list stays short and nothing is stored for a benchmark client.
const ACK_EVERY: u32 = 64;

/// Reads until end of stream, acting per `role`. Returns the number of failures seen.
async fn reader_loop(
    mut reader: LineReader,
    writer: Writer,
    kind: Kind,
    role: Rc<RefCell<Role>>,
) -> u64 {
    let mut errors = 0;
    let mut unacked = 0u32;
    let ended = |role: &Rc<RefCell<Role>>| {
        if let Role::Watch(w) = &*role.borrow() {
            w.bump(&w.ended, 1);
        }
    };
    loop {
        let line = match reader.next().await {
            Ok(Some(line)) => line,
            Ok(None) => {
                ended(&role);
                return errors;
            }
            Err(_) => {
                ended(&role);
                return errors + 1;
            }
        };
        let incoming = match kind {
            Kind::Chat => client::parse_chat(line),
            Kind::Irc => match std::str::from_utf8(line) {
                Ok(l) => client::parse_irc(l),
                Err(_) => Incoming::Other,
            },
        };
        let mut pong = None;
        if let Incoming::Delivery(_, Some(msg_id)) = &incoming {
            unacked += 1;
            if unacked >= ACK_EVERY {
                unacked = 0;
                pong = Some(client::ack_line(*msg_id));
            }
        }
        match (incoming, &*role.borrow()) {
            (Incoming::Delivery(text, _), Role::Deliveries { tracker, .. }) => {
                tracker.borrow_mut().delivered(&text);
            }
            (Incoming::Ack, Role::Acks { tracker, me, sent }) => {
                if let Some((q, t)) = sent.borrow_mut().pop_front() {
                    tracker.borrow_mut().complete(*me, q as usize, t);
                }
            }
            (Incoming::Ack, Role::Deliveries { sent, .. }) => {
                sent.borrow_mut().pop_front();
            }
            (
                Incoming::Refused(_),
                Role::Acks { tracker, me, sent } | Role::Deliveries { tracker, me, sent },
            ) => {
                if let Some((q, _)) = sent.borrow_mut().pop_front() {
                    tracker.borrow_mut().refused(*me, q as usize);
                }
            }
            (Incoming::Refused(_), _) => errors += 1,
            (Incoming::Ping(token), _) => pong = Some(format!("PONG :{token}\r\n")),
            (Incoming::Numeric(366), Role::Joining(tx)) => {
                let _ = tx.try_send(());
            }
            (Incoming::Joined(n), Role::Watch(w)) => w.bump(&w.joined, n),
            (Incoming::Left(n), Role::Watch(w)) => w.bump(&w.left, n),
            (Incoming::Closed(_), Role::Watch(w)) => w.bump(&w.closing, 1),
            // The answer to our own logout/QUIT, or a disconnect whose cost shows up as
            // missing deliveries: not counted twice.
            _ => {}
        }
        // A PONG (IRC) or an acknowledgement (chatd): never both for one line.
        if let Some(pong) = pong {
            if client::send(&writer, pong.as_bytes()).await.is_err() {
                ended(&role);
                return errors + 1;
            }
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

impl Dest {
    /// The line for message `seq` with `text`.
    fn line(&self, kind: Kind, seq: u32, text: &str) -> String {
        let id = u64::from(seq) + 100;
        match self {
            Dest::Users(names) => {
                let to = &names[seq as usize % names.len()];
                client::direct_line(kind, id, to, text)
            }
            Dest::All => client::broadcast_line(kind, id, text),
        }
    }
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
    sent: Pending,
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
            batch.push_str(&dest.line(kind, seq, &text));
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

/// The paced sender: message `k` of the run (sender `k % n`, its number `k / n`) is due
/// `k / rate` seconds after the start, whether or not earlier ones have arrived. Each message
/// is stamped with the time it is actually written; returns how late each write was against
/// its schedule (µs, sorted), which says whether the load generator kept the pace.
#[allow(clippy::too_many_arguments)]
async fn pacer(
    writers: Vec<Writer>,
    kind: Kind,
    messages: u32,
    dests: Vec<Dest>,
    rate: f64,
    tracker: Rc<RefCell<Tracker>>,
    queues: Vec<Pending>,
    size: usize,
) -> anyhow::Result<Vec<u32>> {
    let n = writers.len() as u64;
    let total = n * u64::from(messages);
    let mut lags = Vec::with_capacity(total.min(1 << 24) as usize);
    let mut k = 0u64;
    let due_us = |k: u64| (k as f64 * 1e6 / rate) as u64;
    while k < total {
        let now = tracker.borrow().micros();
        while k < total && due_us(k) <= now {
            let i = (k % n) as usize;
            let seq = (k / n) as u32;
            let t = tracker.borrow().micros();
            let line = dests[i].line(kind, seq, &message_text(i, seq, t, size));
            if kind == Kind::Chat {
                queues[i].borrow_mut().push_back((seq, t));
            }
            client::send(&writers[i], line.as_bytes())
                .await
                .context("write")?;
            lags.push(t.saturating_sub(due_us(k)).min(u64::from(u32::MAX)) as u32);
            k += 1;
        }
        if k < total {
            // Sleep until the next message is due, but at least 200 µs: a few messages per
            // wake-up at 20,000/s instead of a timer per message.
            let start = tracker.borrow().start;
            let next = start + Duration::from_micros(due_us(k));
            Timer::at(next.max(Instant::now() + Duration::from_micros(200))).await;
        }
    }
    lags.sort_unstable();
    Ok(lags)
}

/// Runs `fut` unless `deadline` passes first.
async fn until<T>(deadline: Instant, fut: impl std::future::Future<Output = T>) -> Option<T> {
    future::or(async { Some(fut.await) }, async {
        Timer::at(deadline).await;
        None
    })
    .await
}

/// Logs in every `(name, password)`, at most `concurrency` at a time; connection `i` of the
/// list uses source address `first + i`. Each connection's socket is drained from the moment
/// it is logged in. Returns the connections in the order of `accounts`, each login's
/// duration, and the time until the last finished.
async fn login_all(
    ex: &Rc<LocalExecutor<'static>>,
    target: Target,
    accounts: Vec<(String, String)>,
    first: usize,
    concurrency: usize,
    join: bool,
    deadline: Instant,
) -> anyhow::Result<(Vec<Conn>, Vec<Duration>, Duration)> {
    let slots = async_channel::bounded::<()>(concurrency.max(1));
    let start = Instant::now();
    let tasks: Vec<Task<anyhow::Result<(Conn, Duration)>>> = accounts
        .into_iter()
        .enumerate()
        .map(|(i, (name, pw))| {
            let slots = slots.clone();
            let ex2 = Rc::clone(ex);
            ex.spawn(async move {
                slots.0.send(()).await.context("login slots")?;
                let r = client::login(
                    target.kind,
                    target.addr,
                    target.source(first + i),
                    target.read_buf,
                    &name,
                    &pw,
                    join,
                )
                .await;
                let _ = slots.1.try_recv();
                let (s, d) = r?;
                let role = Rc::new(RefCell::new(Role::Drain));
                let writer = Rc::clone(&s.writer);
                let reader = ex2.spawn(reader_loop(s.reader, s.writer, s.kind, Rc::clone(&role)));
                Ok((
                    Conn {
                        writer,
                        role,
                        reader,
                    },
                    d,
                ))
            })
        })
        .collect();
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
    let mut conns = Vec::with_capacity(n);
    let mut times = Vec::with_capacity(n);
    for r in all {
        let (c, d) = r?;
        conns.push(c);
        times.push(d);
    }
    Ok((conns, times, elapsed))
}

/// Sends the logout line on every connection and waits (bounded) for the readers to see the
/// server close it, so the next run can log the same names in. Returns the readers' errors.
async fn logout_all(kind: Kind, conns: Vec<Conn>, deadline: Instant) -> u64 {
    for c in &conns {
        c.set(Role::Drain);
        let _ = client::send(&c.writer, client::logout_line(kind).as_bytes()).await;
    }
    let end = deadline.max(Instant::now() + Duration::from_secs(10));
    until(end, async {
        let mut errors = 0;
        for c in conns {
            errors += c.reader.await;
        }
        errors
    })
    .await
    .unwrap_or(0)
}

/// CPU seconds `pid` used since `before`.
fn cpu_delta(pid: Option<u32>, before: Option<f64>) -> Option<f64> {
    Some(server::cpu_secs(pid?)? - before?)
}

/// CPU seconds `pid` used since `before`, as `(user, system)`.
fn cpu_split_delta(pid: Option<u32>, before: Option<(f64, f64)>) -> Option<(f64, f64)> {
    let ((u1, s1), (u0, s0)) = (server::cpu_split(pid?)?, before?);
    Some((u1 - u0, s1 - s0))
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

/// Interval between two readings of the server while waiting for it to settle.
const SETTLE_STEP: Duration = Duration::from_millis(250);
/// Longest wait for the server to settle.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// A settled server: its resident memory, and whether it really settled in time.
struct Settled {
    rss_kib: u64,
    settled: bool,
    secs: f64,
}

/// Waits until the server `pid` is quiet: over two consecutive readings [`SETTLE_STEP`]
/// apart, it used at most 1 % of a core more than one clock tick, and its `VmRSS`
/// changed by at most 16 KiB. Gives up at `deadline` or after [`SETTLE_LIMIT`], returning the
/// last reading. The executor keeps draining sockets meanwhile.
async fn settle(pid: u32, deadline: Instant) -> anyhow::Result<Settled> {
    let t0 = Instant::now();
    let end = deadline.min(t0 + SETTLE_LIMIT);
    let read = || -> anyhow::Result<(f64, u64)> {
        let cpu = server::cpu_secs(pid).ok_or_else(|| anyhow!("server {pid} is gone"))?;
        let rss = server::rss_kib(pid).ok_or_else(|| anyhow!("server {pid} is gone"))?;
        Ok((cpu, rss))
    };
    let tick = server::clock_tick_secs();
    let (mut cpu, mut rss) = read()?;
    let mut quiet = 0;
    loop {
        Timer::after(SETTLE_STEP).await;
        let (c, r) = read()?;
        let busy = c - cpu > tick + 0.01 * SETTLE_STEP.as_secs_f64();
        let moved = r.abs_diff(rss) > 16;
        quiet = if busy || moved { 0 } else { quiet + 1 };
        (cpu, rss) = (c, r);
        if quiet >= 2 || Instant::now() >= end {
            return Ok(Settled {
                rss_kib: rss,
                settled: quiet >= 2,
                secs: t0.elapsed().as_secs_f64(),
            });
        }
    }
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
    let cpu0 = p.pid.and_then(server::cpu_secs);
    let (conns, times, elapsed) = login_all(
        ex,
        target,
        accounts(0..p.clients, user),
        0,
        p.concurrency,
        true,
        deadline,
    )
    .await?;
    let server_cpu = cpu_delta(p.pid, cpu0);
    let errors = logout_all(target.kind, conns, deadline).await;
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
        server_cpu,
        ..Outcome::default()
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
    let (conns, _, _) =
        login_all(ex, target, plan.logins, 0, p.concurrency, false, deadline).await?;
    let n = conns.len();
    if plan.join && target.kind == Kind::Irc {
        let (joined_tx, joined_rx) = async_channel::bounded::<()>(n.max(1));
        let join = format!("JOIN {}\r\n", client::CHANNEL);
        for c in &conns {
            c.set(Role::Joining(joined_tx.clone()));
            client::send(&c.writer, join.as_bytes()).await?;
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
    let paced = p.rate.filter(|r| *r > 0.0);
    let mut window_tx = Vec::new();
    let mut window_rx = Vec::new();
    if paced.is_none() {
        for _ in 0..plan.senders {
            let (tx, rx) = async_channel::bounded::<()>(p.window.max(1));
            window_tx.push(tx);
            window_rx.push(rx);
        }
    }
    let (done_tx, done_rx) = async_channel::bounded::<()>(1);
    let tracker = Rc::new(RefCell::new(Tracker::new(
        plan.senders,
        p.messages,
        plan.expected,
        window_rx,
        done_tx,
    )));
    let mut queues = Vec::new();
    for (i, c) in conns.iter().enumerate() {
        let sent = Rc::new(RefCell::new(VecDeque::new()));
        queues.push(Rc::clone(&sent));
        let tracker = Rc::clone(&tracker);
        c.set(if plan.at_receivers {
            Role::Deliveries {
                tracker,
                me: i,
                sent,
            }
        } else {
            Role::Acks {
                tracker,
                me: i,
                sent,
            }
        });
    }
    let mut note = None;
    let attached = match (&p.attach, p.pid) {
        (Some(cmd), Some(pid)) => Some(server::Attached::start(cmd, pid)?),
        _ => None,
    };
    // The clock starts now: joins and logins are not part of the figures.
    let cpu0 = p.pid.and_then(server::cpu_split);
    let own0 = server::cpu_split(std::process::id());
    {
        let mut t = tracker.borrow_mut();
        t.start = Instant::now();
        t.last = t.start;
    }
    let writers: Vec<Writer> = conns[..plan.senders]
        .iter()
        .map(|c| Rc::clone(&c.writer))
        .collect();
    let mut senders: Vec<Task<anyhow::Result<Vec<u32>>>> = Vec::new();
    match paced {
        Some(rate) => senders.push(ex.spawn(pacer(
            writers,
            target.kind,
            p.messages,
            (0..plan.senders).map(|i| (plan.dest)(i)).collect(),
            rate,
            Rc::clone(&tracker),
            queues.clone(),
            p.size,
        ))),
        None => {
            for (i, tx) in window_tx.into_iter().enumerate() {
                let fut = sender_loop(
                    Rc::clone(&writers[i]),
                    target.kind,
                    i,
                    p.messages,
                    (plan.dest)(i),
                    tx,
                    Rc::clone(&tracker),
                    Rc::clone(&queues[i]),
                    p.size,
                );
                senders.push(ex.spawn(async move { fut.await.map(|()| Vec::new()) }));
            }
        }
    }
    if until(deadline, async {
        let _ = done_rx.recv().await;
    })
    .await
    .is_none()
    {
        note = Some(format!("timed out after {:?}", p.timeout));
    }
    let split = cpu_split_delta(p.pid, cpu0);
    let server_cpu = split.map(|(user, system)| user + system);
    let own = cpu_split_delta(Some(std::process::id()), own0).map(|(user, system)| user + system);
    if let Some(a) = attached {
        a.stop();
    }
    let mut send_errors = 0;
    let mut extra = Vec::new();
    for s in senders {
        match s.cancel().await {
            Some(Err(e)) => {
                send_errors += 1;
                note.get_or_insert_with(|| format!("sender failed: {e:#}"));
            }
            Some(Ok(lags)) if paced.is_some() => {
                extra.push(("pacer_lag_p99_ms", f64::from(percentile(&lags, 99.0)) / 1e3));
                extra.push((
                    "pacer_lag_max_ms",
                    f64::from(percentile(&lags, 100.0)) / 1e3,
                ));
            }
            _ => {}
        }
    }
    let reader_errors = logout_all(target.kind, conns, deadline).await;
    let t = tracker.borrow();
    let mut latencies = t.latencies.clone();
    latencies.sort_unstable();
    let total = plan.senders as u64 * u64::from(p.messages) * u64::from(plan.expected);
    let secs = t.last.duration_since(t.start).as_secs_f64();
    if let Some(rate) = paced {
        extra.push(("target_rate", rate));
    }
    if let Some((_, system)) = split.filter(|_| t.counted > 0) {
        // The kernel's share of the server CPU per thing counted (what its syscalls cost).
        extra.push(("server_sys_us_per_op", system * 1e6 / t.counted as f64));
    }
    if let Some(own) = own.filter(|_| t.counted > 0) {
        // This load generator's own CPU (user + system) per thing counted: on loopback the
        // kernel's work for a connection falls partly on each side, and where it falls
        // depends on the server's socket options, so the two together are the whole cost.
        extra.push(("loadgen_cpu_us_per_op", own * 1e6 / t.counted as f64));
    }
    Ok(Outcome {
        count: t.counted,
        expected: total,
        secs,
        latencies,
        errors: t.errors + send_errors + reader_errors,
        note,
        server_cpu,
        value: None,
        extra,
    })
}

/// `direct`: `clients` connections each send `messages` direct messages, round-robin over
/// the other clients: as fast as the window allows, or, with a rate, on a schedule. Counts
/// deliveries at the receivers; latency is write-to-receipt.
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
    let (conns, _, _) = login_all(
        ex,
        target,
        accounts(0..p.recipients, offline_user),
        0,
        p.concurrency,
        false,
        deadline,
    )
    .await
    .context("preparing the offline recipients")?;
    logout_all(target.kind, conns, deadline).await;
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

/// `idle`: the server's resident memory per idle logged-in connection. After a warm-up
/// (`concurrency` clients log in and out: what a server allocates once, at its first logins,
/// is not a per-connection cost), reads the server's `VmRSS` once it is quiet ([`settle`]),
/// logs in `clients` connections (IRC: registered,
/// in no channel), waits until it is quiet again, reads `VmRSS` again: the headline figure is
/// the difference divided by `clients`, in KiB. Then logs them out.
///
/// # Errors
/// No server pid, a failed login, or the server gone.
pub async fn idle(
    ex: &Rc<LocalExecutor<'static>>,
    target: Target,
    p: &Params,
) -> anyhow::Result<Outcome> {
    let pid = p
        .pid
        .ok_or_else(|| anyhow!("idle needs the server's pid (--pid)"))?;
    let deadline = Instant::now() + p.timeout;
    // A warm-up first: `concurrency` of the clients log in and out, so that what the server
    // allocates once, at its first logins, is in `before` and not counted per connection
    // (chatd's password-hashing memory: one 19 MiB argon2 block per hashing thread, kept).
    let warm = p.clients.min(p.concurrency.max(1));
    let (warm_conns, _, _) = login_all(
        ex,
        target,
        accounts(0..warm, user),
        0,
        p.concurrency,
        false,
        deadline,
    )
    .await?;
    let warm_errors = logout_all(target.kind, warm_conns, deadline).await;
    let before = settle(pid, deadline).await?;
    let (conns, times, elapsed) = login_all(
        ex,
        target,
        accounts(0..p.clients, user),
        0,
        p.concurrency,
        false,
        deadline,
    )
    .await?;
    let after = settle(pid, deadline).await?;
    let n = conns.len() as u64;
    let errors = warm_errors + logout_all(target.kind, conns, deadline).await;
    let per_conn = (after.rss_kib as f64 - before.rss_kib as f64) / n.max(1) as f64;
    let mut latencies: Vec<u32> = times
        .iter()
        .map(|d| d.as_micros().min(u128::from(u32::MAX)) as u32)
        .collect();
    latencies.sort_unstable();
    let note = (!(before.settled && after.settled))
        .then(|| "the server did not settle; RSS read anyway".to_string());
    Ok(Outcome {
        count: n,
        expected: p.clients as u64,
        secs: elapsed.as_secs_f64(),
        latencies,
        errors,
        note,
        server_cpu: None,
        value: Some(per_conn),
        extra: vec![
            ("rss_before_kib", before.rss_kib as f64),
            ("rss_after_kib", after.rss_kib as f64),
            ("settle_secs", after.secs),
        ],
    })
}

/// `mass`: many sessions arriving and leaving. An observer logs in first (IRC: joins the
/// channel). Then, timed, the other `clients - 1` log in (IRC: register and join the
/// channel), `concurrency` at a time: `login_secs` runs from the first connect until the
/// last login is answered, `login_settled_secs` until the observer has also been told of
/// every one of them (chatd presence, IRC JOIN): the server's presence work for the logins
/// is done. Once the server is quiet, all `clients - 1` log out at once (a logout / QUIT
/// written on every connection, one after the other): `logout_secs` runs from the first
/// write until the observer has been told of every logout (presence, IRC QUIT) and the
/// server has closed every one of those connections. The headline figure is logouts per
/// second, `(clients - 1) / logout_secs`.
///
/// # Errors
/// A failed login, or fewer than 2 clients.
pub async fn mass(
    ex: &Rc<LocalExecutor<'static>>,
    target: Target,
    p: &Params,
) -> anyhow::Result<Outcome> {
    if p.clients < 2 {
        bail!("mass needs at least 2 clients");
    }
    let deadline = Instant::now() + p.timeout;
    let (mut observer, _, _) =
        login_all(ex, target, accounts(0..1, user), 0, 1, true, deadline).await?;
    let watch = Watch::new();
    let observer = observer.pop().ok_or_else(|| anyhow!("no observer"))?;
    observer.set(Role::Watch(Rc::clone(&watch)));
    let others = (p.clients - 1) as u64;
    let cpu0 = p.pid.and_then(server::cpu_secs);
    let t0 = Instant::now();
    let budget = p.login_budget.map(|b| (b, (t0 + b).min(deadline)));
    let logins = login_all(
        ex,
        target,
        accounts(1..p.clients, user),
        1,
        p.concurrency,
        true,
        budget.map_or(deadline, |(_, end)| end),
    )
    .await;
    let (conns, times, login_elapsed) = match (logins, budget) {
        (Ok(done), _) => done,
        (Err(_), Some((b, end))) if Instant::now() >= end => {
            // Over budget: how far it got is the figure (the connections are dropped).
            let told = watch.joined.get();
            return Ok(Outcome {
                count: told,
                expected: others,
                secs: b.as_secs_f64(),
                note: Some(format!(
                    "logins not done within the budget of {:.0} s: the observer had been \
                     told of {told} of {others}",
                    b.as_secs_f64()
                )),
                server_cpu: cpu_delta(p.pid, cpu0),
                extra: vec![
                    ("login_budget_secs", b.as_secs_f64()),
                    ("logins_told_within_budget", told as f64),
                ],
                ..Outcome::default()
            });
        }
        (Err(e), _) => return Err(e),
    };
    if !watch
        .wait(deadline, |w| w.joined.get() >= others || w.ended.get() > 0)
        .await
        || watch.ended.get() > 0
    {
        bail!(
            "the observer was told of {} of {others} logins{}",
            watch.joined.get(),
            if watch.ended.get() > 0 {
                " before the server closed its connection"
            } else {
                " in time"
            }
        );
    }
    let login_settled = t0.elapsed();
    let login_cpu = cpu_delta(p.pid, cpu0);
    if let Some(pid) = p.pid {
        settle(pid, deadline).await?;
    }
    // A measuring command attached (--attach) sees the logouts only.
    let attached = match (&p.attach, p.pid) {
        (Some(cmd), Some(pid)) => Some(server::Attached::start(cmd, pid)?),
        _ => None,
    };
    let cpu1 = p.pid.and_then(server::cpu_secs);
    let t1 = Instant::now();
    for c in &conns {
        let _ = client::send(&c.writer, client::logout_line(target.kind).as_bytes()).await;
    }
    let written = t1.elapsed();
    let told = watch
        .wait(deadline, |w| w.left.get() >= others || w.ended.get() > 0)
        .await
        && watch.left.get() >= others;
    if watch.ended.get() > 0 {
        bail!(
            "the server closed the observer's connection after telling it of {} of {others} \
             logouts (a full send queue? raise --send-queue)",
            watch.left.get()
        );
    }
    let mut errors = 0;
    let closed = until(deadline, async {
        for c in conns {
            errors += c.reader.await;
        }
    })
    .await
    .is_some();
    let logout = t1.elapsed();
    let logout_cpu = cpu_delta(p.pid, cpu1);
    if let Some(a) = attached {
        a.stop();
    }
    let note = (!(told && closed)).then(|| {
        format!(
            "mass logout incomplete: observer told of {} of {others}, all closed: {closed}",
            watch.left.get()
        )
    });
    errors += logout_all(target.kind, vec![observer], deadline).await;
    let mut latencies: Vec<u32> = times
        .iter()
        .map(|d| d.as_micros().min(u128::from(u32::MAX)) as u32)
        .collect();
    latencies.sort_unstable();
    let mut extra = vec![
        ("login_secs", login_elapsed.as_secs_f64()),
        ("login_settled_secs", login_settled.as_secs_f64()),
        ("logout_write_secs", written.as_secs_f64()),
        ("logout_secs", logout.as_secs_f64()),
    ];
    if let Some(c) = login_cpu {
        extra.push(("login_cpu_secs", c));
    }
    if let Some(c) = logout_cpu {
        extra.push(("logout_cpu_secs", c));
    }
    Ok(Outcome {
        count: watch.left.get().min(others),
        expected: others,
        secs: logout.as_secs_f64(),
        latencies,
        errors,
        note,
        server_cpu: logout_cpu,
        value: None,
        extra,
    })
}

/// How the server process ended: its exit code, `-signal` if a signal killed it, `None`
/// when it cannot be known (not our child).
pub type ExitCode = Option<i32>;

/// `shutdown`: `clients` sessions log in (not timed) and the server is left to settle; then
/// it gets SIGTERM. The headline figure is the seconds from the signal until the process
/// has exited (`poll_exit` says when: `Some(code)`); also reported: the exit status, how
/// many connections the server had closed by then, and how many were told it is closing
/// (chatd `shutdown`, IRC `ERROR`). The server is gone afterwards.
///
/// # Errors
/// No server pid, a failed login, or a server that does not exit in time.
pub async fn shutdown(
    ex: &Rc<LocalExecutor<'static>>,
    target: Target,
    p: &Params,
    poll_exit: &mut dyn FnMut() -> Option<ExitCode>,
) -> anyhow::Result<Outcome> {
    let pid = p
        .pid
        .ok_or_else(|| anyhow!("shutdown needs the server's pid (--pid)"))?;
    let deadline = Instant::now() + p.timeout;
    let (conns, _, _) = login_all(
        ex,
        target,
        accounts(0..p.clients, user),
        0,
        p.concurrency,
        false,
        deadline,
    )
    .await?;
    settle(pid, deadline).await?;
    let watch = Watch::new();
    for c in &conns {
        c.set(Role::Watch(Rc::clone(&watch)));
    }
    let cpu0 = server::cpu_secs(pid);
    let mut last_cpu = cpu0;
    let t0 = Instant::now();
    server::terminate(pid)?;
    let code = loop {
        if let Some(code) = poll_exit() {
            break code;
        }
        if Instant::now() >= deadline {
            bail!(
                "the server did not exit within {:?} of SIGTERM",
                deadline.saturating_duration_since(t0)
            );
        }
        last_cpu = server::cpu_secs(pid).or(last_cpu);
        Timer::after(Duration::from_millis(2)).await;
    };
    let exit = t0.elapsed();
    let closed_at_exit = conns.iter().filter(|c| c.reader.is_finished()).count();
    let mut errors = 0;
    let n = conns.len();
    let _ = until(Instant::now() + Duration::from_secs(10), async {
        for c in conns {
            errors += c.reader.await;
        }
    })
    .await;
    let mut extra = vec![
        ("exit_code", code.map_or(f64::NAN, f64::from)),
        ("closed_at_exit", closed_at_exit as f64),
        ("told_closing", watch.closing.get() as f64),
    ];
    if let (Some(a), Some(b)) = (cpu0, last_cpu) {
        extra.push(("shutdown_cpu_secs", b - a));
    }
    // Not our child (an IRC server started by compare.sh): its parent reports the status.
    let note = code.filter(|c| *c != 0).map(|c| format!("exit status {c}"));
    Ok(Outcome {
        count: n as u64,
        expected: p.clients as u64,
        secs: exit.as_secs_f64(),
        latencies: Vec::new(),
        errors,
        note,
        server_cpu: None,
        value: Some(exit.as_secs_f64()),
        extra,
    })
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
    fn paced_tracker_has_no_windows() {
        let (dtx, drx) = async_channel::bounded(1);
        let mut t = Tracker::new(2, 1, 1, Vec::new(), dtx);
        t.delivered(&message_text(1, 0, 0, 30));
        t.delivered(&message_text(0, 0, 0, 30));
        t.delivered("garbage");
        assert!(drx.is_closed());
        assert_eq!((t.counted, t.errors), (2, 1));
    }

    #[test]
    fn sources_cycle_over_loopback_addresses() {
        let mut t = Target {
            kind: Kind::Chat,
            addr: SocketAddr::from(([127, 0, 0, 1], 1)),
            sources: 1,
            read_buf: 4096,
        };
        assert_eq!(t.source(5), None);
        t.sources = 3;
        let got: Vec<String> = (0..4).map(|i| t.source(i).unwrap().to_string()).collect();
        assert_eq!(got, ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.1"]);
    }

    #[test]
    fn percentiles_and_headline() {
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
        let idle = Outcome {
            value: Some(3.5),
            ..o
        };
        assert_eq!(idle.rate(), 3.5);
    }
}
