//! Benchmark (not a test): chatd's memory while a user logs in with a large backlog.
//!
//! Starts the real `chatd` binary in a temp dir, stores `--messages` messages of `--size`
//! bytes for one recipient (from 8 concurrent senders), lets it settle, resets the process's
//! peak-RSS mark (`/proc/PID/clear_refs`), logs the recipient in, reads the whole backlog,
//! acknowledges it, and prints chatd's RSS before, at its peak during the delivery, and after.
//! The backlog is streamed from the store in bounded chunks, so the peak above idle should not
//! grow with the backlog (the issue's case: 5,000 messages of 60 KB, about 300 MB).
//!
//! ```text
//! cargo build --release -p chatd && \
//! cargo run --release -p chatd --example backlog_rss -- [--chatd target/release/chatd] \
//!     [--messages 5000] [--size 60000]
//! ```

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use proto::client::Client;
use proto::{Event, Request, Response};

/// chatd's RSS while a large backlog is delivered.
#[derive(Parser, Debug)]
struct Args {
    /// The chatd binary to run
    #[arg(long, default_value = "target/release/chatd")]
    chatd: PathBuf,
    /// Messages in the backlog
    #[arg(long, default_value_t = 5000)]
    messages: usize,
    /// Bytes per message
    #[arg(long, default_value_t = 60_000)]
    size: usize,
}

/// `VmRSS` and `VmHWM` of `pid`, in KiB.
fn rss(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .context("no value")?
            .parse()?)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let mut creds = String::from("r pw\n");
    for i in 0..8 {
        creds.push_str(&format!("s{i} pw\n"));
    }
    std::fs::write(dir.path().join("credentials.txt"), creds)?;
    std::fs::write(
        dir.path().join("config.toml"),
        "port = 0\nbind = \"127.0.0.1\"\ncredentials = \"credentials.txt\"\n\
         data_dir = \"data\"\nadmin_socket = \"chatd.sock\"\n\
         [limits]\nmessage_rate = 1000000\nmessage_burst = 1000000\n\
         max_offline_per_user = 1000000\n",
    )?;
    let chatd = std::fs::canonicalize(&args.chatd)
        .with_context(|| format!("no chatd at {}", args.chatd.display()))?;
    let mut child = Command::new(chatd)
        .args(["--config", "config.toml"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut stderr = BufReader::new(child.stderr.take().context("stderr")?);
    let addr: SocketAddr = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line)? == 0 {
            bail!("chatd exited before listening");
        }
        if let Some(a) = line.trim().rsplit("listening on ").next() {
            if line.contains("listening on ") {
                break a.parse()?;
            }
        }
    };
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in stderr.lines() {});
    let (idle_start, _) = rss(pid)?;

    let started = Instant::now();
    let text = "x".repeat(args.size);
    let per = args.messages / 8;
    let senders: Vec<_> = (0..8)
        .map(|i| {
            let text = text.clone();
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut c = Client::connect(addr, Duration::from_secs(60))?;
                c.login(&format!("s{i}"), "pw")?;
                for _ in 0..per {
                    match c.request(Request::Message {
                        to: "r".into(),
                        text: text.clone(),
                    })? {
                        Response::Sent { stored: true } => {}
                        other => bail!("unexpected answer {other:?}"),
                    }
                }
                c.logout()?;
                Ok(())
            })
        })
        .collect();
    for s in senders {
        s.join()
            .map_err(|_| anyhow::anyhow!("a sender panicked"))??;
    }
    let total = per * 8;
    println!(
        "stored {total} messages of {} bytes ({:.0} MB) in {:.1} s",
        args.size,
        (total * args.size) as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(2));
    let (idle, _) = rss(pid)?;
    // Reset the peak mark, so VmHWM below is the peak of the delivery alone.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")?;

    let started = Instant::now();
    let mut r = Client::connect(addr, Duration::from_secs(60))?;
    let welcome = r.login("r", "pw")?;
    let mut last = None;
    for _ in 0..welcome.offline {
        match r.next_event()? {
            Event::Message {
                msg_id, offline, ..
            } if offline => last = msg_id,
            other => bail!("expected an offline message, got {other:?}"),
        }
    }
    let took = started.elapsed();
    let (_, peak) = rss(pid)?;
    if let Some(msg_id) = last {
        r.request(Request::Ack { msg_id })?;
    }
    r.logout()?;
    std::thread::sleep(Duration::from_secs(2));
    let (after, _) = rss(pid)?;
    println!(
        "chatd RSS: {:.1} MiB at start, {:.1} MiB idle with the backlog stored; peak while \
         delivering {} messages in {:.1} s: {:.1} MiB ({:+.1} MiB above idle); {:.1} MiB after",
        mib(idle_start),
        mib(idle),
        welcome.offline,
        took.as_secs_f64(),
        mib(peak),
        mib(peak) - mib(idle),
        mib(after)
    );
    child.kill()?;
    child.wait()?;
    Ok(())
}
