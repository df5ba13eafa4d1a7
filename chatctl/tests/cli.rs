//! chatctl on its own: usage errors (exit 2) and an unreachable chatd (exit 3), in both output
//! forms. The exchanges with a live chatd are tested end to end in `admin.rs`.

use testkit::chatctl;

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
    ] {
        let out = chatctl(dir.path(), args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.out.is_empty(), "{args:?}");
        assert!(!out.err.is_empty(), "{args:?}: {out:?}");
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
fn help_and_version_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let out = chatctl(dir.path(), &["--help"]);
    assert_eq!(out.code, 0);
    let help = &out.out;
    for cmd in [
        "who", "kick", "stats", "unlock", "reload", "--json", "--socket",
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
