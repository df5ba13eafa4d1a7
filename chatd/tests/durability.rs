//! Durable state (SPEC section 1, issue 6) against the real `chatd` binary: offline messages,
//! block lists, login history and locks survive SIGKILL and restarts; older stores are
//! migrated; damaged, foreign or newer stores are refused untouched; `hash-credentials`
//! rewrites the accounts file. A few checks that need no process run in-process.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use proto::{ErrorCode, Event, Request, Response};

/// Ten years, in seconds: wide enough for `whoelsesince` to reach the fixture's sessions.
const TEN_YEARS: u64 = 10 * 365 * 24 * 3600;

/// A temp dir with the sample accounts and a `config.toml` for loopback port 0; `limits` is
/// appended to the `[limits]` table.
fn setup(limits: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &format!(
            "block_duration = 600\n\n[limits]\nmessage_rate = 1000000\nmessage_burst = 1000000\n\
             {limits}\n"
        ),
    );
    dir
}

fn spawn(dir: &Path) -> ChatdProcess {
    ChatdProcess::spawn(dir, &["--config", "config.toml"])
}

/// SIGKILL, and wait for the process to be gone.
fn kill9(mut p: ChatdProcess) {
    p.child.kill().unwrap();
    p.child.wait().unwrap();
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join("data").join("chat.db")
}

/// The texts of `n` offline message events from `sender`, checking each is one.
fn offline_texts(c: &mut Client, n: usize, sender: &str) -> Vec<String> {
    offline_messages(c, n, sender)
        .into_iter()
        .map(|(text, _)| text)
        .collect()
}

/// The texts and ids of `n` offline message events from `sender`, checking each is one.
fn offline_messages(c: &mut Client, n: usize, sender: &str) -> Vec<(String, u64)> {
    (0..n)
        .map(|_| match c.event() {
            Event::Message {
                from,
                text,
                offline: true,
                msg_id: Some(id),
                ..
            } if from == sender => (text, id),
            other => panic!("expected an offline message from {sender}, got {other:?}"),
        })
        .collect()
}

/// Logs in and returns the client and how many offline messages the welcome announced.
fn login_counting(addr: std::net::SocketAddr, user: &str) -> (Client, u64) {
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

#[test]
fn thousand_offline_messages_survive_sigkill_in_order_and_are_removed_once_delivered() {
    let dir = setup("");
    let p = spawn(dir.path());
    let mut hans = Client::login(p.addr, "hans", password("hans"));
    for i in 0..1000 {
        assert_eq!(
            hans.request(msg("yoda", &format!("offline {i:04}"))),
            Response::Sent { stored: true }
        );
    }
    // Right after the last answer: no graceful shutdown, no flush.
    kill9(p);

    let mut p = spawn(dir.path());
    let (mut yoda, announced) = login_counting(p.addr, "yoda");
    assert_eq!(announced, 1000);
    let got = offline_messages(&mut yoda, 1000, "hans");
    let texts: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    let expected: Vec<String> = (0..1000).map(|i| format!("offline {i:04}")).collect();
    assert_eq!(texts, expected);
    assert!(yoda.drain_events().is_empty());
    // Acknowledged: deleted.
    assert_eq!(
        yoda.request(Request::Ack { msg_id: got[999].1 }),
        Response::Ok
    );
    assert_eq!(yoda.request(Request::Logout), Response::Ok);
    yoda.events_until_closed();
    // A graceful stop finishes the queued deletions; the next login finds nothing.
    p.signal(15);
    assert_eq!(p.wait_exit(), Some(0));
    let p = spawn(dir.path());
    let (_yoda, announced) = login_counting(p.addr, "yoda");
    assert_eq!(announced, 0);
}

#[test]
fn sigkill_during_delivery_repeats_messages_but_never_loses_one() {
    // A small send queue: the 300 messages go out in several chunks, each deleted on its own.
    let dir = setup("send_queue = 16");
    let p = spawn(dir.path());
    let mut hans = Client::login(p.addr, "hans", password("hans"));
    for i in 0..300 {
        assert_eq!(
            hans.request(msg("yoda", &format!("m{i:03}"))),
            Response::Sent { stored: true }
        );
    }
    drop(hans);
    let (mut yoda, announced) = login_counting(p.addr, "yoda");
    assert_eq!(announced, 300);
    let mut first = offline_texts(&mut yoda, 150, "hans");
    kill9(p);
    // What chatd wrote before it died can still be read: it may already be deleted, and that
    // is allowed because it reached the connection.
    for e in yoda.events_until_closed() {
        match e {
            Event::Message { text, .. } => first.push(text),
            other => panic!("{other:?}"),
        }
    }
    let expected: Vec<String> = (0..first.len()).map(|i| format!("m{i:03}")).collect();
    assert_eq!(first, expected);

    let p = spawn(dir.path());
    let (mut yoda, announced) = login_counting(p.addr, "yoda");
    let again = offline_texts(&mut yoda, announced as usize, "hans");
    // Shown again: a suffix that starts no later than where the first delivery stopped, so
    // together nothing is missing (and some may repeat).
    let start: usize = again.first().map_or(300, |t| t[1..].parse().unwrap());
    assert!(
        start <= first.len(),
        "redelivery starts at {start}, but only {} reached the first connection",
        first.len()
    );
    let expected: Vec<String> = (start..300).map(|i| format!("m{i:03}")).collect();
    assert_eq!(again, expected);
}

#[test]
fn block_set_before_sigkill_still_holds() {
    let dir = setup("");
    let p = spawn(dir.path());
    let mut luke = Client::login(p.addr, "luke", password("luke"));
    assert_eq!(
        luke.request(Request::Block {
            user: "vader".into()
        }),
        Response::Ok
    );
    kill9(p);

    let p = spawn(dir.path());
    let mut vader = Client::login(p.addr, "vader", password("vader"));
    // Offline recipient: refused, nothing stored.
    assert_eq!(
        vader.error_code(msg("luke", "join me")),
        ErrorCode::BlockedByRecipient
    );
    let (mut luke, announced) = login_counting(p.addr, "luke");
    assert_eq!(announced, 0);
    // Online recipient: refused too, and luke stays hidden from vader.
    assert_eq!(
        vader.error_code(msg("luke", "join me")),
        ErrorCode::BlockedByRecipient
    );
    assert!(vader.users(Request::Whoelse).is_empty());
    assert_eq!(
        luke.request(Request::Unblock {
            user: "vader".into()
        }),
        Response::Ok
    );
}

#[test]
fn whoelsesince_after_a_restart_lists_users_from_before_it() {
    let dir = setup("");
    let p = spawn(dir.path());
    let _hans = Client::login(p.addr, "hans", password("hans"));
    let mut leia = Client::login(p.addr, "leia", password("leia"));
    assert_eq!(leia.request(Request::Logout), Response::Ok);
    leia.events_until_closed();
    // hans is online at the crash: he counts as logged out at the crash time.
    kill9(p);

    let p = spawn(dir.path());
    let mut yoda = Client::login(p.addr, "yoda", password("yoda"));
    assert_eq!(
        yoda.users(Request::Whoelsesince { seconds: 60 }),
        ["hans", "leia"]
    );
    assert!(yoda.users(Request::Whoelse).is_empty());
}

#[test]
fn lock_set_before_a_restart_still_holds() {
    let dir = setup("");
    let p = spawn(dir.path());
    let mut c = Client::connect(p.addr);
    c.request(Request::Login {
        user: "luke".into(),
    });
    let bad = || Request::Password {
        password: "nope".into(),
    };
    assert_eq!(c.error_code(bad()), ErrorCode::InvalidPassword);
    assert_eq!(c.error_code(bad()), ErrorCode::InvalidPassword);
    assert_eq!(c.error_code(bad()), ErrorCode::AccountBlocked);
    kill9(p);

    let mut p = spawn(dir.path());
    let mut c = Client::connect(p.addr);
    assert_eq!(
        c.error_code(Request::Login {
            user: "luke".into()
        }),
        ErrorCode::AccountLocked
    );
    // And after a graceful restart as well.
    p.signal(15);
    assert_eq!(p.wait_exit(), Some(0));
    let p = spawn(dir.path());
    let mut c = Client::connect(p.addr);
    assert_eq!(
        c.error_code(Request::Login {
            user: "luke".into()
        }),
        ErrorCode::AccountLocked
    );
}

#[test]
fn version_1_store_is_migrated_and_keeps_its_data() {
    // The cap of 4 also checks that the migration counted the 3 messages already waiting.
    let dir = setup("max_offline_per_user = 4");
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1.db");
    std::fs::copy(&fixture, db_path(dir.path())).unwrap();

    let mut p = spawn(dir.path());
    p.wait_log("migrated from schema version 1 to 2");
    let mut hans = Client::login(p.addr, "hans", password("hans"));
    assert_eq!(
        hans.request(msg("yoda", "v2 message 4")),
        Response::Sent { stored: true }
    );
    assert_eq!(
        hans.error_code(msg("yoda", "v2 message 5")),
        ErrorCode::OfflineQueueFull
    );
    let mut vader = Client::login(p.addr, "vader", password("vader"));
    assert_eq!(
        vader.error_code(msg("luke", "join me")),
        ErrorCode::BlockedByRecipient
    );
    let mut c = Client::connect(p.addr);
    assert_eq!(
        c.error_code(Request::Login {
            user: "leia".into()
        }),
        ErrorCode::AccountLocked
    );
    let (mut yoda, announced) = login_counting(p.addr, "yoda");
    assert_eq!(announced, 4);
    assert_eq!(
        offline_texts(&mut yoda, 4, "hans"),
        [
            "v1 message 1",
            "v1 message 2",
            "v1 message 3",
            "v2 message 4"
        ]
    );
    // luke logged in and out before the upgrade; hans and vader are online now.
    assert_eq!(
        yoda.users(Request::Whoelsesince { seconds: TEN_YEARS }),
        ["hans", "luke", "vader"]
    );
    p.signal(15);
    assert_eq!(p.wait_exit(), Some(0));
    let conn = rusqlite::Connection::open(db_path(dir.path())).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, chatd::store::SCHEMA_VERSION);
}

/// Starts chatd on `bytes` as its store; it must exit non-zero naming the file, which must be
/// left byte for byte as it was. Returns the error output.
fn refused(bytes: &[u8]) -> String {
    let dir = setup("");
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let db = db_path(dir.path());
    std::fs::write(&db, bytes).unwrap();
    let (code, stderr) = run_chatd(dir.path(), &["--config", "config.toml"]);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}: {stderr}");
    let shown = std::fs::canonicalize(&db).unwrap();
    assert!(
        stderr.contains(&shown.display().to_string()) || stderr.contains(&db.display().to_string()),
        "the message must name {}: {stderr}",
        db.display()
    );
    assert_eq!(std::fs::read(&db).unwrap(), bytes, "the store was modified");
    assert!(!stderr.contains("listening on"), "{stderr}");
    stderr
}

#[test]
fn damaged_store_is_refused_and_left_untouched() {
    let junk: Vec<u8> = (0..16384u32).map(|i| (i * 31 % 253) as u8).collect();
    let err = refused(&junk);
    assert!(err.contains("damaged or is not a chatd store"), "{err}");

    let fixture =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1.db"))
            .unwrap();
    let err = refused(&fixture[..fixture.len() / 2]);
    assert!(err.contains("damaged or is not a chatd store"), "{err}");

    let mut garbled = fixture.clone();
    for b in &mut garbled[4096..8192] {
        *b = 0xA5;
    }
    let err = refused(&garbled);
    assert!(err.contains("damaged or is not a chatd store"), "{err}");
}

#[test]
fn newer_store_is_refused_and_left_untouched() {
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("newer.db");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1.db"),
        &path,
    )
    .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = refused(&std::fs::read(&path).unwrap());
    assert!(err.contains("schema version 99"), "{err}");
}

#[test]
fn hash_credentials_rewrites_passwords_and_chatd_still_logs_them_in() {
    let dir = setup("");
    let creds = dir.path().join("credentials.txt");
    let original = format!("# sample accounts\n{CREDENTIALS}");
    std::fs::write(&creds, &original).unwrap();
    let out = Command::new(chatd_bin())
        .args(["hash-credentials", "--config", "config.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("hashed 10 plain-text passwords"),
        "{stdout}"
    );
    let text = std::fs::read_to_string(&creds).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "# sample accounts");
    for (line, seed) in lines[1..].iter().zip(CREDENTIALS.lines()) {
        let (user, secret) = line.split_once(' ').unwrap();
        assert_eq!(user, seed.split_once(' ').unwrap().0);
        assert!(secret.starts_with("$argon2id$"), "{line}");
    }
    assert!(!text.contains(password("hans")));

    let mut p = spawn(dir.path());
    Client::login(p.addr, "hans", password("hans"));
    // The warning would follow "listening on": the whole log is there once chatd has exited.
    p.stop();
    assert!(
        !p.log.iter().any(|l| l.contains("plain-text")),
        "{:#?}",
        p.log
    );
}

#[test]
fn chatd_warns_about_plain_text_passwords() {
    let dir = setup("");
    let mut p = spawn(dir.path());
    p.wait_log("10 of 10 accounts");
}

#[test]
fn cap_refuses_newest_keeps_oldest_and_counters_survive_restart() {
    let server = TestServer::start_with(|c| c.limits.max_offline_per_user = 3);
    let mut hans = server.login("hans");
    for i in 0..3 {
        assert_eq!(
            hans.request(msg("yoda", &format!("m{i}"))),
            Response::Sent { stored: true }
        );
    }
    assert_eq!(
        hans.error_code(msg("yoda", "m3")),
        ErrorCode::OfflineQueueFull
    );
    drop(hans);
    let before = server.shared().hub.stats();
    assert_eq!(before.messages_stored, 3);
    assert_eq!(before.messages_dropped, 1);

    let server = server.restart();
    let after = server.shared().hub.stats();
    assert_eq!(after.logins, before.logins);
    assert_eq!(after.messages_stored, 3);
    assert_eq!(after.messages_dropped, 1);
    let (mut yoda, announced) = login_counting(server.addr, "yoda");
    assert_eq!(announced, 3);
    assert_eq!(offline_texts(&mut yoda, 3, "hans"), ["m0", "m1", "m2"]);
    let now = server.shared().hub.stats();
    assert_eq!(now.logins, before.logins + 1);
    assert_eq!(now.messages_delivered, before.messages_delivered + 3);
}

#[test]
fn backlog_larger_than_the_send_queue_is_delivered_at_login() {
    let server = TestServer::start_with(|c| {
        c.limits.send_queue = 16;
        c.limits.message_rate = 1_000_000;
        c.limits.message_burst = 1_000_000;
    });
    let mut hans = server.login("hans");
    for i in 0..500 {
        assert_eq!(
            hans.request(msg("yoda", &format!("m{i:03}"))),
            Response::Sent { stored: true }
        );
    }
    let (mut yoda, announced) = login_counting(server.addr, "yoda");
    assert_eq!(announced, 500);
    let expected: Vec<String> = (0..500).map(|i| format!("m{i:03}")).collect();
    assert_eq!(offline_texts(&mut yoda, 500, "hans"), expected);
    // Still connected, and live messages flow after the backlog.
    assert_eq!(
        hans.request(msg("yoda", "live")),
        Response::Sent { stored: false }
    );
    match yoda.event() {
        Event::Message { text, offline, .. } => {
            assert_eq!((text.as_str(), offline), ("live", false))
        }
        other => panic!("{other:?}"),
    }
}
