//! The real `chatd` binary: start forms, config errors, an admin socket path it must not take
//! over, and a clean SIGTERM.

mod common;

use std::process::Command;

use common::*;
use proto::{Event, Request};

fn dir_with_config(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    write_credentials(dir.path());
    dir
}

const LOOPBACK: &str = "bind = \"127.0.0.1\"\nport = 0\n";

#[test]
fn original_positional_form_and_default_config() {
    let dir = dir_with_config(LOOPBACK);
    // `chatd PORT BLOCK_DURATION TIMEOUT`, reading ./config.toml for the rest.
    let mut chatd = ChatdProcess::spawn(dir.path(), &["0", "60", "600"]);
    let mut hans = Client::login(chatd.addr, "hans", "falcon*solo");
    assert!(hans.users(Request::Whoelse).is_empty());
    chatd.signal(15);
    assert!(hans.events_until_closed().contains(&Event::Shutdown));
    assert_eq!(chatd.wait_exit(), Some(0));
    assert!(dir.path().join("data/chat.db").exists());
}

#[test]
fn bad_config_is_refused_naming_key_value_and_line() {
    let dir = dir_with_config("port = 0\nbind = \"127.0.0.1\"\ntimeout = -5\n");
    let (code, err) = run_chatd(dir.path(), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("config.toml:3: timeout = -5: must be at least 1"),
        "{err}"
    );

    // A key unknown everywhere: toml's message, with the line and the valid keys.
    let dir = dir_with_config("port = 0\nsend_qeue = 5\n");
    let (code, err) = run_chatd(dir.path(), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("send_qeue") && err.contains("line 2") && err.contains("timeout"),
        "{err}"
    );
}

#[test]
fn a_key_in_the_wrong_table_is_refused_with_a_hint() {
    // `timeout = 60` added at the end of a file whose last table is [limits].
    let dir = dir_with_config(&format!(
        "{LOOPBACK}\n[limits]\nsend_queue = 64\ntimeout = 60\n"
    ));
    let (code, err) = run_chatd(dir.path(), &[]);
    assert_eq!(code, Some(2), "{err}");
    let config = dir.path().join("config.toml");
    assert_eq!(
        err.trim_end(),
        format!(
            "chatd: {}:6: limits.timeout = 60: timeout belongs at the top level, above the \
             first [table] line, not in [limits]",
            config.display()
        )
    );
    // The reverse: a [limits] key at the top level.
    let dir = dir_with_config(&format!("{LOOPBACK}send_queue = 64\n"));
    let (code, err) = run_chatd(dir.path(), &[]);
    assert_eq!(code, Some(2), "{err}");
    let config = dir.path().join("config.toml");
    assert_eq!(
        err.trim_end(),
        format!(
            "chatd: {}:3: send_queue = 64: send_queue belongs in [limits], not at the top level",
            config.display()
        )
    );
}

#[test]
fn two_of_the_three_positional_values_are_refused_with_the_usage_line() {
    let dir = dir_with_config(LOOPBACK);
    for args in [&["5000", "60"][..], &["5000"], &["5000", "60", "600", "1"]] {
        let (code, err) = run_chatd(dir.path(), args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains("Usage: chatd [OPTIONS] [PORT] [BLOCK_DURATION] [TIMEOUT]"),
            "{args:?}: {err}"
        );
    }
    // Nothing was started.
    assert!(!dir.path().join("data").exists());
}

/// Runs `chatd ARGS` (which exits by itself) and returns its exit code and stdout.
fn chatd_stdout(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(chatd_bin())
        .args(args)
        .current_dir(dir.path())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("UTF-8"),
    )
}

#[test]
fn completions_and_man_page_are_printed() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, script) = chatd_stdout(&["--completions", shell]);
        assert_eq!(code, Some(0), "{shell}");
        for word in ["hash-credentials", "config", "daemonize", "completions"] {
            assert!(script.contains(word), "{shell}: no {word} in {script}");
        }
    }
    let (code, page) = chatd_stdout(&["--manpage"]);
    assert_eq!(code, Some(0));
    assert!(
        page.starts_with(".ie") && page.contains(".TH chatd 8"),
        "{page}"
    );
    for word in ["hash\\-credentials", "\\-\\-daemonize", "PORT"] {
        assert!(page.contains(word), "no {word} in {page}");
    }
    // Not a shell chatd knows; and the flags stand alone.
    assert_eq!(chatd_stdout(&["--completions", "tcsh"]).0, Some(2));
    assert_eq!(chatd_stdout(&["--manpage", "--port", "5"]).0, Some(2));
}

#[test]
fn hash_credentials_counts_in_the_singular_and_plural() {
    let dir = dir_with_config(LOOPBACK);
    let creds = dir.path().join("credentials.txt");
    let hash = |expected: &str| {
        let out = Command::new(chatd_bin())
            .arg("hash-credentials")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout.trim_end(),
            format!("{}: {expected}", creds.display()),
            "{out:?}"
        );
    };
    std::fs::write(&creds, "hans falcon*solo\n").unwrap();
    hash("hashed 1 plain-text password (0 were already hashed)");
    let mut text = std::fs::read_to_string(&creds).unwrap();
    text.push_str("yoda wise@!man\n");
    std::fs::write(&creds, &text).unwrap();
    hash("hashed 1 plain-text password (1 was already hashed)");
    hash("hashed 0 plain-text passwords (2 were already hashed)");
}

#[test]
fn the_plain_text_warning_comes_only_with_a_start_that_succeeds() {
    // The sample credentials are plain text. A start that fails at the port ...
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = dir_with_config(LOOPBACK);
    let (code, err) = run_chatd(dir.path(), &["--port", &port]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("cannot listen on 127.0.0.1:"), "{err}");
    assert!(!err.contains("plain-text"), "{err}");
    // ... or at the store (the data directory is a file) says why, and only that.
    let dir = dir_with_config(LOOPBACK);
    std::fs::write(dir.path().join("data"), "not a directory").unwrap();
    let (code, err) = run_chatd(dir.path(), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(!err.contains("plain-text"), "{err}");
    // A start that succeeds warns, after it listens.
    let dir = dir_with_config(LOOPBACK);
    let mut chatd = ChatdProcess::spawn(dir.path(), &[]);
    chatd.wait_log("10 of 10 accounts in");
    let at = |needle: &str| chatd.log.iter().position(|l| l.contains(needle)).unwrap();
    assert!(
        at("listening on") < at("have plain-text passwords"),
        "{:#?}",
        chatd.log
    );
    chatd.stop();
}

#[test]
fn bad_flag_is_refused() {
    let dir = dir_with_config(LOOPBACK);
    let out = Command::new(chatd_bin())
        .args(["--timeout", "0"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--timeout = 0: must be at least 1"), "{err}");
    let out = Command::new(chatd_bin())
        .args(["--port", "abc"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = dir_with_config(LOOPBACK);
    let out = Command::new(chatd_bin())
        .args(["--port", &port])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("cannot listen on 127.0.0.1:"), "{err}");
}

#[test]
fn logs_never_contain_passwords_or_message_texts() {
    let dir = dir_with_config(LOOPBACK);
    let mut chatd = ChatdProcess::spawn(dir.path(), &[]);
    let mut hans = Client::login(chatd.addr, "hans", "falcon*solo");
    let mut c = Client::connect(chatd.addr);
    c.request(Request::Login {
        user: "yoda".into(),
    });
    c.request(Request::Password {
        password: "S3cretGuess".into(),
    });
    hans.request(msg("leia", "top-secret-text"));
    chatd.signal(15);
    assert_eq!(chatd.wait_exit(), Some(0));
    let log = chatd.log.join("\n");
    assert!(log.contains("hans logged in"), "{log}");
    for secret in ["falcon*solo", "S3cretGuess", "top-secret-text"] {
        assert!(
            !log.contains(secret),
            "{secret} leaked into the log:\n{log}"
        );
    }
}

#[test]
fn a_file_that_is_not_a_socket_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "");
    std::fs::write(dir.path().join("chatd.sock"), "precious").unwrap();
    let (code, err) = run_chatd(dir.path(), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is not a socket"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("chatd.sock")).unwrap(),
        "precious"
    );
}
