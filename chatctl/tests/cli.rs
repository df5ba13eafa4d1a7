//! chatctl on its own: usage errors (exit 2) and an unreachable chatd (exit 3), in both output
//! forms. The exchanges with a live chatd are tested end to end in `admin.rs`.

use std::process::{Command, Stdio};

use testkit::{chatctl, chatctl_bin, wait_output};

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &[][..],
        &["frobnicate"],
        &["kick"],
        &["unlock"],
        &["who", "--bogus"],
        &["kick", "hans", "--reason"],
        &["status", "now"],
        &["--completions", "tcsh"],
    ] {
        let out = chatctl(dir.path(), args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.out.is_empty(), "{args:?}");
        assert!(out.err.starts_with("error: "), "{args:?}: {out:?}");
        assert!(out.err.contains("try '--help'"), "{args:?}: {out:?}");
    }
    // A config file that cannot give the socket is an invocation problem too.
    let out = chatctl(dir.path(), &["--config", "missing.toml", "who"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.err.contains("missing.toml"), "{out:?}");
    let out = chatctl(dir.path(), &["who", "--json", "--config", "missing.toml"]);
    assert_eq!(out.code, 2, "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.err).unwrap();
    assert_eq!(v["code"], "usage");
}

#[test]
fn usage_errors_with_json_are_json_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (&["--json"][..], "a subcommand is required"),
        (
            &["--json", "frobnicate"],
            "unrecognized subcommand 'frobnicate'",
        ),
        (&["kick", "--json"], "<USER>"),
        (
            &["who", "--bogus", "--json"],
            "unexpected argument '--bogus'",
        ),
        (&["--json", "kick", "hans", "--reason"], "--reason"),
        (&["--json", "status", "now"], "unexpected argument 'now'"),
    ] {
        let out = chatctl(dir.path(), args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.out.is_empty(), "{args:?}");
        assert_eq!(out.err.lines().count(), 1, "{args:?}: {out:?}");
        assert_eq!(out.json_error_code(), "usage", "{args:?}");
        let v: serde_json::Value = serde_json::from_str(&out.err).unwrap();
        let message = v["message"].as_str().unwrap();
        assert!(message.contains(says), "{args:?}: {message}");
        assert!(!message.starts_with("error:"), "{message}");
    }
    // The usage line is part of the message when clap gives one.
    let out = chatctl(dir.path(), &["who", "--bogus", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out.err).unwrap();
    assert_eq!(
        v["message"],
        "unexpected argument '--bogus' found; usage: chatctl who [OPTIONS]"
    );
    // After `--`, "--json" is a value, not the flag: clap's own text.
    let out = chatctl(dir.path(), &["kick", "--", "--json", "extra"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.err.starts_with("error: "), "{out:?}");
}

#[test]
fn completions_and_man_page_are_printed() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = chatctl(dir.path(), &["--completions", shell]);
        let script = out.ok();
        for word in [
            "status", "who", "kick", "stats", "unlock", "reload", "socket", "json",
        ] {
            assert!(script.contains(word), "{shell}: no {word} in {script}");
        }
    }
    let out = chatctl(dir.path(), &["--manpage"]);
    let page = out.ok();
    assert!(page.contains(".TH chatctl 8"), "{page}");
    for word in [
        "status",
        "who",
        "kick",
        "stats",
        "unlock",
        "reload",
        "\\-\\-json",
    ] {
        assert!(page.contains(word), "no {word} in {page}");
    }
    // No socket is needed, even a configured one that does not exist.
    let child = Command::new(chatctl_bin())
        .args(["--completions", "bash"])
        .env("CHATCTL_SOCKET", dir.path().join("nowhere.sock"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_output(child);
    assert!(out.status.success(), "{out:?}");
    assert!(!out.stdout.is_empty());
}

#[test]
fn help_and_version_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let out = chatctl(dir.path(), &["--help"]);
    assert_eq!(out.code, 0);
    let help = &out.out;
    for cmd in [
        "status",
        "who",
        "kick",
        "stats",
        "unlock",
        "reload",
        "--json",
        "--socket",
        "--completions",
        "--manpage",
    ] {
        assert!(help.contains(cmd), "{cmd} missing from {help}");
    }
    assert_eq!(chatctl(dir.path(), &["--version"]).code, 0);
}

#[test]
fn unreachable_chatd_exits_3_naming_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    // The socket comes from ./config.toml, relative to its folder.
    std::fs::write(
        dir.path().join("config.toml"),
        "port = 5000\nadmin_socket = \"run/admin.sock\"\n",
    )
    .unwrap();
    let out = chatctl(dir.path(), &["who"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.out.is_empty());
    let err = &out.err;
    assert!(err.starts_with("chatctl: cannot reach chatd at "), "{err}");
    assert!(
        err.contains("run/admin.sock") && err.contains("is chatd running?"),
        "{err}"
    );

    let out = chatctl(dir.path(), &["--json", "stats"]);
    assert_eq!(out.code, 3);
    let v: serde_json::Value = serde_json::from_str(&out.err).unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["code"], "unreachable");
    assert!(v["message"].as_str().unwrap().contains("admin.sock"));

    // --socket wins over the config; a socket file nobody listens on is unreachable too.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let out = chatctl(dir.path(), &["reload", "--socket", stale.to_str().unwrap()]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.err.contains("stale.sock"));
}
