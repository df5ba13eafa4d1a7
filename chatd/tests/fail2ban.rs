//! The fail2ban filter in `examples/fail2ban/chatd.conf` against the real `chatd`'s log: a
//! real server, real failures (wrong passwords, a lock, attempts on the locked account, a
//! refused password change, a refused registration), and the filter's own patterns applied
//! to what chatd wrote to stderr, with fail2ban's `<HOST>` replaced by an address pattern.
//! Each failure must be matched once, with the client's address, and a login must not be.
//! When `fail2ban-regex` is installed, it is run on the same lines as well.

use std::path::{Path, PathBuf};

use proto::{ErrorCode, Request};
use regex::Regex;
use testkit::*;

fn filter_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fail2ban/chatd.conf")
}

/// The `failregex` patterns of a fail2ban filter file (the key's value and its indented
/// continuation lines), with `<HOST>` as a named group matching an IPv4 or IPv6 address.
fn failregexes(conf: &str) -> Vec<Regex> {
    let mut patterns = Vec::new();
    let mut inside = false;
    for line in conf.lines() {
        if let Some(first) = line.strip_prefix("failregex =") {
            inside = true;
            patterns.push(first.trim().to_string());
        } else if inside && line.starts_with(char::is_whitespace) && !line.trim().is_empty() {
            patterns.push(line.trim().to_string());
        } else {
            inside = false;
        }
    }
    assert!(!patterns.is_empty(), "no failregex in the filter");
    patterns
        .iter()
        .map(|p| {
            let p = p.replace("<HOST>", r"(?P<host>\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f:]+)");
            Regex::new(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
        })
        .collect()
}

#[test]
fn the_filter_matches_every_failure_chatd_logs_and_no_login() {
    let regexes = failregexes(&std::fs::read_to_string(filter_file()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "block_duration = 3600\n[limits]\nregistrations_per_ip_per_hour = 1\nregistration_limit_loopback = true\n",
    );
    let mut chatd = ChatdProcess::spawn(dir.path(), &[]);

    // Three wrong passwords for luke: two "wrong password" lines, then the lock.
    let mut c = Client::connect(chatd.addr);
    c.request(Request::Login {
        user: "luke".into(),
    });
    for _ in 0..3 {
        c.request(Request::Password {
            password: "guess".into(),
        });
    }
    // An attempt on the locked account.
    assert_eq!(
        c.error_code(Request::Login {
            user: "luke".into()
        }),
        ErrorCode::AccountLocked
    );
    // One registration is allowed, the next refused.
    c.request(Request::Login { user: "rey".into() });
    c.request(Request::Password {
        password: "jakku#1".into(),
    });
    let mut d = Client::connect(chatd.addr);
    assert_eq!(
        d.error_code(Request::Login {
            user: "finn".into()
        }),
        ErrorCode::RegistrationLimited
    );
    // Wrong old passwords lock yoda from within its session, then a refused change.
    let mut yoda = Client::login(chatd.addr, "yoda", password("yoda"));
    for _ in 0..3 {
        yoda.request(Request::ChangePassword {
            old: "guess".into(),
            new: "x".into(),
        });
    }
    assert_eq!(
        yoda.error_code(Request::ChangePassword {
            old: password("yoda").into(),
            new: "x".into()
        }),
        ErrorCode::AccountLocked
    );
    chatd.wait_log("password change refused: yoda is locked");

    let expected = [
        "wrong password for luke",
        "wrong password for luke",
        "luke locked for 3600s after failed logins",
        "login refused: luke is locked",
        "registration refused: too many new accounts",
        "wrong password for yoda",
        "wrong password for yoda",
        "yoda locked for 3600s after failed logins",
        "password change refused: yoda is locked",
    ];
    let mut matched = Vec::new();
    for line in &chatd.log {
        let hits: Vec<_> = regexes.iter().filter_map(|r| r.captures(line)).collect();
        assert!(hits.len() <= 1, "{line} is matched by several patterns");
        if let Some(caps) = hits.first() {
            assert_eq!(&caps["host"], "127.0.0.1", "{line}");
            matched.push(line.clone());
        }
    }
    assert_eq!(matched.len(), expected.len(), "{matched:#?}");
    for (line, what) in matched.iter().zip(expected) {
        assert!(line.contains(what), "{line} should be {what}");
    }
    // Successful logins and registrations carry the address too, and are no failures.
    assert!(chatd
        .log
        .iter()
        .any(|l| l.ends_with("yoda logged in addr=127.0.0.1")));
    assert!(chatd
        .log
        .iter()
        .any(|l| l.ends_with("new account rey addr=127.0.0.1")));

    // fail2ban's own tool agrees, where it is installed.
    let Ok(out) = std::process::Command::new("fail2ban-regex")
        .arg("--version")
        .output()
    else {
        return;
    };
    if !out.status.success() {
        return;
    }
    let log = dir.path().join("chatd.log");
    std::fs::write(&log, chatd.log.join("\n") + "\n").unwrap();
    let out = std::process::Command::new("fail2ban-regex")
        .arg(&log)
        .arg(filter_file())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains(&format!("Failregex: {} total", expected.len())),
        "{report}"
    );
}
