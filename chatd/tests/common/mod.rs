//! Test support shared by chatd's integration tests: [`TestServer`] runs the real server
//! in-process on 127.0.0.1 port 0 in a temp dir; [`ChatdProcess`] runs the real `chatd`
//! binary; [`Client`] speaks the wire protocol over a real TCP socket with deadlines.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chatd::{Config, ManualClock, Overrides, Running};
use proto::{ClientFrame, Event, Request, Response, ServerFrame};

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

/// How long any single wait in a test may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Password of a sample account.
pub fn password(user: &str) -> &'static str {
    CREDENTIALS
        .lines()
        .find_map(|l| l.strip_prefix(user).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no sample account {user}"))
}

/// A config for tests: loopback, port 0, everything inside `dir`.
pub fn test_config(dir: &Path) -> Config {
    let mut c = Config {
        bind: "127.0.0.1".parse().unwrap(),
        port: 0,
        credentials: dir.join("credentials.txt"),
        data_dir: dir.join("data"),
        admin_socket: dir.join("chatd.sock"),
        ..Config::default()
    };
    c.timeout = Duration::from_secs(600);
    c
}

/// The real server, in-process, in its own temp dir.
pub struct TestServer {
    /// Holds credentials, store and socket.
    pub dir: tempfile::TempDir,
    /// The config it runs with.
    pub config: Config,
    running: Option<Running>,
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The clock the server's logic runs on, when the test drives it.
    clock: Option<ManualClock>,
}

impl TestServer {
    /// Starts with the sample accounts and default settings.
    pub fn start() -> TestServer {
        Self::start_with(|_| {})
    }

    /// Starts after `tweak` adjusts the config.
    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("credentials.txt"), CREDENTIALS).unwrap();
        let mut config = test_config(dir.path());
        tweak(&mut config);
        Self::start_in(dir, config, None)
    }

    /// Starts after `tweak`, with the server's logic (timeouts, lockout, `whoelsesince`) on
    /// `clock`, which the test moves.
    pub fn start_with_clock(clock: &ManualClock, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("credentials.txt"), CREDENTIALS).unwrap();
        let mut config = test_config(dir.path());
        tweak(&mut config);
        Self::start_in(dir, config, Some(clock.clone()))
    }

    fn start_in(dir: tempfile::TempDir, config: Config, clock: Option<ManualClock>) -> TestServer {
        let running = match &clock {
            Some(c) => chatd::start_with_clock(config.clone(), Overrides::default(), c.clone()),
            None => chatd::start(config.clone(), Overrides::default()),
        }
        .expect("chatd starts");
        let addr = running.local_addr();
        TestServer {
            dir,
            config,
            running: Some(running),
            addr,
            clock,
        }
    }

    /// The running server's shared state.
    pub fn shared(&self) -> &std::sync::Arc<chatd::Shared> {
        self.running.as_ref().unwrap().shared()
    }

    /// Graceful shutdown; returns the temp dir for a restart.
    pub fn stop(mut self) -> (tempfile::TempDir, Config) {
        if let Some(r) = self.running.take() {
            r.shutdown();
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (dir, self.config.clone())
    }

    /// Stops and starts again on the same files (a new port).
    pub fn restart(self) -> TestServer {
        let clock = self.clock.clone();
        let (dir, config) = self.stop();
        Self::start_in(dir, config, clock)
    }

    /// A connected, not yet logged-in client.
    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// A client logged in as a sample user.
    pub fn login(&self, user: &str) -> Client {
        Client::login(self.addr, user, password(user))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown();
        }
    }
}

/// A protocol client over a real socket. Every read has a deadline.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_id: u64,
    /// Events that arrived while waiting for a reply.
    events: VecDeque<Event>,
    /// The greeting.
    pub hello: proto::Hello,
}

impl Client {
    /// Connects and reads the greeting.
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut c = Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            next_id: 1,
            events: VecDeque::new(),
            hello: proto::Hello {
                protocol: 0,
                server: String::new(),
                max_line: 0,
            },
        };
        match c.read_frame() {
            Some(ServerFrame::Hello(h)) => c.hello = h,
            other => panic!("expected hello, got {other:?}"),
        }
        c
    }

    /// Connects and logs in; panics unless welcomed.
    pub fn login(addr: SocketAddr, user: &str, password: &str) -> Client {
        let mut c = Client::connect(addr);
        let r = c.request(Request::Login { user: user.into() });
        assert!(
            matches!(r, Response::PasswordRequired | Response::NewUser),
            "login {user}: {r:?}"
        );
        let r = c.request(Request::Password {
            password: password.into(),
        });
        assert!(
            matches!(r, Response::Welcome { .. }),
            "password {user}: {r:?}"
        );
        c
    }

    /// Reads one frame; `None` at end of stream. Panics on timeout.
    pub fn read_frame(&mut self) -> Option<ServerFrame> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            // A line cut off by the end of the stream (the server was killed mid-write) is
            // not a frame.
            Ok(_) if !line.ends_with('\n') => None,
            Ok(_) => Some(ServerFrame::decode(line.trim_end().as_bytes()).expect("valid frame")),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!("no frame within {DEADLINE:?}")
            }
            Err(_) => None,
        }
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// Sends raw bytes, reporting (not panicking on) a write error: for hostile input the
    /// server may close the connection before reading everything.
    pub fn writer_write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Sends a request and returns its reply, keeping events that arrive first.
    pub fn request(&mut self, request: Request) -> Response {
        let id = self.next_id;
        self.next_id += 1;
        let line = ClientFrame {
            id: Some(id),
            request,
        }
        .encode();
        self.writer.write_all(line.as_bytes()).unwrap();
        self.reply_to(Some(id))
    }

    /// Reads until the reply with `id`.
    pub fn reply_to(&mut self, id: Option<u64>) -> Response {
        loop {
            match self.read_frame() {
                Some(ServerFrame::Reply { id: got, response }) if got == id => return response,
                Some(ServerFrame::Reply { id: got, response }) => {
                    panic!("reply for {got:?} while waiting for {id:?}: {response:?}")
                }
                Some(ServerFrame::Event(e)) => self.events.push_back(e),
                Some(ServerFrame::Hello(_)) => panic!("second hello"),
                None => panic!("connection closed while waiting for reply {id:?}"),
            }
        }
    }

    /// The next event (waiting up to the deadline).
    pub fn event(&mut self) -> Event {
        if let Some(e) = self.events.pop_front() {
            return e;
        }
        match self.read_frame() {
            Some(ServerFrame::Event(e)) => e,
            Some(other) => panic!("expected an event, got {other:?}"),
            None => panic!("connection closed while waiting for an event"),
        }
    }

    /// Events received so far without waiting further: does a `whoelse` round trip first,
    /// so everything the server queued before now has arrived.
    pub fn drain_events(&mut self) -> Vec<Event> {
        self.request(Request::Whoelse);
        self.events.drain(..).collect()
    }

    /// Reads to end of stream, returning the events seen; panics if it does not close in time.
    pub fn events_until_closed(&mut self) -> Vec<Event> {
        let mut out: Vec<Event> = self.events.drain(..).collect();
        while let Some(frame) = self.read_frame() {
            if let ServerFrame::Event(e) = frame {
                out.push(e);
            }
        }
        out
    }

    /// Names from a `users` reply.
    pub fn users(&mut self, request: Request) -> Vec<String> {
        match self.request(request) {
            Response::Users { users } => users,
            other => panic!("expected users, got {other:?}"),
        }
    }

    /// The error code of a request expected to fail.
    pub fn error_code(&mut self, request: Request) -> proto::ErrorCode {
        match self.request(request) {
            Response::Error { code, .. } => code,
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

/// Shorthand for a `message` request.
pub fn msg(to: &str, text: &str) -> Request {
    Request::Message {
        to: to.into(),
        text: text.into(),
    }
}

/// The real `chatd` binary, started in `dir` with `args`; stderr is collected and the
/// "listening on" line gives the address.
pub struct ChatdProcess {
    /// The child.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Lines chatd wrote to stderr so far (filled by a reader thread).
    pub stderr: mpsc::Receiver<String>,
    /// Everything read from stderr, for assertions.
    pub log: Vec<String>,
}

/// Path of the chatd binary under test.
pub fn chatd_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_chatd"))
}

impl ChatdProcess {
    /// Starts `chatd ARGS` in `dir` and waits (with a deadline) for it to listen.
    pub fn spawn(dir: &Path, args: &[&str]) -> ChatdProcess {
        let mut child = Command::new(chatd_bin())
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chatd");
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut p = ChatdProcess {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            stderr: rx,
            log: Vec::new(),
        };
        let line = p.wait_log("listening on ");
        let addr = line.rsplit("listening on ").next().unwrap().trim();
        p.addr = addr.parse().expect("address in the listening line");
        p
    }

    /// Waits for a stderr line containing `needle`; panics after the deadline.
    pub fn wait_log(&mut self, needle: &str) -> String {
        let end = Instant::now() + DEADLINE;
        if let Some(l) = self.log.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
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

    /// Sends a signal.
    pub fn signal(&self, sig: i32) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit (deadline) and returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.stderr.try_recv() {
                    self.log.push(line);
                }
                return status.code();
            }
            assert!(Instant::now() < end, "chatd did not exit in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChatdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
