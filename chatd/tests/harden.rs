//! Promises kept under hostile or unlucky conditions, against the real `chatd` binary (issue
//! 10): a registration cut short by a full file system is never an account, files are
//! owner-only whatever the umask, a reload reports skipped credential lines, invisible
//! passwords and `-` names are refused, a `bad_utf8` error keeps its request id, and password
//! hashing gives its memory back.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use proto::{ErrorCode, Request, Response, ServerFrame};
use testkit::*;

/// A tmpfs of `size` bytes mounted for one test; unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts one at `at`, or says why it cannot (not root, no mount permission).
    fn mount(at: &Path, size: usize) -> Result<Tmpfs, String> {
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        if uid != 0 {
            return Err(format!("mounting a tmpfs needs root (uid is {uid})"));
        }
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Page size of the tmpfs: it hands out whole pages.
const PAGE: usize = 4096;

/// A config for a chatd in `dir` whose credentials file is `credentials` (any path).
fn config_with_credentials(dir: &Path, credentials: &Path) {
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "port = 0\nbind = \"127.0.0.1\"\ncredentials = \"{}\"\ndata_dir = \"data\"\n\
             admin_socket = \"{ADMIN_SOCKET}\"\n",
            credentials.display()
        ),
    )
    .unwrap();
}

fn start(dir: &Path) -> ChatdProcess {
    ChatdProcess::spawn(dir, &["--config", "config.toml"])
}

/// `login user` then `password`, returning the password's answer.
fn try_register(addr: std::net::SocketAddr, user: &str, password: &str) -> Response {
    let mut c = Client::connect(addr);
    assert_eq!(
        c.request(Request::Login { user: user.into() }),
        Response::NewUser,
        "{user} should be a new name"
    );
    c.request(Request::Password {
        password: password.into(),
    })
}

fn is_error(r: &Response, code: ErrorCode) -> bool {
    matches!(r, Response::Error { code: c, .. } if *c == code)
}

#[test]
fn a_registration_cut_short_by_a_full_disk_is_never_an_account() {
    let root = tempfile::tempdir().unwrap();
    // The line chatd appends for "newbie": name, space, a 97-character argon2id string, newline.
    let line_len = "newbie ".len() + 97 + 1;
    // Cut before its first byte, in the name, right after the space, inside the hash, and
    // just before the newline.
    for cut in [0, 3, 7, 60, line_len - 1] {
        let dir = root.path().join(format!("cut{cut}"));
        std::fs::create_dir_all(&dir).unwrap();
        let disk = match Tmpfs::mount(&dir.join("disk"), 2 * PAGE) {
            Ok(d) => d,
            Err(why) => {
                eprintln!("SKIPPED a_registration_cut_short_by_a_full_disk: {why}");
                return;
            }
        };
        let credentials = disk.0.join("credentials.txt");
        // One page of accounts, padded so the new line crosses into the second page after
        // `cut` bytes, and one page of filler: the second page never comes.
        let mut text = CREDENTIALS.to_string();
        let pad = PAGE - cut - text.len();
        text.push('#');
        text.push_str(&"x".repeat(pad - 2));
        text.push('\n');
        assert_eq!(text.len(), PAGE - cut);
        std::fs::write(&credentials, &text).unwrap();
        std::fs::write(disk.0.join("filler"), vec![0u8; PAGE]).unwrap();
        config_with_credentials(&dir, &credentials);

        let mut chatd = start(&dir);
        for _ in 0..2 {
            let r = try_register(chatd.addr, "newbie", "n3w*pass");
            assert!(is_error(&r, ErrorCode::Internal), "cut {cut}: {r:?}");
            // The file is as it was, and the name is still free.
            assert_eq!(std::fs::read_to_string(&credentials).unwrap(), text);
        }
        // Everyone else is unaffected.
        Client::login(chatd.addr, "hans", password("hans"));
        chatd.stop();

        // After a restart (space freed) the name is still no account; registering it now
        // works, and that account survives the next restart.
        std::fs::remove_file(disk.0.join("filler")).unwrap();
        let mut chatd = start(&dir);
        assert!(matches!(
            try_register(chatd.addr, "newbie", "n3w*pass"),
            Response::Welcome { .. }
        ));
        chatd.stop();
        let mut chatd = start(&dir);
        Client::login(chatd.addr, "newbie", "n3w*pass");
        chatd.stop();
        assert!(
            !chatd.log.iter().any(|l| l.contains("skipped")),
            "{:#?}",
            chatd.log
        );
        drop(chatd);
        drop(disk);
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn files_are_owner_only_whatever_the_umask() {
    // chatd inherits this umask, under which files would be created 0644 and directories 0755.
    // SAFETY: umask has no preconditions; the tests of this file create nothing that a
    // looser or tighter umask would break.
    unsafe { libc::umask(0o022) };

    // A fresh start: nothing exists yet.
    let fresh = tempfile::tempdir().unwrap();
    config_with_credentials(fresh.path(), Path::new("credentials.txt"));
    let mut chatd = start(fresh.path());
    // A registration writes to the credentials file and the store (login history).
    assert!(matches!(
        try_register(chatd.addr, "newbie", "n3w*pass"),
        Response::Welcome { .. }
    ));
    let data = fresh.path().join("data");
    assert_eq!(mode(&fresh.path().join("credentials.txt")), 0o600);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("chat.db")), 0o600);
    assert_eq!(mode(&data.join("chat.db-wal")), 0o600);
    chatd.stop();

    // An existing data directory and files made readable by others (by hand, or by an older
    // chatd): tightened at start, and logged.
    let old = tempfile::tempdir().unwrap();
    write_config(old.path(), "");
    let data = old.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, PermissionsExt::from_mode(0o755)).unwrap();
    let open = |p: &Path| std::fs::set_permissions(p, PermissionsExt::from_mode(0o644)).unwrap();
    open(&old.path().join("credentials.txt"));
    let mut chatd = start(old.path());
    assert!(matches!(
        try_register(chatd.addr, "newbie", "n3w*pass"),
        Response::Welcome { .. }
    ));
    assert_eq!(mode(&old.path().join("credentials.txt")), 0o600);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("chat.db")), 0o600);
    assert_eq!(mode(&data.join("chat.db-wal")), 0o600);
    chatd.wait_log("credentials.txt was readable by others (mode 0644); changed to 0600");
    chatd.wait_log("data was readable by others (mode 0755); changed to 0700");
    chatd.stop();

    // The store's own files too (chat.db and its WAL left 0644 by an older chatd).
    for f in ["chat.db", "chat.db-wal", "chat.db-shm"] {
        if data.join(f).exists() {
            open(&data.join(f));
        }
    }
    let mut chatd = start(old.path());
    chatd.wait_log("chat.db was readable by others (mode 0644); changed to 0600");
    Client::login(chatd.addr, "newbie", "n3w*pass");
    for f in ["chat.db", "chat.db-wal", "chat.db-shm"] {
        if data.join(f).exists() {
            assert_eq!(mode(&data.join(f)), 0o600, "{f}");
        }
    }
    chatd.stop();
}

#[test]
fn reload_reports_skipped_credential_lines_and_exits_1() {
    let mut chatd = ChatdProcess::start("");
    let dir = chatd.dir().to_path_buf();
    // A name starting with `-`, a malformed line, and a registration cut short at the end.
    let mut text = CREDENTIALS.to_string();
    text.push_str("-h dash*pw\nno-password-here\nnewbie $argon2id$v=19$m=19");
    std::fs::write(dir.join("credentials.txt"), &text).unwrap();
    let ctl = chatctl(&dir, &["reload"]);
    assert_eq!(ctl.code, 1, "{ctl:?}");
    assert!(ctl.out.is_empty(), "{ctl:?}");
    assert!(
        ctl.err.contains("reloaded configuration and 10 accounts")
            && ctl.err.contains("3 lines of")
            && ctl.err.contains("skipped")
            && ctl.err.contains(": 11, 12, 13"),
        "{ctl:?}"
    );
    let json = chatctl(&dir, &["reload", "--json"]);
    assert_eq!(json.code, 1);
    assert_eq!(json.json_error_code(), "credentials_skipped");
    chatd.wait_log("credentials.txt:11: user names cannot start with `-`");
    chatd.wait_log("credentials.txt:13: the last line has no line end");
    // The reload was applied: the good accounts work, the skipped ones are not accounts.
    Client::login(chatd.addr, "yoda", password("yoda"));
    let mut c = Client::connect(chatd.addr);
    assert_eq!(
        c.request(Request::Login {
            user: "newbie".into()
        }),
        Response::NewUser
    );
    // A clean file reloads with exit 0.
    std::fs::write(dir.join("credentials.txt"), CREDENTIALS).unwrap();
    let out = chatctl(&dir, &["reload"]);
    assert_eq!(out.ok().trim(), "reloaded configuration and 10 accounts");
    chatd.stop();
}

#[test]
fn invisible_passwords_and_dash_names_are_refused() {
    let mut chatd = ChatdProcess::start("");
    let mut c = Client::connect(chatd.addr);
    for name in ["-h", "--all", "-"] {
        assert_eq!(
            c.error_code(Request::Login { user: name.into() }),
            ErrorCode::InvalidUsername,
            "{name}"
        );
    }
    for password in [
        "pass\u{200B}word",
        "\u{202E}drowssap",
        "pw\u{FEFF}",
        "pw\u{2066}x",
    ] {
        let r = try_register(chatd.addr, "newbie", password);
        assert!(
            is_error(&r, ErrorCode::InvalidPasswordFormat),
            "{password:?}: {r:?}"
        );
    }
    assert!(matches!(
        try_register(chatd.addr, "newbie", "visible-Ω"),
        Response::Welcome { .. }
    ));
    chatd.stop();
}

#[test]
fn a_bad_utf8_error_carries_the_request_id() {
    let mut chatd = ChatdProcess::start("");
    let mut c = Client::login(chatd.addr, "hans", password("hans"));
    c.send_raw(b"{\"id\":42,\"type\":\"message\",\"to\":\"yoda\",\"text\":\"\xff\xfe\"}\n");
    match c.read_frame() {
        Some(ServerFrame::Reply {
            id,
            response: Response::Error { code, .. },
        }) => {
            assert_eq!(code, ErrorCode::BadUtf8);
            assert_eq!(id, Some(42));
        }
        other => panic!("{other:?}"),
    }
    // An id that cannot be read stays absent.
    c.send_raw(b"\xff{\"id\":43}\n");
    match c.read_frame() {
        Some(ServerFrame::Reply { id, .. }) => assert_eq!(id, None),
        other => panic!("{other:?}"),
    }
    assert!(c.users(Request::Whoelse).is_empty());
    chatd.stop();
}

/// chatd's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

#[test]
fn a_wrong_password_flood_gives_the_hashing_memory_back() {
    // 400 accounts with plain-text passwords: every check costs one argon2 computation.
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "");
    let accounts: String = (0..400).map(|i| format!("user{i} pw{i}\n")).collect();
    std::fs::write(dir.path().join("credentials.txt"), accounts).unwrap();
    let mut chatd = start(dir.path());
    let pid = chatd.child.id();
    let idle = rss_kib(pid);
    // 40 connections at once, each trying two wrong passwords for 10 accounts (two, so no
    // account locks and every attempt is checked).
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(idle));
    let threads: Vec<_> = (0..40)
        .map(|t| {
            let (addr, peak) = (chatd.addr, std::sync::Arc::clone(&peak));
            std::thread::spawn(move || {
                for i in 0..10 {
                    let user = format!("user{}", t * 10 + i);
                    let mut c = Client::connect(addr);
                    c.request(Request::Login { user: user.clone() });
                    for _ in 0..2 {
                        let r = c.request(Request::Password {
                            password: "wrong".into(),
                        });
                        assert!(is_error(&r, ErrorCode::InvalidPassword), "{user}: {r:?}");
                    }
                    peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let after = rss_kib(pid);
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("chatd RSS: idle {idle} KiB, peak during 800 checks {peak} KiB, after {after} KiB");
    assert!(
        after < idle + 64 * 1024,
        "RSS {after} KiB after the flood, {idle} KiB idle"
    );
    assert!(
        peak < idle + 64 * 1024,
        "RSS peaked at {peak} KiB, {idle} KiB idle"
    );
    chatd.stop();
}

#[test]
fn a_private_listen_host_must_be_a_host_name_or_an_ip_address() {
    let mut chatd = ChatdProcess::start("");
    let mut c = Client::connect(chatd.addr);
    let long = ["abc"; 64].join(".");
    for host in [
        "\u{1b}]0;pwned\u{7}\u{1b}[2J",
        "evil host",
        "host:1234",
        long.as_str(),
        "",
    ] {
        let r = c.request(Request::PrivateListen {
            port: 4000,
            host: Some(host.into()),
            fingerprint: None,
        });
        assert!(is_error(&r, ErrorCode::InvalidHost), "{host:?}: {r:?}");
    }
    for host in ["127.0.0.1", "::1", "chat.example.org"] {
        let r = c.request(Request::PrivateListen {
            port: 4000,
            host: Some(host.into()),
            fingerprint: None,
        });
        assert_eq!(r, Response::Ok, "{host}");
    }
    c.log_in("hans", password("hans"));
    chatd.stop();
}
