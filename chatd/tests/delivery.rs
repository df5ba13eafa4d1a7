//! The delivery guarantee against the real binaries: a message leaves the server's keeping only
//! when the recipient's client acknowledged it. Recipients that die at various points of a
//! delivery (a raw client reading part and disconnecting, a `chat` process killed with SIGKILL)
//! get everything unacknowledged at the next login, under the same ids, and `chat` shows no
//! message twice, in a session or across sessions (it keeps the ids it has shown in a file, also
//! for messages the server delivers again after a restart). Also: the backlog streamed in chunks (order, acks across chunk
//! boundaries), the bad-line limit, and a reload reaching sessions that are already idle.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chatd::ManualClock;
use common::*;
use proto::{ErrorCode, Event, Request, Response, ServerFrame};

/// No rate limit in the way of storing many messages quickly.
const FAST: &str = "[limits]\nmessage_rate = 1000000\nmessage_burst = 1000000\n";

/// Stores `n` messages `"{prefix}{i:04}"` from hans for `to` (offline).
fn store_many(addr: SocketAddr, to: &str, prefix: &str, n: usize) {
    let mut hans = Client::login(addr, "hans", password("hans"));
    for i in 0..n {
        assert_eq!(
            hans.request(msg(to, &format!("{prefix}{i:04}"))),
            Response::Sent { stored: true }
        );
    }
    assert_eq!(hans.request(Request::Logout), Response::Ok);
}

/// Logs in and returns the client and the welcome's count of waiting messages.
fn login_counting(addr: SocketAddr, user: &str) -> (Client, u64) {
    let mut c = Client::connect(addr);
    assert_eq!(
        c.request(Request::Login { user: user.into() }),
        Response::PasswordRequired
    );
    match c.request(Request::Password {
        password: password(user).into(),
    }) {
        Response::Welcome { offline, .. } => (c, offline),
        other => panic!("login {user}: {other:?}"),
    }
}

/// The next `n` message events: (text, msg_id). Presence events between them are skipped.
fn messages(c: &mut Client, n: usize) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    while out.len() < n {
        match c.event() {
            Event::Message {
                text,
                msg_id: Some(id),
                ..
            } => out.push((text, id)),
            Event::Presence { .. } => {}
            other => panic!("expected a message, got {other:?}"),
        }
    }
    out
}

/// Waits until `watcher` sees `user` log out (so a new login of `user` is not refused, and
/// whatever the old connection left is stored).
fn wait_logged_out(watcher: &mut Client, user: &str) {
    let gone = Event::Presence {
        user: user.into(),
        online: false,
        ts: None,
    };
    while watcher.event() != gone {}
}

#[test]
fn a_recipient_dying_at_any_point_of_delivery_loses_nothing_acknowledged_or_not() {
    let chatd = ChatdProcess::start(FAST);
    store_many(chatd.addr, "yoda", "m", 1000);
    let mut luke = Client::login(chatd.addr, "luke", password("luke"));
    let all: Vec<String> = (0..1000).map(|i| format!("m{i:04}")).collect();
    let mut waiting = all.clone();
    let mut ids: Option<Vec<u64>> = None;
    // (messages read before dying, how many of them acknowledged)
    for (read, acked) in [(0, 0), (1, 0), (137, 100), (500, 499), (0, 0), (363, 363)] {
        let (mut yoda, announced) = login_counting(chatd.addr, "yoda");
        assert_eq!(announced as usize, waiting.len());
        let got = messages(&mut yoda, read);
        let texts: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, waiting[..read], "in order, resumed where it stopped");
        // The same message keeps its id across deliveries.
        let known = ids.get_or_insert_with(Vec::new);
        for (t, id) in &got {
            let i: usize = t[1..].parse().unwrap();
            if known.len() <= i {
                known.resize(i + 1, 0);
            }
            assert!(known[i] == 0 || known[i] == *id, "{t} changed its id");
            known[i] = *id;
        }
        if acked > 0 {
            let ack = Request::Ack {
                msg_id: got[acked - 1].1,
            };
            // Sent raw: the reply may be behind many unread events.
            let line = proto::ClientFrame {
                id: None,
                request: ack,
            }
            .encode();
            yoda.send_raw(line.as_bytes());
        }
        // Dies: nothing more read, no logout.
        drop(yoda);
        wait_logged_out(&mut luke, "yoda");
        waiting.drain(..acked);
    }
    // The last one reads everything and acknowledges the end: nothing is left after.
    let (mut yoda, announced) = login_counting(chatd.addr, "yoda");
    assert_eq!(announced as usize, waiting.len());
    let got = messages(&mut yoda, waiting.len());
    let texts: Vec<String> = got.iter().map(|(t, _)| t.clone()).collect();
    assert_eq!(texts, waiting);
    assert_eq!(
        yoda.request(Request::Ack {
            msg_id: got.last().unwrap().1
        }),
        Response::Ok
    );
    assert_eq!(yoda.request(Request::Logout), Response::Ok);
    wait_logged_out(&mut luke, "yoda");
    let (_yoda, announced) = login_counting(chatd.addr, "yoda");
    assert_eq!(announced, 0);
}

#[test]
fn a_live_message_in_flight_when_the_recipient_dies_comes_at_the_next_login() {
    let chatd = ChatdProcess::start(FAST);
    let mut hans = Client::login(chatd.addr, "hans", password("hans"));
    let mut luke = Client::login(chatd.addr, "luke", password("luke"));
    let mut yoda = Client::login(chatd.addr, "yoda", password("yoda"));
    for text in ["one", "two", "three"] {
        assert_eq!(
            hans.request(msg("yoda", text)),
            Response::Sent { stored: false }
        );
    }
    // yoda's client read them (they reached it) but acknowledged only the first.
    let got = messages(&mut yoda, 3);
    assert_eq!(
        yoda.request(Request::Ack { msg_id: got[0].1 }),
        Response::Ok
    );
    drop(yoda);
    wait_logged_out(&mut luke, "yoda");
    let (mut yoda, announced) = login_counting(chatd.addr, "yoda");
    assert_eq!(announced, 2);
    let again = messages(&mut yoda, 2);
    assert_eq!(again, got[1..], "the same messages under the same ids");
}

#[test]
fn live_messages_beyond_the_in_flight_bound_are_stored_and_come_again_if_never_acknowledged() {
    let chatd = ChatdProcess::start(FAST);
    let mut hans = Client::login(chatd.addr, "hans", password("hans"));
    let mut luke = Client::login(chatd.addr, "luke", password("luke"));
    let mut yoda = Client::login(chatd.addr, "yoda", password("yoda"));
    // 400 KB of live messages, read and never acknowledged: more than a connection keeps in
    // memory (256 KB), so the oldest are stored while the connection still lives.
    let n = 200;
    let texts: Vec<String> = (0..n)
        .map(|i| format!("{i:04}{}", "x".repeat(2000)))
        .collect();
    for t in &texts {
        assert_eq!(
            hans.request(msg("yoda", t)),
            Response::Sent { stored: false }
        );
    }
    let got = messages(&mut yoda, n);
    assert_eq!(
        got.iter().map(|(t, _)| t).collect::<Vec<_>>(),
        texts.iter().collect::<Vec<_>>()
    );
    drop(yoda);
    wait_logged_out(&mut luke, "yoda");
    // All of them come again, in order, under the same ids: those stored early and those
    // stored when the connection ended.
    let (mut yoda, announced) = login_counting(chatd.addr, "yoda");
    assert_eq!(announced as usize, n);
    assert_eq!(messages(&mut yoda, n), got);
}

/// A `chat` process (piped) logging in as `user`, keeping the ids it has shown under `seen`
/// (`CHAT_SEEN_DIR`). Its stdout is read only up to a given number
/// of message lines and then left unread, so chat blocks on a full pipe in the middle of a
/// delivery (with what it printed so far acknowledged or not) until it is killed.
struct ChatProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    go: mpsc::Sender<()>,
    seen: Vec<String>,
}

impl ChatProcess {
    fn start(
        addr: SocketAddr,
        user: &str,
        script: &str,
        read: usize,
        seen: &std::path::Path,
    ) -> ChatProcess {
        let mut child = Command::new(chat_bin())
            .arg(addr.to_string())
            .env("CHAT_SEEN_DIR", seen)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chat");
        let mut stdin = child.stdin.take().unwrap();
        write!(stdin, "{user}\n{}\n{script}", password(user)).unwrap();
        // Kept open (a script that ends would log out): closed when the process dies.
        std::mem::forget(stdin);
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let (go, wait) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut r = std::io::BufReader::new(stdout);
            let mut read_so_far = 0;
            let mut line = String::new();
            loop {
                if read_so_far == read {
                    // Stop reading until told to go on (after the kill).
                    let _ = wait.recv();
                }
                line.clear();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if line.starts_with("hans: ") {
                            read_so_far += 1;
                        }
                        if tx.send(line.trim_end().to_string()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        ChatProcess {
            child,
            lines,
            go,
            seen: Vec::new(),
        }
    }

    /// Waits until `n` lines starting with `prefix` were read.
    fn wait_count(&mut self, prefix: &str, n: usize) {
        let end = Instant::now() + DEADLINE;
        while self.seen.iter().filter(|l| l.starts_with(prefix)).count() < n {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "chat printed only {} lines, the last: {:?}",
                    self.seen.len(),
                    &self.seen[self.seen.len().saturating_sub(3)..]
                ),
            }
        }
    }

    /// Waits until chat is blocked writing to its full stdout (its main thread, which prints,
    /// waits in the kernel's pipe write: Linux `/proc/PID/wchan`). A kill then falls between
    /// two messages, not in the instant between printing one and recording its id (where a
    /// kill makes that one message come again: `docs/CLIENT.md`).
    fn wait_blocked_on_stdout(&self) {
        let wchan = format!("/proc/{}/wchan", self.child.id());
        testkit::wait_until("chat blocks on its full stdout", || {
            std::fs::read_to_string(&wchan).is_ok_and(|w| w.contains("pipe_write"))
        });
    }

    /// SIGKILL; returns everything it printed (also what was still in the pipe).
    fn kill(mut self) -> Vec<String> {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let _ = self.go.send(());
        drain_lines(&self.lines, &mut self.seen, "chat's stdout");
        self.seen
    }

    /// After the process ended by itself: everything it printed.
    fn output(mut self) -> Vec<String> {
        let _ = self.go.send(());
        drain_lines(&self.lines, &mut self.seen, "chat's stdout");
        self.seen
    }
}

/// The message texts in chat's output (`hans: TEXT`), checked to be shown once each.
fn shown_once(printed: &[String]) -> Vec<String> {
    let texts: Vec<String> = printed
        .iter()
        .filter_map(|l| l.strip_prefix("hans: ").map(str::to_string))
        .collect();
    let unique: HashSet<&String> = texts.iter().collect();
    assert_eq!(unique.len(), texts.len(), "shown twice in one session");
    texts
}

#[test]
fn chat_killed_during_delivery_shows_everything_exactly_once_across_sessions_and_loses_nothing() {
    let chatd = ChatdProcess::start(FAST);
    let seen = tempfile::tempdir().unwrap();
    // 1000 messages of about 1 KB: chat blocks on its full stdout long before the end.
    let mut hans = Client::login(chatd.addr, "hans", password("hans"));
    let body = "z".repeat(1000);
    for i in 0..1000 {
        assert_eq!(
            hans.request(msg("yoda", &format!("m{i:04} {body}"))),
            Response::Sent { stored: true }
        );
    }
    let mut luke = Client::login(chatd.addr, "luke", password("luke"));
    let mut shown: Vec<String> = Vec::new();
    // Messages shown by a killed session and still stored (not acknowledged in time): the
    // server delivers them again to the next session, which must not show them.
    let mut shown_and_still_stored = 0;
    for stop_after in [1, 10, 100, 200] {
        let mut chat = ChatProcess::start(chatd.addr, "yoda", "", stop_after, seen.path());
        chat.wait_count("hans: m", stop_after);
        chat.wait_blocked_on_stdout();
        let texts = shown_once(&chat.kill());
        wait_logged_out(&mut luke, "yoda");
        // Each session goes on exactly where the last one's output ended.
        if let Some(first) = texts.first() {
            let next = format!("m{:04} {body}", shown.len());
            assert!(*first == next, "started at {}", &first[..5]);
        }
        for t in texts {
            assert!(!shown.contains(&t), "{} shown again", &t[..5]);
            shown.push(t);
        }
        // What the server still has (a raw client that acknowledges nothing changes nothing).
        let (raw, announced) = login_counting(chatd.addr, "yoda");
        drop(raw);
        wait_logged_out(&mut luke, "yoda");
        let unshown = 1000 - shown.len() as u64;
        assert!(
            announced >= unshown,
            "lost: {announced} stored, {unshown} never shown"
        );
        shown_and_still_stored += announced - unshown;
    }
    assert!(shown.len() < 1000, "delivery was cut short at least once");
    eprintln!("shown by a killed session and delivered again: {shown_and_still_stored}");
    assert!(
        shown_and_still_stored > 0,
        "no killed session left shown messages unacknowledged: nothing was delivered again"
    );
    // A message while yoda is away, to know when the last session has shown it all.
    assert_eq!(
        hans.request(msg("yoda", "end")),
        Response::Sent { stored: true }
    );
    let mut chat = ChatProcess::start(chatd.addr, "yoda", "", usize::MAX, seen.path());
    chat.wait_count("hans: end", 1);
    for t in shown_once(&chat.kill()) {
        assert!(!shown.contains(&t), "{} shown again", &t[..5.min(t.len())]);
        shown.push(t);
    }
    let mut expected: Vec<String> = (0..1000).map(|i| format!("m{i:04} {body}")).collect();
    expected.push("end".into());
    assert_eq!(shown.len(), expected.len());
    assert!(shown == expected, "every message shown once, in order");
}

#[test]
fn chat_acknowledges_what_it_showed_so_the_next_login_has_nothing_left() {
    let chatd = ChatdProcess::start(FAST);
    store_many(chatd.addr, "yoda", "m", 300);
    let mut luke = Client::login(chatd.addr, "luke", password("luke"));
    // A whole session: shown, acknowledged before the logout.
    let seen = tempfile::tempdir().unwrap();
    let mut chat = ChatProcess::start(
        chatd.addr,
        "yoda",
        ".wait hans: m0299 20\nlogout\n",
        usize::MAX,
        seen.path(),
    );
    chat.wait_count("hans: m", 300);
    let status = wait_child(&mut chat.child, "chat");
    assert_eq!(status.code(), Some(0));
    wait_logged_out(&mut luke, "yoda");
    let (_yoda, announced) = login_counting(chatd.addr, "yoda");
    assert_eq!(announced, 0);
}

#[test]
fn a_large_backlog_is_streamed_in_chunks_in_order_with_acks_across_chunks() {
    let chatd = ChatdProcess::start(FAST);
    // 400 messages of 2 KB: several of the writer's 256 KiB chunks.
    let body = "x".repeat(2000);
    {
        let mut hans = Client::login(chatd.addr, "hans", password("hans"));
        for i in 0..400 {
            assert_eq!(
                hans.request(msg("yoda", &format!("{i:04} {body}"))),
                Response::Sent { stored: true }
            );
        }
    }
    let mut luke = Client::login(chatd.addr, "luke", password("luke"));
    let (mut yoda, announced) = login_counting(chatd.addr, "yoda");
    assert_eq!(announced, 400);
    // A live message during the stream comes after the whole backlog.
    let mut hans = Client::login(chatd.addr, "hans", password("hans"));
    assert_eq!(
        hans.request(msg("yoda", "live")),
        Response::Sent { stored: false }
    );
    let got = messages(&mut yoda, 401);
    for (i, (text, _)) in got[..400].iter().enumerate() {
        assert!(text.starts_with(&format!("{i:04} ")), "{i}: {}", &text[..8]);
    }
    assert_eq!(got[400].0, "live");
    // Acknowledge up to the middle (in a later chunk than the first), then die.
    assert_eq!(
        yoda.request(Request::Ack { msg_id: got[249].1 }),
        Response::Ok
    );
    drop(yoda);
    wait_logged_out(&mut luke, "yoda");
    let (mut yoda, announced) = login_counting(chatd.addr, "yoda");
    assert_eq!(announced, 151, "150 stored ones and the live one");
    let again = messages(&mut yoda, 151);
    assert_eq!(again, got[250..]);
}

#[test]
fn a_client_sending_only_junk_is_disconnected_after_the_limit() {
    let chatd = ChatdProcess::start("[limits]\nmax_bad_lines = 5\n");
    let mut c = Client::connect(chatd.addr);
    let junk = |c: &mut Client, n: usize| {
        for _ in 0..n {
            c.send_raw(b"junk\n");
        }
        (0..n).map(|_| c.read_frame()).collect::<Vec<_>>()
    };
    for f in junk(&mut c, 4) {
        assert!(
            matches!(
                f,
                Some(ServerFrame::Reply {
                    response: Response::Error {
                        code: ErrorCode::BadJson,
                        ..
                    },
                    ..
                })
            ),
            "{f:?}"
        );
    }
    // A line that decodes (even a refused request) starts the count again.
    assert_eq!(c.error_code(Request::Whoelse), ErrorCode::NotLoggedIn);
    assert_eq!(junk(&mut c, 4).len(), 4);
    assert_eq!(c.error_code(Request::Whoelse), ErrorCode::NotLoggedIn);
    // Five in a row: the fifth's error, then the reason, then the end.
    c.send_raw(b"junk\njunk\njunk\njunk\njunk\n");
    let mut frames = Vec::new();
    while let Some(f) = c.read_frame() {
        frames.push(f);
    }
    assert_eq!(frames.len(), 6, "{frames:?}");
    match frames.last() {
        Some(ServerFrame::Reply {
            id: None,
            response: Response::Error { code, message },
        }) => {
            assert_eq!(*code, ErrorCode::TooManyBadLines);
            assert!(message.contains("5 lines"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_reload_that_lowers_the_timeout_logs_out_sessions_already_idle() {
    let clock = ManualClock::new();
    let mut file = None;
    let server = TestServer::start_with_clock(&clock, |c| {
        let path = c.data_dir.parent().unwrap().join("reload.toml");
        c.source = Some(path.clone());
        file = Some(path);
    });
    let file = file.unwrap();
    let mut hans = server.login("hans");
    clock.advance(Duration::from_secs(60));
    // Idle 60 s of 600: still there.
    assert!(hans.users(Request::Whoelse).is_empty());
    clock.advance(Duration::from_secs(30));
    std::fs::write(&file, "timeout = 15\n").unwrap();
    server.shared().reload().unwrap();
    // Idle 30 s of the new 15: logged out at once, without the clock moving again.
    let events = hans.events_until_closed();
    assert_eq!(events.last(), Some(&Event::Inactive), "{events:?}");
}

/// Starts the real chatd in `dir` with every file it writes limited to `max_file` bytes
/// (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored so a write past it fails with `EFBIG`): a full disk,
/// without root. Waits until it listens.
fn chatd_on_a_full_disk(dir: &std::path::Path, max_file: u64) -> (Child, SocketAddr) {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(chatd_bin());
    cmd.args(["--config", "config.toml"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls (setrlimit, signal) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: max_file,
                rlim_max: max_file,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn chatd");
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "chatd ended early"
        );
        if let Some((_, a)) = line.trim().rsplit_once("listening on ") {
            break a.parse().unwrap();
        }
    };
    // Keep its log flowing.
    std::thread::spawn(move || for _ in stderr.lines() {});
    (child, addr)
}

#[test]
fn a_login_on_a_full_disk_gets_its_backlog_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "");
    let mut chatd = ChatdProcess::spawn(dir.path(), &["--config", "config.toml"]);
    let mut hans = Client::login(chatd.addr, "hans", password("hans"));
    for i in 0..98 {
        assert_eq!(
            hans.request(msg("yoda", &format!("m{i:02}"))),
            Response::Sent { stored: true }
        );
    }
    drop(hans);
    chatd.stop();
    // The store's files may not grow past what the database already is (at least the 32 KiB
    // SQLite's shared-memory index needs): the first writes fit in the new journal, then none.
    let db = std::fs::metadata(dir.path().join("data/chat.db"))
        .unwrap()
        .len();
    let (mut child, addr) = chatd_on_a_full_disk(dir.path(), db.max(64 * 1024));
    let mut hans = Client::login(addr, "hans", password("hans"));
    // Write until the store refuses: then the disk is full for chatd.
    let mut refused = false;
    for i in 0..10_000 {
        let r = hans.request(Request::Block {
            user: if i % 2 == 0 { "vader" } else { "luke" }.into(),
        });
        if matches!(
            r,
            Response::Error {
                code: ErrorCode::Internal,
                ..
            }
        ) {
            refused = true;
            break;
        }
        let r = hans.request(Request::Unblock {
            user: if i % 2 == 0 { "vader" } else { "luke" }.into(),
        });
        if matches!(
            r,
            Response::Error {
                code: ErrorCode::Internal,
                ..
            }
        ) {
            refused = true;
            break;
        }
    }
    assert!(refused, "the store never ran out of room");
    assert_eq!(
        hans.error_code(msg("luke", "nowhere to put this")),
        ErrorCode::Internal
    );
    // yoda logs in: the count and every message, although nothing can be written.
    let (mut yoda, announced) = login_counting(addr, "yoda");
    assert_eq!(announced, 98);
    let got = messages(&mut yoda, 98);
    let texts: Vec<String> = got.iter().map(|(t, _)| t.clone()).collect();
    let expected: Vec<String> = (0..98).map(|i| format!("m{i:02}")).collect();
    assert_eq!(texts, expected);
    // Acknowledged, but the deletion cannot be written: after a restart with room again they
    // come again, under the same ids.
    assert_eq!(
        yoda.request(Request::Ack { msg_id: got[97].1 }),
        Response::Ok
    );
    drop(yoda);
    wait_logged_out(&mut hans, "yoda");
    // chat shows them and acknowledges them: the deletion fails the same way.
    let seen = tempfile::tempdir().unwrap();
    let mut chat = ChatProcess::start(
        addr,
        "yoda",
        ".wait hans: m97 20\nlogout\n",
        usize::MAX,
        seen.path(),
    );
    chat.wait_count("hans: m", 98);
    assert_eq!(wait_child(&mut chat.child, "chat").code(), Some(0));
    assert_eq!(shown_once(&chat.output()), expected);
    drop(hans);
    child.kill().unwrap();
    child.wait().unwrap();
    // Restarted on the same port, as a server is (chat keeps shown ids per host and port).
    let config = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    let config = config.replacen("port = 0\n", &format!("port = {}\n", addr.port()), 1);
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    let chatd = ChatdProcess::spawn(dir.path(), &["--config", "config.toml"]);
    assert_eq!(chatd.addr, addr);
    let mut luke = Client::login(chatd.addr, "luke", password("luke"));
    let (mut yoda, announced) = login_counting(chatd.addr, "yoda");
    assert_eq!(announced, 98);
    assert_eq!(messages(&mut yoda, 98), got);
    drop(yoda);
    wait_logged_out(&mut luke, "yoda");
    // A new chat session gets them all again and shows none of them; it acknowledges them,
    // and with room on the disk they are gone.
    let mut hans = Client::login(chatd.addr, "hans", password("hans"));
    assert_eq!(
        hans.request(msg("yoda", "end")),
        Response::Sent { stored: true }
    );
    let mut chat = ChatProcess::start(
        chatd.addr,
        "yoda",
        ".wait hans: end 20\nlogout\n",
        usize::MAX,
        seen.path(),
    );
    chat.wait_count("hans: end", 1);
    assert_eq!(wait_child(&mut chat.child, "chat").code(), Some(0));
    assert_eq!(shown_once(&chat.output()), ["end"]);
    wait_logged_out(&mut luke, "yoda");
    let (_yoda, announced) = login_counting(chatd.addr, "yoda");
    assert_eq!(announced, 0);
}
