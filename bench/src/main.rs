//! `chat-bench`: a load generator that prints figures for chatd (started here from the same
//! target directory, or an already running one) or, for comparison, an IRC server.
//!
//! ```text
//! cargo build --release -p chatd -p chat-bench
//! target/release/chat-bench                       # the throughput scenarios, fresh chatd
//! target/release/chat-bench --irc 127.0.0.1:6667 --pid 1234 direct broadcast
//! target/release/chat-bench --clients 1000 --rate 20000 direct   # paced
//! target/release/chat-bench --clients 5000 idle   # memory per idle connection
//! ```
//!
//! Each scenario runs `--runs` times and prints one line of medians (`--json`: one JSON
//! object per line). Only loopback addresses are accepted. Every run is bounded by
//! `--timeout`; the program stops by itself. See `docs/BENCHMARKS.md`.

mod client;
mod scenario;
mod server;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use client::Kind;
use scenario::{Outcome, Params, Target};
use smol::LocalExecutor;

/// A scenario name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// N clients connect and log in concurrently: logins/s.
    Login,
    /// N clients send direct messages round-robin to each other: deliveries/s, latency.
    Direct,
    /// A few senders broadcast to N online clients: deliveries/s, latency.
    Broadcast,
    /// Messages to offline users, each committed to the store before the answer: stored/s.
    Offline,
    /// N clients log in and stay idle: server memory per connection (KiB, from VmRSS).
    Idle,
    /// N clients log in (timed, with an observer told of each), then all log out at once:
    /// logouts/s until the observer has been told of every one.
    Mass,
    /// N clients logged in, then SIGTERM: seconds until the server has exited.
    Shutdown,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Login => "login",
            Scenario::Direct => "direct",
            Scenario::Broadcast => "broadcast",
            Scenario::Offline => "offline",
            Scenario::Idle => "idle",
            Scenario::Mass => "mass",
            Scenario::Shutdown => "shutdown",
        }
    }

    /// What the rate counts.
    fn unit(self) -> &'static str {
        match self {
            Scenario::Login => "logins/s",
            Scenario::Direct | Scenario::Broadcast => "deliveries/s",
            Scenario::Offline => "stored/s",
            Scenario::Idle => "KiB/conn",
            Scenario::Mass => "logouts/s",
            Scenario::Shutdown => "s to exit",
        }
    }

    /// The sizes used unless flags say otherwise.
    fn defaults(self, timeout: Duration) -> Params {
        let base = Params {
            clients: 100,
            messages: 1000,
            window: 16,
            senders: 2,
            recipients: 64,
            size: 64,
            concurrency: 64,
            rate: None,
            timeout,
            pid: None,
            attach: None,
            login_budget: None,
        };
        match self {
            // 8 logins in flight: more overflows ngircd's listen backlog of 10, and then the
            // kernel's SYN retries (1 s) measure the backlog, not the server.
            Scenario::Login => Params {
                clients: 500,
                concurrency: 8,
                ..base
            },
            Scenario::Direct => Params {
                messages: 3000,
                ..base
            },
            Scenario::Broadcast => Params {
                clients: 200,
                messages: 1000,
                window: 4,
                ..base
            },
            Scenario::Offline => Params {
                clients: 16,
                messages: 1000,
                window: 8,
                ..base
            },
            Scenario::Idle | Scenario::Mass => Params {
                clients: 1000,
                concurrency: 8,
                ..base
            },
            Scenario::Shutdown => Params {
                clients: 1000,
                ..base
            },
        }
    }
}

/// Load benchmark for chatd; runs the same scenarios against an IRC server for comparison.
///
/// Without --server or --irc it starts the chatd binary found next to its own executable
/// (build both with `cargo build --release -p chatd -p chat-bench`) in a temp dir, with a
/// generated config (127.0.0.1, port 0, limits raised) and plain-text accounts u0..uN.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Scenarios to run, in order [default: all that apply to the target]
    #[arg(value_enum)]
    scenarios: Vec<Scenario>,
    /// chatd binary to start [default: `chatd` beside this executable]
    #[arg(long, value_name = "PATH", conflicts_with_all = ["server", "irc"])]
    chatd: Option<PathBuf>,
    /// Use an already running chatd on this loopback address instead of starting one
    /// (accounts uK/offK with password pNAME must exist, or registration be enabled)
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "irc")]
    server: Option<String>,
    /// Run the scenarios against an IRC server on this loopback address
    #[arg(long, value_name = "HOST:PORT")]
    irc: Option<String>,
    /// Process id of the --server/--irc server, for its CPU time and memory (and for
    /// SIGTERM in `shutdown`)
    #[arg(long, value_name = "PID")]
    pid: Option<u32>,
    /// Name of the target in the output [default: chatd, or irc]
    #[arg(long)]
    label: Option<String>,
    /// Runs per scenario; the figures printed are the medians
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Clients online at once (login, direct, broadcast) or senders (offline)
    #[arg(long)]
    clients: Option<usize>,
    /// Messages per sender [default: 3000 direct, 1000 broadcast/offline; paced: 5 s of
    /// messages at --rate]
    #[arg(long)]
    messages: Option<u32>,
    /// `direct`: send this many messages per second in all, on a schedule (paced), instead
    /// of each sender as fast as its window allows (closed loop)
    #[arg(long, value_name = "MSGS_PER_SEC")]
    rate: Option<f64>,
    /// Messages one sender may have in flight (not yet delivered / acknowledged)
    #[arg(long)]
    window: Option<usize>,
    /// Broadcast senders
    #[arg(long)]
    senders: Option<usize>,
    /// Offline recipients
    #[arg(long)]
    recipients: Option<usize>,
    /// Message text size in bytes
    #[arg(long)]
    size: Option<usize>,
    /// Logins in progress at once
    #[arg(long)]
    concurrency: Option<usize>,
    /// Loopback source addresses to spread connections over (127.0.0.1 ..= 127.0.0.N), about
    /// 28,000 connections each [default: 1 per 10,000 clients]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=254))]
    sources: Option<u8>,
    /// Command to run during each timed message run (`mass`: during the logouts), `{pid}` =
    /// the server's pid, stopped with SIGINT at the end (e.g. "perf stat -e 'syscalls:sys_enter_*' -p {pid}")
    #[arg(long, value_name = "CMD")]
    attach: Option<String>,
    /// `limits.send_queue` of the chatd started here (frames queued per connection at most)
    #[arg(long, default_value_t = 4096)]
    send_queue: usize,
    /// Longest one run may take, in seconds
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// `mass`: stop if logging everyone in takes longer than this many seconds, and report
    /// how many logins the observer had been told of by then (a server far slower than
    /// another is shown to be, without waiting for it to finish)
    #[arg(long, value_name = "SECS", value_parser = positive_secs)]
    login_budget: Option<f64>,
    /// One JSON object per scenario instead of a text line
    #[arg(long)]
    json: bool,
    /// Also print each run's figures (to stderr)
    #[arg(long, short)]
    verbose: bool,
}

impl Args {
    fn params(&self, s: Scenario, pid: Option<u32>) -> Params {
        let d = s.defaults(Duration::from_secs(self.timeout.clamp(1, 3600)));
        let clients = self.clients.unwrap_or(d.clients);
        let rate = self.rate.filter(|_| s == Scenario::Direct);
        // Paced: 5 seconds of messages unless told otherwise.
        let paced_messages =
            rate.map(|r| ((r * 5.0) / clients.max(1) as f64).ceil().max(1.0) as u32);
        Params {
            clients,
            messages: self.messages.or(paced_messages).unwrap_or(d.messages),
            window: self.window.unwrap_or(d.window),
            senders: self.senders.unwrap_or(d.senders),
            recipients: self.recipients.unwrap_or(d.recipients),
            size: self.size.unwrap_or(d.size).clamp(32, 400),
            concurrency: self.concurrency.unwrap_or(d.concurrency),
            rate,
            timeout: d.timeout,
            pid,
            attach: self.attach.clone(),
            login_budget: self.login_budget.map(Duration::from_secs_f64),
        }
    }
}

/// A number of seconds above zero (and not absurdly large).
fn positive_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a number of seconds above 0 and at most 86400"
        )),
    }
}

/// Resolves `spec` and refuses anything that is not a loopback address.
fn loopback(spec: &str) -> anyhow::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = spec
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {spec}"))?
        .collect();
    match addrs.iter().find(|a| a.ip().is_loopback()) {
        Some(a) if addrs.iter().all(|a| a.ip().is_loopback()) => Ok(*a),
        _ => bail!("{spec} is not a loopback address; chat-bench only loads this machine"),
    }
}

fn default_chatd() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("cannot find my own executable")?;
    Ok(me.with_file_name("chatd"))
}

/// Medians of the runs of one scenario.
struct Summary {
    runs: Vec<Outcome>,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl Summary {
    fn rate(&self) -> f64 {
        median(self.runs.iter().map(Outcome::rate).collect())
    }

    fn cpu_us(&self) -> Option<f64> {
        let v: Vec<f64> = self
            .runs
            .iter()
            .filter_map(Outcome::cpu_us_per_op)
            .collect();
        (!v.is_empty()).then(|| median(v))
    }

    /// The medians of the scenario's extra figures, by name, in the order first seen.
    fn extra(&self) -> Vec<(&'static str, f64)> {
        let mut names: Vec<&'static str> = Vec::new();
        for o in &self.runs {
            for (k, _) in &o.extra {
                if !names.contains(k) {
                    names.push(k);
                }
            }
        }
        names
            .into_iter()
            .map(|k| {
                let v: Vec<f64> = self
                    .runs
                    .iter()
                    .flat_map(|o| o.extra.iter().filter(|(n, _)| *n == k).map(|(_, v)| *v))
                    .collect();
                (k, median(v))
            })
            .collect()
    }

    fn latency_ms(&self, p: f64) -> f64 {
        median(
            self.runs
                .iter()
                .map(|o| f64::from(o.percentile(p)) / 1000.0)
                .collect(),
        )
    }
}

fn fmt_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// A figure with as many decimals as its size deserves.
fn format_figure(v: f64) -> String {
    if v.abs() >= 1000.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn shape(s: Scenario, p: &Params) -> String {
    match s {
        Scenario::Login => format!("{} clients", p.clients),
        Scenario::Direct => match p.rate {
            Some(r) => format!(
                "{} clients x {} msgs, paced at {r:.0} msgs/s, {} B",
                p.clients, p.messages, p.size
            ),
            None => format!(
                "{} clients x {} msgs, window {}, {} B",
                p.clients, p.messages, p.window, p.size
            ),
        },
        Scenario::Broadcast => format!(
            "{} senders x {} msgs to {} clients, window {}, {} B",
            p.senders, p.messages, p.clients, p.window, p.size
        ),
        Scenario::Offline => format!(
            "{} senders x {} msgs to {} offline users, window {}, {} B",
            p.clients, p.messages, p.recipients, p.window, p.size
        ),
        Scenario::Idle | Scenario::Mass | Scenario::Shutdown => {
            format!("{} clients, {} logins in flight", p.clients, p.concurrency)
        }
    }
}

fn print_summary(
    args: &Args,
    label: &str,
    s: Scenario,
    p: &Params,
    sum: &Summary,
    rss_kib: Option<u64>,
) {
    let errors: u64 = sum.runs.iter().map(|o| o.errors).sum();
    let incomplete = sum.runs.iter().filter(|o| o.count < o.expected).count();
    let notes: Vec<String> = sum.runs.iter().filter_map(|o| o.note.clone()).collect();
    let rates: Vec<f64> = sum.runs.iter().map(Outcome::rate).collect();
    let extra = sum.extra();
    if args.json {
        let extra_json: serde_json::Map<String, serde_json::Value> = extra
            .iter()
            .map(|(k, v)| ((*k).to_string(), serde_json::json!(v)))
            .collect();
        let v = serde_json::json!({
            "target": label,
            "scenario": s.name(),
            "unit": s.unit(),
            "clients": p.clients,
            "messages": p.messages,
            "window": p.window,
            "senders": p.senders,
            "recipients": p.recipients,
            "size": p.size,
            "concurrency": p.concurrency,
            "paced_rate": p.rate,
            "runs": sum.runs.len(),
            "count": median(sum.runs.iter().map(|o| o.count as f64).collect()),
            "secs": median(sum.runs.iter().map(|o| o.secs).collect()),
            "rate": sum.rate(),
            "rates": rates,
            "p50_ms": sum.latency_ms(50.0),
            "p99_ms": sum.latency_ms(99.0),
            "max_ms": sum.latency_ms(100.0),
            "peak_rss_kib": rss_kib,
            "server_cpu_us_per_op": sum.cpu_us(),
            "errors": errors,
            "incomplete_runs": incomplete,
            "notes": notes,
            "extra": extra_json,
        });
        println!("{v}");
        return;
    }
    let all: Vec<String> = rates.iter().map(|r| format_figure(*r)).collect();
    let rss = rss_kib.map_or_else(
        || "n/a".to_string(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    );
    let cpu = sum
        .cpu_us()
        .map_or_else(|| "n/a".to_string(), |c| format!("{c:.1} us"));
    let mut line = format!(
        "{label:<8} {:<9} {:>9} {:<12} p50 {:>8}  p99 {:>8}  max {:>8}  server CPU/op {:>8}  peak RSS {:>9}  [{}; median of {}: {}]",
        s.name(),
        format_figure(sum.rate()),
        s.unit(),
        fmt_ms(sum.latency_ms(50.0)),
        fmt_ms(sum.latency_ms(99.0)),
        fmt_ms(sum.latency_ms(100.0)),
        cpu,
        rss,
        shape(s, p),
        sum.runs.len(),
        all.join(" "),
    );
    for (k, v) in &extra {
        line.push_str(&format!("  {k} {}", format_figure(*v)));
    }
    if errors > 0 || incomplete > 0 {
        line.push_str(&format!("  ERRORS {errors}, incomplete runs {incomplete}"));
    }
    for n in notes {
        line.push_str(&format!("  ({n})"));
    }
    println!("{line}");
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let kind = if args.irc.is_some() {
        Kind::Irc
    } else {
        Kind::Chat
    };
    let mut scenarios = args.scenarios.clone();
    if scenarios.is_empty() {
        scenarios = vec![
            Scenario::Login,
            Scenario::Direct,
            Scenario::Broadcast,
            Scenario::Offline,
        ];
        if kind == Kind::Irc {
            scenarios.retain(|s| *s != Scenario::Offline);
        }
    }
    if kind == Kind::Irc && scenarios.contains(&Scenario::Offline) {
        bail!("the offline scenario applies to chatd only (IRC stores nothing for offline users)");
    }
    if args.runs == 0 || args.runs > 50 {
        bail!("--runs must be 1..=50");
    }
    if let Some(r) = args.rate {
        if !(r.is_finite() && r > 0.0 && r <= 10_000_000.0) {
            bail!("--rate must be a number of messages per second in 0..=10,000,000");
        }
    }
    let fixed = match (&args.irc, &args.server) {
        (Some(spec), _) | (None, Some(spec)) => Some(loopback(spec)?),
        (None, None) => None,
    };
    let needs_pid = scenarios
        .iter()
        .any(|s| matches!(s, Scenario::Idle | Scenario::Shutdown));
    if fixed.is_some() && args.pid.is_none() && needs_pid {
        bail!("idle and shutdown need the server's process id (--pid)");
    }
    if fixed.is_some() && args.runs > 1 && scenarios.contains(&Scenario::Shutdown) {
        bail!("shutdown ends the server given by --server/--irc: use --runs 1");
    }
    let max_clients = scenarios
        .iter()
        .map(|s| args.params(*s, None).clients)
        .max()
        .unwrap_or(0);
    let max_recipients = scenarios
        .iter()
        .map(|s| args.params(*s, None).recipients)
        .max()
        .unwrap_or(0);
    // Thousands of connections need as many descriptors (and so does a chatd started here,
    // which inherits the limit).
    let files = server::raise_nofile_limit();
    if (max_clients as u64) + 64 > files {
        bail!("{max_clients} clients need more open files than this process may have ({files}): raise `ulimit -n`");
    }
    let sources = args
        .sources
        .unwrap_or_else(|| u8::try_from(max_clients.div_ceil(10_000).clamp(1, 254)).unwrap_or(254));
    // Big reads for the throughput runs; less memory per connection when there are many.
    let read_buf = if max_clients > 2000 {
        16 * 1024
    } else {
        64 * 1024
    };

    // With --server/--irc the address is fixed; otherwise a fresh chatd is started for each
    // scenario (and each run of `shutdown`, which ends it), so its peak RSS and store belong
    // to that scenario alone.
    let chatd = match &args.chatd {
        Some(p) => p.clone(),
        None => default_chatd()?,
    };
    let start_chatd = || -> anyhow::Result<server::Spawned> {
        let s = server::Spawned::start(&chatd, max_clients, max_recipients, args.send_queue)?;
        if args.verbose {
            eprintln!(
                "chatd pid {} on {} in {}",
                s.pid(),
                s.addr,
                s.dir().display()
            );
        }
        Ok(s)
    };
    let label = args.label.clone().unwrap_or_else(|| {
        match kind {
            Kind::Chat => "chatd",
            Kind::Irc => "irc",
        }
        .to_string()
    });
    let ex = Rc::new(LocalExecutor::new());
    smol::block_on(ex.run(async {
        for s in &scenarios {
            let mut spawned: Option<server::Spawned> = None;
            let mut runs = Vec::new();
            let mut p = args.params(*s, None);
            for r in 0..args.runs {
                if fixed.is_none() && (spawned.is_none() || *s == Scenario::Shutdown) {
                    drop(spawned.take());
                    spawned = Some(start_chatd()?);
                }
                let (addr, pid) = match (&spawned, fixed) {
                    (Some(sp), _) => (sp.addr, Some(sp.pid())),
                    (None, Some(addr)) => (addr, args.pid),
                    (None, None) => bail!("no server to benchmark"),
                };
                let target = Target {
                    kind,
                    addr,
                    sources,
                    read_buf,
                };
                p = args.params(*s, pid);
                if let (Some(pid), 0) = (pid, r) {
                    server::reset_peak_rss(pid);
                }
                let outcome = match s {
                    Scenario::Login => scenario::login(&ex, target, &p).await,
                    Scenario::Direct => scenario::direct(&ex, target, &p).await,
                    Scenario::Broadcast => scenario::broadcast(&ex, target, &p).await,
                    Scenario::Offline => scenario::offline(&ex, target, &p).await,
                    Scenario::Idle => scenario::idle(&ex, target, &p).await,
                    Scenario::Mass => scenario::mass(&ex, target, &p).await,
                    Scenario::Shutdown => {
                        let mut poll = || match (&mut spawned, pid) {
                            (Some(sp), _) => sp.try_exit(),
                            (None, Some(pid)) => server::external_exited(pid),
                            (None, None) => Some(None),
                        };
                        scenario::shutdown(&ex, target, &p, &mut poll).await
                    }
                }
                .with_context(|| format!("{} run {}", s.name(), r + 1))?;
                if args.verbose {
                    eprintln!(
                        "  {} run {}: {} {} in {:.2}s, {} of {} counted, p50 {} p99 {}, server CPU/op {:.1} us, {} errors{}",
                        s.name(),
                        r + 1,
                        format_figure(outcome.rate()),
                        s.unit(),
                        outcome.secs,
                        outcome.count,
                        outcome.expected,
                        fmt_ms(f64::from(outcome.percentile(50.0)) / 1000.0),
                        fmt_ms(f64::from(outcome.percentile(99.0)) / 1000.0),
                        outcome.cpu_us_per_op().unwrap_or(f64::NAN),
                        outcome.errors,
                        outcome
                            .extra
                            .iter()
                            .map(|(k, v)| format!(", {k} {}", format_figure(*v)))
                            .collect::<String>()
                    );
                }
                runs.push(outcome);
            }
            let pid = spawned.as_ref().map(server::Spawned::pid).or(args.pid);
            let rss = pid
                .filter(|_| *s != Scenario::Shutdown)
                .and_then(server::peak_rss_kib);
            print_summary(&args, &label, *s, &p, &Summary { runs }, rss);
            drop(spawned);
        }
        anyhow::Ok(())
    }))
}
