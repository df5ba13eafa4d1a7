//! Benchmark (not a test): how many offline messages per second chatd commits durably.
//!
//! 1. The raw store: `Store::store_offline` from several concurrent callers (group commit).
//! 2. The real server over TCP on 127.0.0.1: several logged-in senders, each sending to an
//!    offline recipient and waiting for each answer (which comes only after the commit).
//! 3. Delivery at login: one recipient logs in and reads its whole backlog.
//!
//! Every store is in a fresh temp dir (under `$TMPDIR`, so on the disk that holds it).
//!
//! ```text
//! cargo run --release --example bench_offline -- [--messages N] [--senders 1,8,32]
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chatd::store::{SqliteStore, Store, StoreOutcome};
use chatd::{Config, Overrides};
use clap::Parser;
use proto::client::Client;
use proto::{Request, Response};

/// Offline-message throughput of the store and of the server.
#[derive(Parser, Debug)]
struct Args {
    /// Messages per scenario
    #[arg(long, default_value_t = 8000)]
    messages: usize,
    /// Concurrent senders to try, comma-separated
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    senders: Vec<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "chatd offline-message benchmark: {} messages per run, {} CPUs, store in {}",
        args.messages,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::temp_dir().display()
    );
    println!("\nraw store (Store::store_offline, each answer after its commit)");
    for &k in &args.senders {
        let rate = raw_store(args.messages, k)?;
        println!("  {k:>3} concurrent callers: {rate:>8.0} messages/s");
    }
    println!("\nserver over TCP (login, then `message` to an offline user, wait for each answer)");
    for &k in &args.senders {
        let (rate, delivery) = over_tcp(args.messages, k)?;
        println!(
            "  {k:>3} senders: {rate:>8.0} messages/s stored; backlog of {} delivered at login at {delivery:>8.0} messages/s",
            args.messages / k
        );
    }
    Ok(())
}

/// Stores `n` messages from `k` concurrent callers; returns messages per second.
fn raw_store(n: usize, k: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let (store, _) = SqliteStore::open(dir.path())?;
    let store = Arc::new(store);
    let ex = smol::Executor::new();
    let per = n / k;
    let text = "x".repeat(100);
    let started = Instant::now();
    let stored = smol::block_on(ex.run(async {
        let tasks: Vec<_> = (0..k)
            .map(|i| {
                let store = Arc::clone(&store);
                let text = text.clone();
                ex.spawn(async move {
                    let mut ok = 0usize;
                    for j in 0..per {
                        let to = format!("r{i}");
                        let msg_id = (i * per + j + 1) as u64;
                        if store
                            .store_offline(&to, "s", &text, u64::MAX, 0, msg_id)
                            .await?
                            == StoreOutcome::Stored
                        {
                            ok += 1;
                        }
                    }
                    Ok::<_, chatd::store::StoreError>(ok)
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await?;
        }
        Ok::<_, chatd::store::StoreError>(total)
    }))?;
    let secs = started.elapsed().as_secs_f64();
    store.close();
    Ok(stored as f64 / secs)
}

/// Connects and logs in with the protocol crate's client; returns it with the number of
/// offline messages announced.
fn login(addr: SocketAddr, user: &str, password: &str) -> anyhow::Result<(Client, u64)> {
    let mut c = Client::connect(addr, Duration::from_secs(30))?;
    let welcome = c
        .login(user, password)
        .with_context(|| format!("login {user}"))?;
    Ok((c, welcome.offline))
}

/// `k` senders each store `n / k` messages for their own offline recipient through the
/// server; then one recipient logs in and reads its backlog. Returns (stored per second,
/// delivered per second).
fn over_tcp(n: usize, k: usize) -> anyhow::Result<(f64, f64)> {
    let dir = tempfile::tempdir()?;
    let mut creds = String::new();
    for i in 0..k {
        creds.push_str(&format!("s{i} pw{i}\nr{i} pw{i}\n"));
    }
    std::fs::write(dir.path().join("credentials.txt"), creds)?;
    let mut config = Config {
        bind: "127.0.0.1".parse()?,
        port: 0,
        credentials: dir.path().join("credentials.txt"),
        data_dir: dir.path().join("data"),
        admin_socket: dir.path().join("chatd.sock"),
        ..Config::default()
    };
    config.limits.message_rate = 1_000_000;
    config.limits.message_burst = 1_000_000;
    config.limits.max_offline_per_user = 100_000_000;
    let running = chatd::start(config, Overrides::default())?;
    let addr = running.local_addr();
    let per = n / k;
    let text = "x".repeat(100);
    let mut senders = Vec::new();
    for i in 0..k {
        senders.push(login(addr, &format!("s{i}"), &format!("pw{i}"))?.0);
    }
    let started = Instant::now();
    let threads: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let text = text.clone();
            std::thread::spawn(move || -> anyhow::Result<()> {
                for _ in 0..per {
                    match c.request(Request::Message {
                        to: format!("r{i}"),
                        text: text.clone(),
                    })? {
                        Response::Sent { stored: true } => {}
                        other => bail!("unexpected answer {other:?}"),
                    }
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| anyhow::anyhow!("sender panicked"))??;
    }
    let stored_rate = (per * k) as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let (mut r, announced) = login(addr, "r0", "pw0")?;
    for _ in 0..announced {
        match r.next_event()? {
            proto::Event::Message { offline: true, .. } => {}
            other => bail!("expected an offline message, got {other:?}"),
        }
    }
    let delivered_rate = announced as f64 / started.elapsed().as_secs_f64();
    drop(r);
    running.shutdown();
    Ok((stored_rate, delivered_rate))
}
