//! One connection must not freeze the server: the real chatd on one executor thread
//! (`threads = 1`), while connections flood it as fast as they can write (junk lines before and
//! after login, `private_listen` before login, never reading a reply), still delivers another
//! user's messages and lets a new user log in. Deadlines are generous and nothing is timed in
//! an assertion; the test prints the other user's message latency (p50, p99, max) and the new
//! login's time, which `docs/OPERATING.md` reports (`cargo test --release -p chatd --test flood
//! -- --nocapture`).

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use proto::{ClientFrame, Request, Response};

/// How a flooder behaves.
#[derive(Clone, Copy)]
enum Flood {
    /// Junk lines, never logging in.
    JunkBeforeLogin,
    /// Logs in (as `vader`), then junk lines.
    JunkAfterLogin,
    /// `private_listen` requests before login (valid: each is answered, never read).
    PrivateListen,
}

/// Starts a flooder thread that reconnects whenever the server cuts it off, until `stop`.
/// Counts the bytes it managed to write.
fn flooder(
    addr: SocketAddr,
    kind: Flood,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let junk = "not json at all, just junk\n".repeat(2000);
        let listen = ClientFrame {
            id: Some(1),
            request: Request::PrivateListen {
                port: 4000,
                host: None,
                fingerprint: None,
            },
        }
        .encode()
        .repeat(1000);
        while !stop.load(Ordering::Relaxed) {
            let Ok(mut s) = TcpStream::connect(addr) else {
                continue;
            };
            let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
            if let Flood::JunkAfterLogin = kind {
                let login = format!(
                    "{}{}",
                    ClientFrame {
                        id: Some(1),
                        request: Request::Login {
                            user: "vader".into()
                        },
                    }
                    .encode(),
                    ClientFrame {
                        id: Some(2),
                        request: Request::Password {
                            password: password("vader").into()
                        },
                    }
                    .encode()
                );
                if s.write_all(login.as_bytes()).is_err() {
                    continue;
                }
            }
            let bytes = match kind {
                Flood::PrivateListen => listen.as_bytes(),
                _ => junk.as_bytes(),
            };
            while !stop.load(Ordering::Relaxed) {
                match s.write(bytes) {
                    Ok(n) if n > 0 => {
                        sent.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    // Cut off, or its buffers are full and the server reads no more: again.
                    _ => break,
                }
            }
        }
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Runs the floods against a chatd with `config`, measuring meanwhile; prints the figures.
fn measure(label: &str, config: &str, floods: &[Flood]) {
    let chatd = ChatdProcess::start(config);
    let addr = chatd.addr;
    let mut hans = Client::login(addr, "hans", password("hans"));
    let mut yoda = Client::login(addr, "yoda", password("yoda"));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = floods
        .iter()
        .map(|&k| flooder(addr, k, Arc::clone(&stop), Arc::clone(&sent)))
        .collect();
    // Let the floods get going.
    wait_until("the floods to write a megabyte", || {
        sent.load(Ordering::Relaxed) > 1 << 20
    });
    let mut latencies = Vec::new();
    for i in 0..200 {
        let start = Instant::now();
        assert_eq!(
            hans.request(msg("yoda", &format!("ping {i}"))),
            Response::Sent { stored: false }
        );
        loop {
            match yoda.event() {
                proto::Event::Message { text, .. } if text == format!("ping {i}") => break,
                _ => {}
            }
        }
        latencies.push(start.elapsed());
    }
    let start = Instant::now();
    let mut luke = Client::login(addr, "luke", password("luke"));
    let login = start.elapsed();
    assert!(luke.users(Request::Whoelse).contains(&"hans".to_string()));
    let flooded = sent.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    latencies.sort();
    println!(
        "{label}: message latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; new login {:.1} ms; \
         the floods wrote {} MB meanwhile",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
        login.as_secs_f64() * 1e3,
        flooded >> 20,
    );
}

#[test]
fn junk_floods_before_and_after_login_do_not_stall_others_on_one_thread() {
    measure(
        "threads = 1, junk before and after login",
        "threads = 1\n",
        &[Flood::JunkBeforeLogin, Flood::JunkAfterLogin],
    );
}

#[test]
fn a_private_listen_flood_before_login_does_not_stall_others_on_one_thread() {
    measure(
        "threads = 1, private_listen before login",
        "threads = 1\n",
        &[Flood::PrivateListen, Flood::PrivateListen],
    );
}

#[test]
fn junk_floods_with_a_high_bad_line_limit_do_not_stall_others() {
    // Without the bad-line limit cutting them off early, only the read loop's budget keeps
    // these connections from holding the one thread.
    measure(
        "threads = 1, max_bad_lines = 1000000",
        "threads = 1\n[limits]\nmax_bad_lines = 1000000\n",
        &[Flood::JunkBeforeLogin, Flood::JunkAfterLogin],
    );
}

#[test]
fn all_floods_at_once_with_the_default_config() {
    measure(
        "default config, junk before and after login and private_listen",
        "",
        &[
            Flood::JunkBeforeLogin,
            Flood::JunkAfterLogin,
            Flood::PrivateListen,
        ],
    );
}
