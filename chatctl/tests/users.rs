//! `chatctl users` and `chatctl user add|del|passwd` against a live chatd (the real binaries):
//! both output forms, every error code and exit status, passwords from one line of standard
//! input, and from the terminal without echo (asked twice) on a pseudo-terminal.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use proto::admin::AdminResponse;
use proto::{ErrorCode, Request};
use testkit::*;

// The pseudo-terminal driver of the `chat` tests, shared rather than copied.
#[allow(dead_code)]
#[path = "../../chat/tests/common/pty.rs"]
mod pty;

/// `chatctl ARGS` in `dir` with `stdin` as its standard input.
fn chatctl_with_stdin(dir: &Path, args: &[&str], stdin: &str) -> Ctl {
    let mut child = Command::new(chatctl_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("CHATCTL_SOCKET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chatctl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = wait_output(child);
    Ctl {
        out: String::from_utf8(out.stdout).unwrap(),
        err: String::from_utf8(out.stderr).unwrap(),
        code: out.status.code().unwrap(),
    }
}

fn start(dir: &Path) -> ChatdProcess {
    write_config(dir, "block_duration = 3600\n");
    ChatdProcess::spawn(dir, &[])
}

#[test]
fn users_lists_every_account_online_locked_and_last_login() {
    let dir = tempfile::tempdir().unwrap();
    let chatd = start(dir.path());
    let _hans = Client::login(chatd.addr, "hans", password("hans"));
    let mut bad = Client::connect(chatd.addr);
    bad.request(Request::Login {
        user: "luke".into(),
    });
    for _ in 0..3 {
        bad.request(Request::Password {
            password: "guess".into(),
        });
    }

    let table = chatctl(dir.path(), &["users"]);
    let lines: Vec<&str> = table.ok().lines().collect();
    assert_eq!(lines.len(), 11, "{table:?}");
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["USER", "ONLINE", "LOCKED", "LAST", "LOGIN"]
    );
    let row = |name: &str| {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in {table:?}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    let hans = row("hans");
    assert_eq!(hans[1..3], ["yes", "no"]);
    assert!(hans[3].starts_with("20") && hans[5] == "UTC", "{hans:?}");
    assert_eq!(row("luke")[1..], ["no", "yes", "never"]);
    assert_eq!(row("yoda")[1..], ["no", "no", "never"]);

    let json = chatctl(dir.path(), &["users", "--json"]);
    json.ok();
    let AdminResponse::Users { users } = json.json() else {
        panic!("{json:?}")
    };
    let names: Vec<&str> = users.iter().map(|u| u.user.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(names.len(), 10);
    let hans = users.iter().find(|u| u.user == "hans").unwrap();
    assert!(hans.online && !hans.locked && hans.last_login.is_some());
    let luke = users.iter().find(|u| u.user == "luke").unwrap();
    assert!(!luke.online && luke.locked && luke.last_login.is_none());
}

#[test]
fn user_add_passwd_and_del_with_passwords_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let chatd = start(dir.path());

    let add = chatctl_with_stdin(dir.path(), &["user", "add", "Rey"], "jakku#scav\n");
    assert_eq!(add.ok(), "account Rey created\n");
    Client::login(chatd.addr, "rey", "jakku#scav");
    let text = std::fs::read_to_string(dir.path().join("credentials.txt")).unwrap();
    assert!(
        text.contains("\nRey $argon2id$") && !text.contains("jakku"),
        "{text}"
    );

    // Refusals: a name taken in any case, a bad name, a bad or missing password.
    for (args, stdin, code) in [
        (&["user", "add", "HANS"][..], "x#1\n", "user_exists"),
        (
            &["user", "add", "bad name!"][..],
            "x#1\n",
            "invalid_username",
        ),
        (
            &["user", "add", "finn"][..],
            "two words\n",
            "invalid_password",
        ),
        (&["user", "add", "finn"][..], "", "no_password"),
        (&["user", "add", "finn"][..], "\n", "no_password"),
        (&["user", "passwd", "nobody"][..], "x#1\n", "invalid_user"),
        (&["user", "del", "nobody"][..], "", "invalid_user"),
    ] {
        let mut json_args = vec!["--json"];
        json_args.extend_from_slice(args);
        let out = chatctl_with_stdin(dir.path(), &json_args, stdin);
        assert_eq!(
            (out.code, out.json_error_code().as_str()),
            (1, code),
            "{args:?}: {out:?}"
        );
        assert!(out.out.is_empty(), "{out:?}");
    }
    let exists = chatctl_with_stdin(dir.path(), &["user", "add", "HANS"], "x#1\n");
    assert_eq!(
        exists.err,
        "chatctl: an account named hans exists (names are unique regardless of case)\n"
    );
    let text = std::fs::read_to_string(dir.path().join("credentials.txt")).unwrap();
    assert!(!text.contains("finn"), "{text}");

    // A new password (CRLF from a Windows-made script is fine); the old one stops working.
    let passwd = chatctl_with_stdin(dir.path(), &["user", "passwd", "REY"], "n3w*pass\r\n");
    assert_eq!(passwd.ok(), "password of Rey changed\n");
    let mut c = Client::connect(chatd.addr);
    c.request(Request::Login { user: "Rey".into() });
    assert_eq!(
        c.error_code(Request::Password {
            password: "jakku#scav".into()
        }),
        ErrorCode::InvalidPassword
    );
    c.request(Request::Password {
        password: "n3w*pass".into(),
    });

    // Delete: the session ends, the account is gone.
    let del = chatctl(dir.path(), &["--json", "user", "del", "rey"]);
    del.ok();
    assert_eq!(
        del.json(),
        AdminResponse::ok("account Rey deleted (it was online: disconnected)")
    );
    c.events_until_closed();
    let users = chatctl(dir.path(), &["users"]);
    assert!(!users.ok().contains("Rey"), "{users:?}");
    // No usage without a name.
    let usage = chatctl(dir.path(), &["user", "del"]);
    assert_eq!(usage.code, 2, "{usage:?}");
}

#[test]
fn user_add_on_a_terminal_asks_twice_without_echo() {
    let dir = tempfile::tempdir().unwrap();
    let chatd = start(dir.path());
    let run = |args: &[&str]| {
        let mut cmd = Command::new(chatctl_bin());
        cmd.args(args)
            .current_dir(dir.path())
            .env_remove("CHATCTL_SOCKET");
        pty::Pty::spawn(cmd)
    };
    let mut t = run(&["user", "add", "poe"]);
    t.expect("Password for poe: ");
    t.wait_echo_off();
    t.send("bb-8#rolls\r");
    t.expect("Retype it: ");
    t.wait_echo_off();
    t.send("bb-8#rolls\r");
    t.expect("account poe created");
    assert_eq!(t.finish(), 0);
    assert!(!t.text().contains("bb-8"), "echoed: {:?}", t.text());
    Client::login(chatd.addr, "poe", "bb-8#rolls");

    // Two different entries change nothing.
    let mut t = run(&["user", "passwd", "poe"]);
    t.expect("New password for poe: ");
    t.wait_echo_off();
    t.send("one#1\r");
    t.expect("Retype it: ");
    t.wait_echo_off();
    t.send("two#2\r");
    t.expect("the two passwords differ; nothing changed");
    assert_eq!(t.finish(), 1);
    Client::login(chatd.addr, "poe", "bb-8#rolls");
}
