//! Test support for chatd's integration tests: [`TestServer`] runs the real server in-process
//! on 127.0.0.1 port 0 in a temp dir. Everything shared with the other crates' tests (the
//! binaries, the `chatd` process, the wire client, the sample accounts, deadlines) comes from
//! `testkit` and is re-exported here.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use chatd::{Config, ManualClock, Overrides, Running};
pub use testkit::*;

/// A config for tests: loopback, port 0, everything inside `dir`.
pub fn test_config(dir: &Path) -> Config {
    let mut c = Config {
        bind: "127.0.0.1".parse().unwrap(),
        port: 0,
        credentials: dir.join("credentials.txt"),
        data_dir: dir.join("data"),
        admin_socket: dir.join(ADMIN_SOCKET),
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
        write_credentials(dir.path());
        let mut config = test_config(dir.path());
        tweak(&mut config);
        Self::start_in(dir, config, None)
    }

    /// Starts after `tweak`, with the server's logic (timeouts, lockout, `whoelsesince`) on
    /// `clock`, which the test moves.
    pub fn start_with_clock(clock: &ManualClock, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        write_credentials(dir.path());
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
