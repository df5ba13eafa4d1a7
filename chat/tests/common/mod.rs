//! Shared helpers for the `chat` end-to-end tests: [`Server`] runs the real `chatd` binary on
//! 127.0.0.1 with an ephemeral port in a temp dir; [`Piped`] runs the real `chat` binary with
//! piped stdin/stdout and collects what it prints. Every wait has a deadline; every child is
//! killed when its guard drops.
#![allow(dead_code)]

pub mod pty;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The original assignment's accounts.
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

/// How long any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The `chat` binary under test.
pub fn chat_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_chat"))
}

/// The `chatd` binary, built once per test process into the same target directory as `chat`
/// (`cargo test -p chat` does not build other packages' binaries by itself).
pub fn chatd_bin() -> &'static Path {
    static CHATD: OnceLock<PathBuf> = OnceLock::new();
    CHATD.get_or_init(|| {
        let chat = chat_bin();
        let profile_dir = chat.parent().expect("chat binary has a directory");
        let target_dir = profile_dir
            .parent()
            .expect("profile directory has a parent");
        let mut cmd = Command::new(option_env!("CARGO").unwrap_or("cargo"));
        cmd.args(["build", "--quiet", "-p", "chatd", "--target-dir"])
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build -p chatd");
        assert!(status.success(), "cargo build -p chatd failed");
        let chatd = profile_dir.join("chatd");
        assert!(
            chatd.exists(),
            "{} missing after the build",
            chatd.display()
        );
        chatd
    })
}

/// A line-collecting reader thread over a child's pipe.
fn collect_lines<R: Read + Send + 'static>(pipe: R) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if buf.last() == Some(&b'\n') {
                        buf.pop();
                    }
                    if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Waits for a child to exit, until `deadline`.
fn wait_child(child: &mut Child, what: &str) -> ExitStatus {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < end, "{what} did not exit in time");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Server settings for a test.
#[derive(Clone)]
pub struct ServerOptions {
    /// `block_duration` in seconds.
    pub block_duration: u64,
    /// `timeout` in seconds.
    pub timeout: u64,
    /// `private_request_timeout` in seconds.
    pub private_request_timeout: u64,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            block_duration: 60,
            timeout: 600,
            private_request_timeout: 60,
        }
    }
}

/// The real `chatd`, in its own temp dir; killed on drop.
pub struct Server {
    /// Config, credentials, store.
    pub dir: tempfile::TempDir,
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    /// Starts chatd with the sample accounts and default options.
    pub fn start() -> Server {
        Server::start_with(ServerOptions::default())
    }

    /// Starts chatd with the sample accounts and waits (with a deadline) until it listens.
    pub fn start_with(options: ServerOptions) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("credentials.txt"), CREDENTIALS).unwrap();
        let config = format!(
            "bind = \"127.0.0.1\"\nport = 0\nblock_duration = {}\ntimeout = {}\n\
             private_request_timeout = {}\n\
             credentials = \"credentials.txt\"\ndata_dir = \"data\"\nadmin_socket = \"chatd.sock\"\n",
            options.block_duration, options.timeout, options.private_request_timeout
        );
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut child = Command::new(chatd_bin())
            .arg("--config")
            .arg(&config_path)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chatd");
        let stderr = collect_lines(child.stderr.take().unwrap());
        let mut server = Server {
            dir,
            child,
            port: 0,
            stderr,
        };
        let end = Instant::now() + DEADLINE;
        let mut log = Vec::new();
        let port = loop {
            let left = end.saturating_duration_since(Instant::now());
            match server.stderr.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = line.split("listening on ").nth(1) {
                        let port = addr.trim().rsplit(':').next().unwrap();
                        break port.parse::<u16>().expect("port in the listening line");
                    }
                    log.push(line);
                }
                Err(_) => panic!("chatd did not start listening; stderr: {log:#?}"),
            }
        };
        server.port = port;
        server
    }

    /// Sends a signal to chatd (SIGTERM: graceful shutdown; SIGKILL: crash).
    pub fn signal(&self, signal: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    /// Waits until chatd exited.
    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_child(&mut self.child, "chatd")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
        // The pipe closes when the process ends: drain what is left.
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => self.lines.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("{}: stdout stays open", self.name),
            }
        }
        status
            .code()
            .unwrap_or_else(|| panic!("{} was killed by a signal", self.name))
    }

    /// Everything printed on stderr (after the exit).
    pub fn stderr(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
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

/// The password of a sample account.
pub fn password(user: &str) -> &'static str {
    CREDENTIALS
        .lines()
        .find_map(|l| l.strip_prefix(user).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no sample account {user}"))
}

/// A piped client logged in as a sample user, reading commands as the test sends them.
pub fn online(server: &Server, user: &str) -> Piped {
    let mut p = Piped::start(user, server.port, &[], &[]);
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
