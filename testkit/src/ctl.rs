//! Runs the real `chatctl` binary and reads what it printed: [`chatctl`] returns a [`Ctl`] with
//! stdout, stderr and the exit status, and the checks the admin tests make on them.
//!
//! It does not talk to the admin socket itself and does not start chatd: see [`crate::server`].

use std::path::Path;
use std::process::{Command, Stdio};

use proto::admin::AdminResponse;

use crate::bins::chatctl_bin;
use crate::wait::wait_output;

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
    /// Asserts success (exit 0, nothing on stderr) and returns stdout.
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

    /// Parses stderr as a JSON error object with a message; returns its code.
    pub fn json_error_code(&self) -> String {
        let v: serde_json::Value =
            serde_json::from_str(self.err.trim()).unwrap_or_else(|e| panic!("{e}: {self:?}"));
        assert_eq!(v["type"], "error", "{self:?}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
        v["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no code: {self:?}"))
            .to_string()
    }
}

/// Runs `chatctl ARGS` in `dir` (so it finds the socket through `./config.toml`, as an
/// operator standing in chatd's folder would), without `CHATCTL_SOCKET` from the environment;
/// it must exit within the deadline, not by a signal, and print UTF-8.
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
        out: String::from_utf8(out.stdout).expect("chatctl prints UTF-8"),
        err: String::from_utf8(out.stderr).expect("chatctl prints UTF-8"),
        code: out.status.code().expect("chatctl exited by a signal"),
    }
}
