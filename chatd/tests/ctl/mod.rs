//! Test support for the operating tests: runs the real `chatctl` binary, writes a chatd
//! `config.toml` for a temp dir, and waits on files and processes with deadlines.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proto::admin::AdminResponse;

use crate::common::{CREDENTIALS, DEADLINE};

/// Path of the `chatctl` binary, next to the `chatd` binary under test.
pub fn chatctl_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| sibling_bin("chatctl", "chatctl"))
}

/// Path of the `chat` client binary, next to the `chatd` binary under test.
pub fn chat_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| sibling_bin("chat", "chat"))
}

/// Another workspace binary, found in the target directory of the `chatd` under test.
///
/// Cargo only exposes `CARGO_BIN_EXE_*` for the package's own binaries, so this looks in the
/// same directory. `cargo test --workspace` has built it already (cargo builds a package's
/// binaries for its integration tests, and chatctl and chat have some); under
/// `cargo test -p chatd` it is built here once, with the cargo that runs the tests.
fn sibling_bin(package: &str, name: &str) -> PathBuf {
    let chatd = PathBuf::from(env!("CARGO_BIN_EXE_chatd"));
    let profile_dir = chatd.parent().expect("chatd lives in a directory");
    let bin = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", package, "--bin", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.ends_with("release") {
            cmd.arg("--release");
        }
        if let Some(target) = profile_dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        let status = cmd.status().expect("run cargo to build a sibling binary");
        assert!(status.success(), "building {name} failed");
    }
    assert!(bin.exists(), "no {name} binary at {}", bin.display());
    bin
}

/// What one `chatctl` run printed and how it exited.
#[derive(Debug)]
pub struct Ctl {
    /// Standard output.
    pub out: String,
    /// Standard error.
    pub err: String,
    /// Exit status.
    pub code: i32,
}

impl Ctl {
    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "chatctl failed: {self:?}");
        assert!(self.err.is_empty(), "stderr not empty: {self:?}");
        &self.out
    }

    /// Parses stdout as one admin response line.
    pub fn json(&self) -> AdminResponse {
        assert_eq!(
            self.out.lines().count(),
            1,
            "one JSON line expected: {self:?}"
        );
        serde_json::from_str(&self.out).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    /// Parses stderr as a JSON error object; returns its code.
    pub fn json_error_code(&self) -> String {
        let v: serde_json::Value =
            serde_json::from_str(self.err.trim()).unwrap_or_else(|e| panic!("{e}: {self:?}"));
        assert_eq!(v["type"], "error", "{self:?}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
        v["code"].as_str().unwrap().to_string()
    }
}

/// Runs `chatctl ARGS` in `dir` (so it finds the socket through `./config.toml`, as an
/// operator standing in chatd's folder would).
pub fn chatctl(dir: &Path, args: &[&str]) -> Ctl {
    let child = Command::new(chatctl_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("CHATCTL_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chatctl");
    let out = wait_output(child);
    Ctl {
        out: String::from_utf8(out.stdout).unwrap(),
        err: String::from_utf8(out.stderr).unwrap(),
        code: out.status.code().expect("chatctl exited by a signal"),
    }
}

/// Waits for a child with piped output, killing it if it outlives the deadline.
pub fn wait_output(child: Child) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(out) => out.expect("wait for the child"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("process {pid} did not exit within {DEADLINE:?}");
        }
    }
}

/// Writes the sample credentials and a `config.toml` for a chatd on 127.0.0.1, port 0, with
/// everything inside `dir`; `extra` is appended (top-level keys).
pub fn write_config(dir: &Path, extra: &str) {
    std::fs::write(dir.join("credentials.txt"), CREDENTIALS).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "port = 0\nbind = \"127.0.0.1\"\ncredentials = \"credentials.txt\"\n\
             data_dir = \"data\"\nadmin_socket = \"chatd.sock\"\n{extra}"
        ),
    )
    .unwrap();
}

/// Polls `cond` until it holds or the deadline passes (for effects that have no event to wait
/// on, such as a file disappearing after another process exits).
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` is running (a zombie waiting for a reaper counts as gone: a daemon's
/// parent is whatever reaper the machine has, which may be slow or absent in a container).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

/// Sets up an accepted private session between two logged-in clients (the server only
/// introduces them; no peer connection is needed for the server to count the session).
pub fn private_session(
    a: &mut crate::common::Client,
    a_name: &str,
    b: &mut crate::common::Client,
    b_name: &str,
) {
    use proto::{Event, Request, Response};
    for c in [&mut *a, &mut *b] {
        let r = c.request(Request::PrivateListen {
            port: 40000,
            host: None,
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
