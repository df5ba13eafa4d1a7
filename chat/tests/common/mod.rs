//! Shared helpers for the `chat` end-to-end tests: [`Piped`] runs the real `chat` binary with
//! piped stdin/stdout and collects what it prints; [`pty`] runs it on a pseudo-terminal. The
//! server (the real `chatd` binary), the binaries themselves, the sample accounts and the
//! deadlines come from `testkit`. Every wait has a deadline; every child is killed when its
//! guard drops.
#![allow(dead_code)]

pub mod pty;

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

pub use testkit::{chat_bin, password, ChatdProcess, DEADLINE};
use testkit::{collect_lines, drain_lines, wait_child};

/// A `chat` client in piped mode; killed on drop.
pub struct Piped {
    /// A label for failure messages.
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    /// Every stdout line received so far.
    pub lines: Vec<String>,
    /// The stderr lines [`Piped::finish`] collected.
    err_lines: Vec<String>,
    /// How many of `lines` [`Piped::expect`] has already matched past.
    seen: usize,
}

impl Piped {
    /// Starts `chat 127.0.0.1 PORT` plus `args`, with `env` added to its environment.
    pub fn start(name: &str, port: u16, args: &[&str], env: &[(&str, &str)]) -> Piped {
        let mut cmd = Command::new(chat_bin());
        cmd.arg("127.0.0.1")
            .arg(port.to_string())
            .args(args)
            .env_remove("CHAT_PASSWORD")
            .env("CHAT_HISTFILE", "")
            .env("CHAT_SEEN_DIR", "")
            .env("TZ", "UTC")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn chat");
        let stdin = child.stdin.take();
        let stdout = collect_lines(child.stdout.take().unwrap());
        let stderr = collect_lines(child.stderr.take().unwrap());
        Piped {
            name: name.to_string(),
            child,
            stdin,
            stdout,
            stderr,
            lines: Vec::new(),
            err_lines: Vec::new(),
            seen: 0,
        }
    }

    /// Starts a client that reads the whole `script` (then end of input).
    pub fn script(name: &str, port: u16, script: &str) -> Piped {
        Piped::script_with(name, port, script, &[], &[])
    }

    /// [`Piped::script`] with extra arguments and environment.
    pub fn script_with(
        name: &str,
        port: u16,
        script: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Piped {
        let mut p = Piped::start(name, port, args, env);
        p.send_raw(script.as_bytes());
        p.close_stdin();
        p
    }

    /// Writes bytes to the client's stdin.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        // The client may already have exited (that is what some tests check).
        let _ = stdin.write_all(bytes);
        let _ = stdin.flush();
    }

    /// Writes one line to the client's stdin.
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }

    /// Closes stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits until a line containing `needle` is printed after the last matched one.
    pub fn expect(&mut self, needle: &str) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(i) = self.lines[self.seen..]
                .iter()
                .position(|l| l.contains(needle))
            {
                self.seen += i + 1;
                return self.lines[self.seen - 1].clone();
            }
            let left = end.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => self.lines.push(line),
                Err(_) => panic!(
                    "{}: no line containing {needle:?}; printed so far: {:#?}",
                    self.name, self.lines
                ),
            }
        }
    }

    /// Waits for the exit and returns its code (with every stdout line collected).
    pub fn finish(&mut self) -> i32 {
        let status = wait_child(&mut self.child, &self.name);
        // The pipes close when the process ends: drain what is left.
        drain_lines(
            &self.stdout,
            &mut self.lines,
            &format!("{}'s stdout", self.name),
        );
        drain_lines(
            &self.stderr,
            &mut self.err_lines,
            &format!("{}'s stderr", self.name),
        );
        status
            .code()
            .unwrap_or_else(|| panic!("{} was killed by a signal", self.name))
    }

    /// Everything printed on stderr (all of it after [`Piped::finish`]).
    pub fn stderr(&self) -> String {
        let more = self.stderr.try_iter();
        let all: Vec<String> = self.err_lines.iter().cloned().chain(more).collect();
        all.join("\n")
    }

    /// Collects the lines printed so far without waiting, and returns how many of all the
    /// lines printed contain `needle`.
    pub fn count(&mut self, needle: &str) -> usize {
        self.lines.extend(self.stdout.try_iter());
        self.lines.iter().filter(|l| l.contains(needle)).count()
    }

    /// Kills the process (a crash: no logout, sockets closed by the kernel).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A piped client logged in as a sample user, reading commands as the test sends them.
pub fn online(server: &ChatdProcess, user: &str) -> Piped {
    let mut p = Piped::start(user, server.port(), &[], &[]);
    p.send(user);
    p.send(password(user));
    p.expect("Welcome to the greatest messaging application ever!");
    p
}

/// Compares a transcript with the expected lines, with a readable failure.
pub fn assert_lines(who: &str, got: &[String], want: &[&str]) {
    let got: Vec<&str> = got.iter().map(String::as_str).collect();
    assert_eq!(got, want, "{who}'s transcript");
}
