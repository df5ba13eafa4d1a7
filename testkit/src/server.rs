//! The real `chatd` for tests: the sample accounts, a `config.toml` for a temp dir, and the
//! process itself ([`ChatdProcess`]) on 127.0.0.1 port 0, its address read from its log.
//!
//! Every file a test chatd uses lives in one directory, named relative to it in the config:
//! `credentials.txt`, `data/`, and the admin socket [`ADMIN_SOCKET`]. This module does not speak
//! to the server: see [`crate::client`] and [`crate::ctl`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use crate::bins::chatd_bin;
use crate::wait::{collect_lines, drain_lines, wait_child, wait_output, DEADLINE};

/// The original assignment's accounts, in `credentials.txt` form.
pub const CREDENTIALS: &str = "hans falcon*solo
yoda wise@!man
vader sithlord**
r2d2 do*!@#dedo
c3p0 droid#gold
leia $blasterpistol$
obiwan (jedimaster)
luke light==saber
chewy wookie+aaaawww
palpatine darkside_%$run
";

/// The admin socket's file name in a test chatd's directory (as [`write_config`] sets it).
pub const ADMIN_SOCKET: &str = "chatd.sock";

/// The password of a sample account; panics for any other name.
pub fn password(user: &str) -> &'static str {
    CREDENTIALS
        .lines()
        .find_map(|l| l.strip_prefix(user).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no sample account {user}"))
}

/// Writes the sample accounts to `dir/credentials.txt`.
pub fn write_credentials(dir: &Path) {
    std::fs::write(dir.join("credentials.txt"), CREDENTIALS).expect("write credentials.txt");
}

/// Writes the sample accounts and a `config.toml` for a chatd on 127.0.0.1, port 0, with
/// everything inside `dir`; `extra` is appended (top-level keys first, then any tables).
pub fn write_config(dir: &Path, extra: &str) {
    write_credentials(dir);
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "port = 0\nbind = \"127.0.0.1\"\ncredentials = \"credentials.txt\"\n\
             data_dir = \"data\"\nadmin_socket = \"{ADMIN_SOCKET}\"\n{extra}"
        ),
    )
    .expect("write config.toml");
}

/// Runs `chatd ARGS` in `dir` until it exits by itself (within [`DEADLINE`]): its exit code
/// and everything it wrote to stderr.
pub fn run_chatd(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let child = Command::new(chatd_bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chatd");
    let out = wait_output(child);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The real `chatd` binary, running; its stderr is collected and its "listening on" line gives
/// the address. Killed (SIGKILL) on drop unless it has exited; its temp dir, if it owns one, is
/// removed after that.
pub struct ChatdProcess {
    /// The child.
    pub child: Child,
    /// Where it listens (127.0.0.1 and the port it was given).
    pub addr: SocketAddr,
    /// Every stderr line read so far, for assertions.
    pub log: Vec<String>,
    stderr: mpsc::Receiver<String>,
    dir: PathBuf,
    /// The temp dir [`ChatdProcess::start`] made; removed only after `Drop` killed the process.
    _temp: Option<tempfile::TempDir>,
}

impl ChatdProcess {
    /// Starts chatd in a new temp dir of its own with the sample accounts and a
    /// [`write_config`] config plus `extra_config`; waits until it listens.
    pub fn start(extra_config: &str) -> ChatdProcess {
        let temp = tempfile::tempdir().expect("temp dir");
        write_config(temp.path(), extra_config);
        let mut p = ChatdProcess::spawn(temp.path(), &["--config", "config.toml"]);
        p._temp = Some(temp);
        p
    }

    /// Starts `chatd ARGS` in `dir` and waits (until [`DEADLINE`]) for it to listen.
    pub fn spawn(dir: &Path, args: &[&str]) -> ChatdProcess {
        let mut child = Command::new(chatd_bin())
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chatd");
        let stderr = collect_lines(child.stderr.take().expect("stderr is piped"));
        let mut p = ChatdProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log: Vec::new(),
            stderr,
            dir: dir.to_path_buf(),
            _temp: None,
        };
        let line = p.wait_log("listening on ");
        let addr = line.rsplit("listening on ").next().unwrap_or_default();
        p.addr = addr
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{e}: no address in {line:?}"));
        p
    }

    /// The directory chatd runs in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address of its TLS listener (from its "listening for TLS on" line); panics if it
    /// has none.
    pub fn tls_addr(&mut self) -> SocketAddr {
        let line = self.wait_log("listening for TLS on ");
        let addr = line
            .rsplit("listening for TLS on ")
            .next()
            .unwrap_or_default();
        let addr = addr.split_whitespace().next().unwrap_or_default();
        addr.parse()
            .unwrap_or_else(|e| panic!("{e}: no address in {line:?}"))
    }

    /// The port of its TLS listener.
    pub fn tls_port(&mut self) -> u16 {
        self.tls_addr().port()
    }

    /// Its admin socket (where [`write_config`] puts it).
    pub fn admin_socket(&self) -> PathBuf {
        self.dir.join(ADMIN_SOCKET)
    }

    /// Waits for a stderr line containing `needle` (one logged earlier counts); panics after
    /// [`DEADLINE`], showing the log so far.
    pub fn wait_log(&mut self, needle: &str) -> String {
        if let Some(l) = self.log.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("chatd never logged {needle:?}; log so far: {:#?}", self.log),
            }
        }
    }

    /// Sends signal `sig` (SIGTERM: graceful shutdown; SIGKILL: a crash).
    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) of the child this test started (not yet reaped: `child` owns
        // it, so the pid cannot have been reused).
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Waits (until [`DEADLINE`]) for the process to exit and returns its exit code; the rest
    /// of its log is in [`ChatdProcess::log`] afterwards.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let status = wait_child(&mut self.child, "chatd");
        // The pipe closes with the process: take what is left.
        drain_lines(&self.stderr, &mut self.log, "chatd's stderr");
        status.code()
    }

    /// Stops it gracefully: SIGTERM, then asserts that it exits with status 0.
    pub fn stop(&mut self) {
        self.signal(libc::SIGTERM);
        assert_eq!(self.wait_exit(), Some(0), "chatd's log: {:#?}", self.log);
    }
}

impl Drop for ChatdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_of_sample_accounts() {
        assert_eq!(password("hans"), "falcon*solo");
        assert_eq!(password("palpatine"), "darkside_%$run");
        assert_eq!(CREDENTIALS.lines().count(), 10);
    }

    #[test]
    #[should_panic(expected = "no sample account han")]
    fn a_prefix_of_a_name_is_not_an_account() {
        password("han");
    }
}
