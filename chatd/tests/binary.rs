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

    let dir = dir_with_config("port = 0\nsend_queue = 5\n");
    let (code, err) = run_chatd(dir.path(), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("send_queue") && err.contains("line 2"),
        "{err}"
    );
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
