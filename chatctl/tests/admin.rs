//! `chatctl` against a live chatd, end to end (SPEC section 6): the real `chatctl` binary, the
//! real `chatd` binary, real sockets. Each subcommand in both output forms, every exit
//! status, and the socket file's life as chatctl sees it (owner-only, a live chatd refused, a
//! stale file replaced, removed at shutdown). chatctl on its own is in `cli.rs`.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use proto::admin::AdminResponse;
use proto::{ErrorCode, Event, Request, Response};
use testkit::*;

fn start(dir: &std::path::Path, extra: &str) -> ChatdProcess {
    write_config(dir, extra);
    ChatdProcess::spawn(dir, &[])
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn who_lists_online_users_as_table_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let chatd = start(dir.path(), "");
    assert_eq!(chatctl(dir.path(), &["who"]).ok(), "nobody is online\n");
    let mut hans = Client::login(chatd.addr, "hans", password("hans"));
    let mut luke = Client::login(chatd.addr, "luke", password("luke"));
    let _yoda = Client::login(chatd.addr, "yoda", password("yoda"));
    private_session(&mut hans, "hans", &mut luke, "luke");

    let table = chatctl(dir.path(), &["who"]);
    let lines: Vec<&str> = table.ok().lines().collect();
    assert_eq!(lines.len(), 4, "{table:?}");
    assert!(
        lines[0].starts_with("USER") && lines[0].ends_with("PRIVATE"),
        "{table:?}"
    );
    assert!(
        lines[1].starts_with("hans ") && lines[1].ends_with(" luke"),
        "{table:?}"
    );
    assert!(
        lines[1].contains("127.0.0.1:") && lines[1].contains(" UTC"),
        "{table:?}"
    );
    assert!(
        lines[2].starts_with("luke ") && lines[2].ends_with(" hans"),
        "{table:?}"
    );
    assert!(
        lines[3].starts_with("yoda ") && lines[3].ends_with(" -"),
        "{table:?}"
    );

    // --json after the subcommand here, before it in the kick test.
    let json = chatctl(dir.path(), &["who", "--json"]);
    json.ok();
    let AdminResponse::Who { users } = json.json() else {
        panic!("{json:?}")
    };
    let names: Vec<&str> = users.iter().map(|u| u.user.as_str()).collect();
    assert_eq!(names, ["hans", "luke", "yoda"]);
    assert_eq!(users[0].private, ["luke"]);
    assert!(users[2].private.is_empty());
    assert!(users[0].addr.starts_with("127.0.0.1:"));
    assert!(
        users[0].since <= now() && users[0].since + 60 > now(),
        "{users:?}"
    );
    assert!(users[0].idle < 60);
}

#[test]
fn kick_tells_the_user_ends_private_sessions_and_others_see_the_logout() {
    let dir = tempfile::tempdir().unwrap();
    let chatd = start(dir.path(), "");
    let mut hans = Client::login(chatd.addr, "hans", password("hans"));
    let mut luke = Client::login(chatd.addr, "luke", password("luke"));
    let mut yoda = Client::login(chatd.addr, "yoda", password("yoda"));
    private_session(&mut hans, "hans", &mut luke, "luke");
    luke.drain_events();
    yoda.drain_events();

    let out = chatctl(
        dir.path(),
        &["kick", "hans", "--reason", "spamming the lobby"],
    );
    assert_eq!(out.ok(), "hans was disconnected\n");
    let events = hans.events_until_closed();
    assert_eq!(
        events.last(),
        Some(&Event::Kicked {
            reason: Some("spamming the lobby".into())
        }),
        "{events:?}"
    );
    let gone = Event::Presence {
        user: "hans".into(),
        online: false,
        ts: None,
    };
    assert_eq!(yoda.event(), gone);
    let mut seen = vec![luke.event(), luke.event()];
    seen.sort_by_key(|e| format!("{e:?}"));
    assert!(seen.contains(&gone), "{seen:?}");
    assert!(
        seen.contains(&Event::PrivateEnded {
            peer: "hans".into()
        }),
        "{seen:?}"
    );

    // Not online any more: exit 1, the reason on stderr, nothing on stdout.
    let again = chatctl(dir.path(), &["kick", "hans"]);
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.out.is_empty());
    assert_eq!(again.err, "chatctl: hans is not online\n");
    let again = chatctl(dir.path(), &["--json", "kick", "hans"]);
    assert_eq!(
        (again.code, again.json_error_code().as_str()),
        (1, "not_online")
    );
    let nobody = chatctl(dir.path(), &["--json", "kick", "nobody"]);
    assert_eq!(
        (nobody.code, nobody.json_error_code().as_str()),
        (1, "invalid_user")
    );
    // Without a reason the event carries none; JSON success is chatd's answer.
    let out = chatctl(dir.path(), &["kick", "yoda", "--json"]);
    out.ok();
    assert_eq!(out.json(), AdminResponse::ok("yoda was disconnected"));
    assert_eq!(
        yoda.events_until_closed().last(),
        Some(&Event::Kicked { reason: None })
    );
}

#[test]
fn stats_count_connections_logins_failures_and_messages() {
    let dir = tempfile::tempdir().unwrap();
    let chatd = start(dir.path(), "");
    let mut hans = Client::login(chatd.addr, "hans", password("hans"));
    let mut yoda = Client::login(chatd.addr, "yoda", password("yoda"));
    let mut bad = Client::connect(chatd.addr);
    bad.request(Request::Login {
        user: "luke".into(),
    });
    assert_eq!(
        bad.error_code(Request::Password {
            password: "nope".into()
        }),
        ErrorCode::InvalidPassword
    );
    hans.request(msg("yoda", "hello"));
    hans.request(msg("vader", "stored for later"));
    // yoda's client shows it and acknowledges it (else it is stored again when yoda leaves).
    let Event::Message {
        msg_id: Some(msg_id),
        ..
    } = yoda.event()
    else {
        panic!("yoda expected the message");
    };
    assert_eq!(yoda.request(Request::Ack { msg_id }), Response::Ok);

    let json = chatctl(dir.path(), &["--json", "stats"]);
    json.ok();
    let AdminResponse::Stats(s) = json.json() else {
        panic!("{json:?}")
    };
    assert_eq!(
        (s.connections, s.peak_connections, s.online),
        (3, 3, 2),
        "{s:?}"
    );
    assert_eq!((s.logins, s.failed_logins, s.locked_accounts), (2, 1, 0));
    assert_eq!((s.messages_delivered, s.messages_stored), (1, 1), "{s:?}");
    assert!(s.uptime < 60);

    assert_eq!(s.since_start.logins, 2, "a new store: both columns agree");
    assert_eq!(s.since_start.messages_stored, 1);

    let table = chatctl(dir.path(), &["stats"]);
    let text = table.ok();
    assert_stats_table(
        text,
        &[
            ("uptime", &[]),
            ("connections", &["3", "(peak", "3", "since", "start)"]),
            ("users online", &["2"]),
            ("locked accounts", &["0"]),
            ("COUNTER", &["SINCE", "START", "SINCE", "STORE", "CREATED"]),
            ("logins", &["2", "2"]),
            ("failed logins", &["1", "1"]),
            ("messages delivered", &["1", "1"]),
            ("messages stored", &["1", "1"]),
            ("messages dropped", &["0", "0"]),
            ("slow consumers dropped", &["0", "0"]),
        ],
    );

    // After a restart on the same store: totals go on, "since start" starts again.
    drop((hans, yoda, bad));
    let mut chatd = chatd;
    chatd.stop();
    let chatd = start(dir.path(), "");
    let _leia = Client::login(chatd.addr, "leia", password("leia"));
    let json = chatctl(dir.path(), &["stats", "--json"]);
    let AdminResponse::Stats(s) = json.json() else {
        panic!("{json:?}")
    };
    assert_eq!((s.logins, s.since_start.logins), (3, 1), "{s:?}");
    assert_eq!((s.failed_logins, s.since_start.failed_logins), (1, 0));
    assert_eq!((s.messages_stored, s.since_start.messages_stored), (1, 0));
    // vader's stored message is still waiting: nothing delivered since the restart.
    assert_eq!(
        (s.messages_delivered, s.since_start.messages_delivered),
        (1, 0)
    );
    assert_stats_table(
        chatctl(dir.path(), &["stats"]).ok(),
        &[
            ("logins", &["1", "3"]),
            ("failed logins", &["0", "1"]),
            ("messages stored", &["0", "1"]),
        ],
    );
}

/// Each `(name, words)`: the table has a line `name  words...` (split at whitespace).
fn assert_stats_table(text: &str, rows: &[(&str, &[&str])]) {
    for (name, words) in rows {
        let line = text
            .lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with("  "))
            .unwrap_or_else(|| panic!("no {name} line in {text}"));
        let got: Vec<&str> = line[name.len()..].split_whitespace().collect();
        if !words.is_empty() {
            assert_eq!(&got, words, "{line:?} in {text}");
        }
    }
}

#[test]
fn status_says_whether_chatd_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut chatd = start(dir.path(), "");
    let _hans = Client::login(chatd.addr, "hans", password("hans"));
    let out = chatctl(dir.path(), &["status"]);
    let text = out.ok();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let socket = std::fs::canonicalize(chatd.admin_socket()).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        lines[0],
        format!(
            "chatd {version} is running (pid {}), socket {}",
            chatd.child.id(),
            socket.display()
        ),
        "{text}"
    );
    assert!(
        lines[1].starts_with("up ") && lines[1].contains(" UTC), "),
        "{text}"
    );
    assert!(
        lines[1].ends_with(", 1 connection, 1 user online"),
        "{text}"
    );

    let out = chatctl(dir.path(), &["--json", "status"]);
    out.ok();
    let AdminResponse::Status(s) = out.json() else {
        panic!("{out:?}")
    };
    assert_eq!((s.pid, s.version.as_str()), (chatd.child.id(), version));
    assert_eq!((s.connections, s.online), (1, 1));
    assert!(
        s.started <= now() && s.started + 60 > now() && s.uptime < 60,
        "{s:?}"
    );

    // Stopped: exit 3, naming the socket, in both forms.
    chatd.stop();
    let out = chatctl(dir.path(), &["status"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.out.is_empty());
    assert!(
        out.err.starts_with("chatctl: cannot reach chatd at ") && out.err.contains("chatd.sock"),
        "{out:?}"
    );
    let out = chatctl(dir.path(), &["status", "--json"]);
    assert_eq!(
        (out.code, out.json_error_code().as_str()),
        (3, "unreachable")
    );
}

#[test]
fn unlock_clears_a_lock_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let mut chatd = start(dir.path(), "block_duration = 600\n");
    lock_out(chatd.addr, "luke");
    let json = chatctl(dir.path(), &["stats", "--json"]);
    let AdminResponse::Stats(s) = json.json() else {
        panic!("{json:?}")
    };
    assert_eq!(s.locked_accounts, 1);

    assert_eq!(
        chatctl(dir.path(), &["unlock", "luke"]).ok(),
        "luke is unlocked\n"
    );
    let not_locked = chatctl(dir.path(), &["unlock", "luke"]);
    assert_eq!(not_locked.code, 1);
    assert_eq!(not_locked.err, "chatctl: luke is not locked\n");
    let not_locked = chatctl(dir.path(), &["unlock", "--json", "luke"]);
    assert_eq!(
        (not_locked.code, not_locked.json_error_code().as_str()),
        (1, "not_locked")
    );
    let mut luke = Client::login(chatd.addr, "luke", password("luke"));
    luke.request(Request::Logout);
    luke.events_until_closed();

    // Locked again, unlocked with --json, then a restart: the unlock was persisted.
    lock_out(chatd.addr, "luke");
    let out = chatctl(dir.path(), &["--json", "unlock", "luke"]);
    out.ok();
    assert_eq!(out.json(), AdminResponse::ok("luke is unlocked"));
    chatd.stop();
    let chatd = ChatdProcess::spawn(dir.path(), &[]);
    drop(Client::login(chatd.addr, "luke", password("luke")));
}

#[test]
fn reload_applies_a_valid_config_and_refuses_an_invalid_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut chatd = start(dir.path(), "timeout = 600\n");
    let out = chatctl(dir.path(), &["reload"]);
    assert_eq!(out.ok(), "reloaded configuration and 10 accounts\n");
    let out = chatctl(dir.path(), &["reload", "--json"]);
    out.ok();
    assert_eq!(
        out.json(),
        AdminResponse::ok("reloaded configuration and 10 accounts")
    );

    // A value out of range: refused, with chatd's reason, in the answer and in the log.
    write_config(dir.path(), "timeout = 0\n");
    let out = chatctl(dir.path(), &["reload"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.out.is_empty());
    assert!(
        out.err.contains("old configuration stays in force") && out.err.contains("timeout = 0"),
        "{out:?}"
    );
    let out = chatctl(dir.path(), &["--json", "reload"]);
    assert_eq!(
        (out.code, out.json_error_code().as_str()),
        (1, "reload_failed")
    );
    chatd.wait_log("reload failed, keeping the old configuration");
    // The old timeout still holds: a new client is not logged out at once.
    let mut c = Client::login(chatd.addr, "hans", password("hans"));
    assert!(c.users(Request::Whoelse).is_empty());
}

#[test]
fn second_chatd_on_a_live_socket_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = start(dir.path(), "");
    let (code, err) = run_chatd(dir.path(), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("chatd is already running") && err.contains("chatd.sock"),
        "{err}"
    );
    // The first one is untouched.
    chatctl(dir.path(), &["stats"]).ok();
}

#[test]
fn stale_socket_is_replaced_owner_only_and_removed_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("chatd.sock");
    // A socket file nobody listens on, as a crashed chatd leaves behind.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(std::fs::symlink_metadata(&socket)
        .unwrap()
        .file_type()
        .is_socket());
    let mut chatd = start(dir.path(), "");
    chatd.wait_log("replacing stale admin socket");
    let meta = std::fs::symlink_metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    chatctl(dir.path(), &["who"]).ok();

    chatd.stop();
    assert!(!socket.exists(), "socket file left behind");
    // Now unreachable: exit 3, naming the socket, in both forms.
    let out = chatctl(dir.path(), &["who"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.err.contains(&socket.display().to_string()), "{out:?}");
    let out = chatctl(dir.path(), &["--json", "stats"]);
    assert_eq!(
        (out.code, out.json_error_code().as_str()),
        (3, "unreachable")
    );
}

#[test]
fn kicked_chat_client_shows_the_reason_and_exits_3() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let chatd = start(dir.path(), "");
    let mut yoda = Client::login(chatd.addr, "yoda", password("yoda"));
    let mut chat = Command::new(chat_bin())
        .arg(chatd.addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The script holds the session open until the kick arrives.
    let mut stdin = chat.stdin.take().unwrap();
    writeln!(stdin, "hans\nfalcon*solo\n.wait administrator 10").unwrap();
    let mut stdout = BufReader::new(chat.stdout.take().unwrap());
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("Welcome")) {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "chat ended: {seen:?}"
        );
        seen.push(line);
    }
    assert_eq!(
        yoda.event(),
        Event::Presence {
            user: "hans".into(),
            online: true,
            ts: None,
        }
    );
    chatctl(dir.path(), &["kick", "hans", "--reason", "flooding"]).ok();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    chat.stdout = None;
    let out = wait_output(chat);
    assert_eq!(out.status.code(), Some(3), "{rest}");
    assert!(
        rest.contains("You have been disconnected by the administrator")
            && rest.contains("flooding"),
        "{rest}"
    );
    assert_eq!(
        yoda.event(),
        Event::Presence {
            user: "hans".into(),
            online: false,
            ts: None,
        }
    );
    drop(stdin);
}

/// Three wrong passwords for `user`: the third locks the account.
fn lock_out(addr: std::net::SocketAddr, user: &str) {
    let mut c = Client::connect(addr);
    c.request(Request::Login { user: user.into() });
    for _ in 0..2 {
        c.request(Request::Password {
            password: "nope".into(),
        });
    }
    assert_eq!(
        c.error_code(Request::Password {
            password: "nope".into()
        }),
        ErrorCode::AccountBlocked
    );
}

/// Sets up an accepted private session between two logged-in clients (the server only
/// introduces them; no peer connection is needed for the server to count the session).
fn private_session(a: &mut Client, a_name: &str, b: &mut Client, b_name: &str) {
    use proto::Response;
    for c in [&mut *a, &mut *b] {
        let r = c.request(Request::PrivateListen {
            port: 40000,
            host: None,
            fingerprint: None,
        });
        assert_eq!(r, Response::Ok);
    }
    let r = a.request(Request::StartPrivate {
        user: b_name.into(),
    });
    assert_eq!(r, Response::Ok, "startprivate");
    loop {
        match b.event() {
            Event::PrivateRequest { from } if from == a_name => break,
            _ => continue,
        }
    }
    let r = b.request(Request::PrivateAnswer {
        user: a_name.into(),
        accept: true,
    });
    assert_eq!(r, Response::Ok, "private answer");
    loop {
        if let Event::PrivateStart { peer, .. } = a.event() {
            assert_eq!(peer, b_name);
            break;
        }
    }
}
