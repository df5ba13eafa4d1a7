//! chatd as a daemon (SPEC section 1): `--daemonize` with a pid file, SIGHUP reloading the
//! config for new sessions without dropping old ones, SIGTERM telling every client and exiting
//! 0. The real `chatd` binary throughout.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::*;
use proto::Event;

/// A daemonized chatd, found through its pid file; killed if a test fails before stopping it.
struct Daemon {
    pid_file: PathBuf,
    pid: Option<i32>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            if alive(pid) {
                // SAFETY: a plain kill of the daemon this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

#[test]
fn daemonize_writes_the_pid_file_answers_chatctl_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "");
    let args = [
        "--daemonize",
        "--pid-file",
        "chatd.pid",
        "--log-file",
        "chatd.log",
    ];
    let (code, err) = run_chatd(dir.path(), &args);
    assert_eq!(code, Some(0), "{err}");
    // The parent returned only once the daemon served: the pid file is already there.
    let pid_file = dir.path().join("chatd.pid");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut daemon = Daemon {
        pid_file: pid_file.clone(),
        pid: Some(pid),
    };
    assert!(alive(pid));
    assert_ne!(pid as u32, std::process::id());
    let out = chatctl(dir.path(), &["stats", "--json"]);
    out.ok();
    assert!(matches!(out.json(), proto::admin::AdminResponse::Stats(_)));

    // A second daemon on the same pid file is refused, naming the running one.
    let (code, err) = run_chatd(dir.path(), &args);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("already running") && err.contains(&format!("pid {pid}")),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );

    // The log went to the log file.
    let log = std::fs::read_to_string(dir.path().join("chatd.log")).unwrap();
    assert!(log.contains("listening on 127.0.0.1:"), "{log}");

    // SIGTERM: the daemon drains, removes its pid file and socket, and exits.
    // SAFETY: signalling the daemon this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    wait_until("the pid file is removed", || !daemon.pid_file.exists());
    wait_until("the daemon exits", || !alive(pid));
    daemon.pid = None;
    assert!(!dir.path().join("chatd.sock").exists());
    let log = std::fs::read_to_string(dir.path().join("chatd.log")).unwrap();
    assert!(
        log.contains("SIGTERM: shutting down") && log.contains("exiting"),
        "{log}"
    );
}

#[test]
fn daemon_start_up_errors_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    // data_dir is a file: the store cannot open, which happens after the fork.
    write_config(dir.path(), "");
    std::fs::write(dir.path().join("data"), "not a directory").unwrap();
    let (code, err) = run_chatd(dir.path(), &["--daemonize", "--pid-file", "chatd.pid"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("data"), "{err}");
    wait_until("the pid file is removed", || {
        !dir.path().join("chatd.pid").exists()
    });
    assert!(!dir.path().join("chatd.sock").exists());
}

#[test]
fn sighup_lowers_the_timeout_of_every_session_at_once() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "timeout = 600\n");
    let mut chatd = ChatdProcess::spawn(dir.path(), &[]);
    let mut hans = Client::login(chatd.addr, "hans", password("hans"));

    write_config(dir.path(), "timeout = 1\n");
    chatd.signal(libc::SIGHUP);
    chatd.wait_log("reloaded configuration and 10 accounts");
    // hans, idle since before the reload, is logged out under the new timeout, and so is a
    // session that starts after it.
    assert_eq!(hans.events_until_closed().last(), Some(&Event::Inactive));
    let mut luke = Client::login(chatd.addr, "luke", password("luke"));
    let events = luke.events_until_closed();
    assert_eq!(events.last(), Some(&Event::Inactive), "{events:?}");

    // A bad config on SIGHUP is refused and logged; chatd keeps serving.
    write_config(dir.path(), "timeout = -5\n");
    chatd.signal(libc::SIGHUP);
    let line = chatd.wait_log("reload failed, keeping the old configuration");
    assert!(line.contains("timeout = -5"), "{line}");
    assert!(line.contains("ERROR"), "{line}");
    drop(Client::login(chatd.addr, "yoda", password("yoda")));
}

#[test]
fn sigterm_tells_connected_clients_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "");
    let mut chatd = ChatdProcess::spawn(dir.path(), &[]);
    let mut hans = Client::login(chatd.addr, "hans", password("hans"));
    let mut waiting = Client::connect(chatd.addr);
    chatd.signal(libc::SIGTERM);
    assert_eq!(hans.events_until_closed().last(), Some(&Event::Shutdown));
    assert_eq!(waiting.events_until_closed().last(), Some(&Event::Shutdown));
    assert_eq!(chatd.wait_exit(), Some(0));
    assert!(chatd
        .log
        .iter()
        .any(|l| l.contains("SIGTERM: shutting down")));
    assert!(!dir.path().join("chatd.sock").exists());
}

#[test]
fn sigint_shuts_down_too() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "");
    let mut chatd = ChatdProcess::spawn(dir.path(), &[]);
    let mut hans = Client::login(chatd.addr, "hans", password("hans"));
    chatd.signal(libc::SIGINT);
    assert_eq!(hans.events_until_closed().last(), Some(&Event::Shutdown));
    assert_eq!(chatd.wait_exit(), Some(0));
}

/// Kills a foreground chatd started by hand if the test fails before it exits.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn systemd_is_told_ready_reloading_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "");
    let notify = UnixDatagram::bind(dir.path().join("notify.sock")).unwrap();
    notify.set_read_timeout(Some(DEADLINE)).unwrap();
    let next = || {
        let mut buf = [0u8; 4096];
        let n = notify
            .recv(&mut buf)
            .expect("a notification within the deadline");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let child = Command::new(chatd_bin())
        .current_dir(dir.path())
        .env("NOTIFY_SOCKET", dir.path().join("notify.sock"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut chatd = Reap(child);
    let ready = next();
    assert!(
        ready.contains("READY=1") && ready.contains("STATUS=listening on 127.0.0.1:"),
        "{ready}"
    );
    // Ready means the admin socket answers too.
    chatctl(dir.path(), &["stats"]).ok();

    let pid = chatd.0.id() as i32;
    // SAFETY: signalling the chatd this test started.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    let reloading = next();
    assert!(reloading.contains("RELOADING=1"), "{reloading}");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    assert!(next().contains("READY=1"));

    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert!(next().contains("STOPPING=1"));
    let status = wait_child(&mut chatd.0, "chatd").code();
    assert_eq!(status, Some(0));
}
