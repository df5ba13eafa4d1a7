//! Piped mode against a real `chatd`: the login dialogue, script directives, `--strict`,
//! escaping, and the exit status of every way a session can end.

mod common;

use common::{assert_lines, ChatdProcess, Piped};

const WELCOME: &str = "Welcome to the greatest messaging application ever!";

#[test]
fn logout_at_end_of_input_exits_0() {
    let server = ChatdProcess::start("");
    let mut c = Piped::script("hans", server.port(), "hans\nfalcon*solo\nwhoelse\n");
    assert_eq!(c.finish(), 0);
    assert_lines("hans", &c.lines, &[WELCOME]);
}

#[test]
fn logout_command_ends_the_script() {
    let server = ChatdProcess::start("");
    let mut c = Piped::script(
        "hans",
        server.port(),
        "hans\nfalcon*solo\nlogout\nbroadcast never sent\n",
    );
    assert_eq!(c.finish(), 0);
    assert_lines("hans", &c.lines, &[WELCOME]);
}

#[test]
fn usage_and_unknown_commands() {
    let server = ChatdProcess::start("");
    let script = "hans\nfalcon*solo\n\
        message\nmessage yoda\nbroadcast\nwhoelse now\nwhoelsesince\nwhoelsesince -3\n\
        whoelsesince soon\nblock\nunblock a b\nlogout please\ndance\nMESSAGE yoda hi\n\
        message yoda hi\nblock nobody_here\nunblock hans\nhelp\n";
    let mut c = Piped::script("hans", server.port(), script);
    assert_eq!(
        c.finish(),
        0,
        "errors do not fail a script without --strict"
    );
    assert_eq!(
        &c.lines[..16],
        &[
            WELCOME,
            "Error. Usage: message <user> <message>",
            "Error. Usage: message <user> <message>",
            "Error. Usage: broadcast <message>",
            "Error. Usage: whoelse",
            "Error. Usage: whoelsesince <seconds>",
            "Error. Usage: whoelsesince <seconds>",
            "Error. Usage: whoelsesince <seconds>",
            "Error. Usage: block <user>",
            "Error. Usage: unblock <user>",
            "Error. Usage: logout",
            "Error. Invalid command",
            "Error. Invalid command",
            // `message yoda hi`: yoda is offline, the message is stored, nothing to say.
            "Error. Invalid user",
            "Error. Cannot unblock self",
            "Commands:",
        ]
    );
    let help = c.lines[16..].join("\n");
    for usage in [
        "message <user> <message>",
        "broadcast <message>",
        "whoelse",
        "whoelsesince <seconds>",
        "block <user>",
        "unblock <user>",
        "logout",
        "help",
    ] {
        assert!(help.contains(usage), "help lists {usage}: {help}");
    }
}

#[test]
fn new_user_registers_then_logs_in_again() {
    let server = ChatdProcess::start("");
    let mut c = Piped::script("newbie", server.port(), "newbie\nsecret#1\n");
    assert_eq!(c.finish(), 0, "stderr: {}", c.stderr());
    assert_lines(
        "newbie",
        &c.lines,
        &["This is a new user. Enter a password: ", WELCOME],
    );
    let mut again = Piped::script("newbie", server.port(), "newbie\nsecret#1\n");
    assert_eq!(again.finish(), 0);
    assert_lines("newbie", &again.lines, &[WELCOME]);
}

#[test]
fn wrong_password_retries_then_blocks_and_locks() {
    let server = ChatdProcess::start("");
    let mut c = Piped::script("hans", server.port(), "hans\nwrong1\nfalcon*solo\n");
    assert_eq!(c.finish(), 0);
    assert_lines(
        "hans",
        &c.lines,
        &["Invalid Password. Please try again", WELCOME],
    );

    let mut c = Piped::script("hans", server.port(), "hans\nx\ny\nz\nfalcon*solo\n");
    assert_eq!(c.finish(), 2, "three wrong passwords: login failure");
    assert_lines(
        "hans",
        &c.lines,
        &[
            "Invalid Password. Please try again",
            "Invalid Password. Please try again",
            "Invalid Password. Your account has been blocked. Please try again later",
        ],
    );

    let mut c = Piped::script("hans", server.port(), "hans\nfalcon*solo\n");
    assert_eq!(c.finish(), 2, "locked account: login failure");
    assert_lines(
        "hans",
        &c.lines,
        &["Your account is blocked due to multiple login failures. Please try again later"],
    );
}

#[test]
fn end_of_input_during_login_exits_2_and_says_where() {
    let server = ChatdProcess::start("");
    for (script, said) in [
        (
            "",
            "chat: <stdin>:0: the input ended during the login (expected a user name)",
        ),
        (
            "hans\n",
            "chat: <stdin>:1: the input ended during the login (expected a password)",
        ),
        (
            "# only a comment\n",
            "chat: <stdin>:1: the input ended during the login (expected a user name)",
        ),
        (
            "newbie2\n",
            "chat: <stdin>:1: the input ended during the login (expected a password)",
        ),
    ] {
        let mut c = Piped::script("eof", server.port(), script);
        assert_eq!(c.finish(), 2, "script {script:?}");
        assert_eq!(c.stderr().trim_end(), said, "script {script:?}");
    }
}

#[test]
fn bad_user_name_exits_2() {
    let server = ChatdProcess::start("");
    let mut c = Piped::script("bad", server.port(), "no spaces allowed\nfalcon*solo\n");
    assert_eq!(c.finish(), 2);
    assert_eq!(c.lines.len(), 1, "{:?}", c.lines);
    assert!(c.lines[0].starts_with("Error. "), "{:?}", c.lines);
}

#[test]
fn already_logged_in_asks_for_another_name() {
    let server = ChatdProcess::start("");
    let mut hans = Piped::start("hans", server.port(), &[], &[]);
    hans.send("hans");
    hans.send("falcon*solo");
    hans.expect(WELCOME);
    let mut other = Piped::script("other", server.port(), "hans\nyoda\nwise@!man\nwhoelse\n");
    assert_eq!(other.finish(), 0);
    assert_lines(
        "other",
        &other.lines,
        &["Error. hans is already logged in", WELCOME, "hans"],
    );
    hans.expect("yoda logged in");
    hans.close_stdin();
    assert_eq!(hans.finish(), 0);
}

#[test]
fn user_flag_and_password_from_environment() {
    let server = ChatdProcess::start("");
    let mut c = Piped::script_with(
        "hans",
        server.port(),
        "whoelse\n",
        &["--user", "hans"],
        &[("CHAT_PASSWORD", "falcon*solo")],
    );
    assert_eq!(c.finish(), 0);
    assert_lines("hans", &c.lines, &[WELCOME]);

    let mut c = Piped::script_with(
        "hans",
        server.port(),
        "whoelse\n",
        &["--user", "hans"],
        &[("CHAT_PASSWORD", "not-it")],
    );
    assert_eq!(
        c.finish(),
        2,
        "a wrong CHAT_PASSWORD in a script fails the login"
    );
    assert_lines("hans", &c.lines, &["Invalid Password. Please try again"]);
}

#[test]
fn failed_wait_fails_the_script() {
    let server = ChatdProcess::start("");
    let mut c = Piped::script(
        "hans",
        server.port(),
        "hans\nfalcon*solo\n.wait nobody says this 0.2\nwhoelse\nmessage hans hi\n",
    );
    assert_eq!(c.finish(), 1);
    assert_lines("hans", &c.lines, &[WELCOME, "Error. Cannot message self"]);
    let stderr = c.stderr();
    assert!(
        stderr.contains("chat: <stdin>:3: .wait") && stderr.contains("nobody says this"),
        "{stderr}"
    );
}

#[test]
fn wait_sees_lines_printed_before_it_once() {
    let server = ChatdProcess::start("");
    // The welcome line was printed before the first .wait: it counts, but only once.
    let mut c = Piped::script(
        "hans",
        server.port(),
        "hans\nfalcon*solo\n.wait Welcome 1\n.sleep 0.05\n.wait Welcome 0.2\n",
    );
    assert_eq!(c.finish(), 1);
    assert!(c.stderr().contains("chat: <stdin>:5: "), "{}", c.stderr());
}

#[test]
fn bad_directive_fails_the_script() {
    let server = ChatdProcess::start("");
    let mut c = Piped::script("hans", server.port(), "hans\nfalcon*solo\n.dance\n");
    assert_eq!(c.finish(), 1);
    assert!(c.stderr().contains("unknown directive"), "{}", c.stderr());
}

#[test]
fn strict_stops_at_first_error_line() {
    let server = ChatdProcess::start("");
    let mut yoda = Piped::start("yoda", server.port(), &[], &[]);
    yoda.send("yoda");
    yoda.send("wise@!man");
    yoda.expect(WELCOME);
    let mut hans = Piped::script_with(
        "hans",
        server.port(),
        "hans\nfalcon*solo\nmessage yoda one\ndance\nmessage yoda two\n",
        &["--strict"],
        &[],
    );
    assert_eq!(hans.finish(), 1);
    assert_lines("hans", &hans.lines, &[WELCOME, "Error. Invalid command"]);
    assert_eq!(
        hans.stderr().trim_end(),
        "chat: <stdin>:4: stopped by --strict: Error. Invalid command"
    );
    yoda.expect("hans: one");
    yoda.expect("hans logged out");
    assert!(
        !yoda.lines.iter().any(|l| l.contains("two")),
        "{:?}",
        yoda.lines
    );

    let mut c = Piped::script_with(
        "hans",
        server.port(),
        "hans\nfalcon*solo\n.wait never 0.1\nmessage yoda three\n",
        &["-e"],
        &[],
    );
    assert_eq!(c.finish(), 1);
    yoda.expect("hans logged out");
    assert!(!yoda.lines.iter().any(|l| l.contains("three")));
    yoda.close_stdin();
    assert_eq!(yoda.finish(), 0);
}

#[test]
fn escapes_reach_the_recipient_escaped() {
    let server = ChatdProcess::start("");
    let mut luke = Piped::start("luke", server.port(), &[], &[]);
    luke.send("luke");
    luke.send("light==saber");
    luke.expect(WELCOME);
    let mut hans = Piped::start("hans", server.port(), &[], &[]);
    hans.send_raw(b"hans\nfalcon*solo\nmessage luke hi \x1b[2J\x1b]0;owned\x07 \xc2\x9b31m bye\n");
    hans.close_stdin();
    assert_eq!(hans.finish(), 0);
    let line = luke.expect("hans: hi");
    assert_eq!(line, "hans: hi \\x1b[2J\\x1b]0;owned\\x07 \\u{9b}31m bye");
    luke.close_stdin();
    assert_eq!(luke.finish(), 0);
}

#[test]
fn server_shutdown_exits_3() {
    let mut server = ChatdProcess::start("");
    let mut c = Piped::start("hans", server.port(), &[], &[]);
    c.send("hans");
    c.send("falcon*solo");
    c.expect(WELCOME);
    server.signal(libc::SIGTERM);
    assert_eq!(c.finish(), 3);
    assert_lines("hans", &c.lines, &[WELCOME, "The server is shutting down"]);
    server.wait_exit();
}

#[test]
fn lost_connection_exits_3() {
    let mut server = ChatdProcess::start("");
    let mut c = Piped::start("hans", server.port(), &[], &[]);
    c.send("hans");
    c.send("falcon*solo");
    c.expect(WELCOME);
    server.signal(libc::SIGKILL);
    server.wait_exit();
    assert_eq!(c.finish(), 3);
    assert_lines(
        "hans",
        &c.lines,
        &[WELCOME, "Connection to the server lost"],
    );
}

#[test]
fn inactivity_logout_exits_3() {
    let server = ChatdProcess::start("timeout = 1\n");
    let mut c = Piped::start("hans", server.port(), &[], &[]);
    c.send("hans");
    c.send("falcon*solo");
    c.expect(WELCOME);
    // No command: the server logs the session out after a second.
    assert_eq!(c.finish(), 3);
    assert_lines(
        "hans",
        &c.lines,
        &[WELCOME, "You have been logged out due to inactivity"],
    );
}

#[test]
fn cannot_connect_names_the_address() {
    // A socket bound but never listening holds the port, so connecting is refused and no
    // other process can start listening there during the test.
    let (_held, port) = bound_not_listening();
    let mut c = Piped::script("nobody", port, "hans\n");
    assert_eq!(c.finish(), 3);
    assert!(c.lines.is_empty(), "{:?}", c.lines);
    let stderr = c.stderr();
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("refused"),
        "{stderr}"
    );
}

#[test]
fn overlong_message_is_refused_by_the_client() {
    let server = ChatdProcess::start("");
    let long = "x".repeat(proto_max_line() + 10);
    let script = format!("hans\nfalcon*solo\nmessage yoda {long}\nmessage hans still here\n");
    let mut c = Piped::script("hans", server.port(), &script);
    assert_eq!(c.finish(), 0, "the session survives");
    assert_lines(
        "hans",
        &c.lines,
        &[
            WELCOME,
            "Error. Message too long",
            "Error. Cannot message self",
        ],
    );
}

/// The protocol's default line limit (`limits.max_line_bytes`).
fn proto_max_line() -> usize {
    65536
}

/// A TCP socket bound to 127.0.0.1 on a free port without listening, and that port.
fn bound_not_listening() -> (std::os::fd::OwnedFd, u16) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a fresh descriptor that the OwnedFd then owns.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket");
        let owned = std::os::fd::OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let rc = libc::bind(fd, std::ptr::addr_of!(addr).cast(), len);
        assert_eq!(rc, 0, "bind");
        let mut out: libc::sockaddr_in = std::mem::zeroed();
        let mut out_len = len;
        let rc = libc::getsockname(fd, std::ptr::addr_of_mut!(out).cast(), &mut out_len);
        assert_eq!(rc, 0, "getsockname");
        (owned, u16::from_be(out.sin_port))
    }
}

#[test]
fn terminal_words_and_times_stay_off_in_scripts_unless_asked() {
    let server = ChatdProcess::start("");
    let mut yoda = Piped::start("yoda", server.port(), &["--timestamps"], &[]);
    yoda.send("yoda");
    yoda.send("wise@!man");
    yoda.expect(WELCOME);
    // Scripts keep the SPEC's lines: `?`, `quit` and `exit` are no commands there.
    let mut hans = Piped::script(
        "hans",
        server.port(),
        "hans\nfalcon*solo\n.wait Welcome\n?\nquit\nhelp block\nmessage yoda Hey Dude\n",
    );
    assert_eq!(hans.finish(), 0);
    assert_lines(
        "hans",
        &hans.lines,
        &[
            WELCOME,
            "Error. Invalid command",
            "Error. Invalid command",
            "Usage: block <user>",
            "  Stop a user's messages, broadcasts and presence from reaching you",
            "Example: block vader",
        ],
    );
    // --timestamps: `HH:MM hans: Hey Dude` (tests run with TZ=UTC).
    let line = yoda.expect("hans: Hey Dude");
    let (time, rest) = line.split_once(' ').unwrap();
    assert_eq!(rest, "hans: Hey Dude", "{line}");
    assert!(
        time.len() == 5
            && time.as_bytes()[2] == b':'
            && time.replace(':', "").parse::<u32>().is_ok(),
        "{line}"
    );
    yoda.close_stdin();
    assert_eq!(yoda.finish(), 0);
}

#[test]
fn dash_c_logs_in_runs_each_command_and_logs_out() {
    let server = ChatdProcess::start("");
    let mut yoda = Piped::start("yoda", server.port(), &[], &[]);
    yoda.send("yoda");
    yoda.send("wise@!man");
    yoda.expect(WELCOME);
    // The user from --user, the password from CHAT_PASSWORD.
    let mut hans = Piped::script_with(
        "hans",
        server.port(),
        "",
        &[
            "--user",
            "hans",
            "-c",
            "message yoda first",
            "-c",
            "whoelse",
        ],
        &[("CHAT_PASSWORD", "falcon*solo")],
    );
    assert_eq!(hans.finish(), 0);
    assert_lines("hans", &hans.lines, &[WELCOME, "yoda"]);
    yoda.expect("hans: first");
    yoda.expect("hans logged out");
    // The login from stdin; a failing command under --strict names its -c.
    let mut luke = Piped::script_with(
        "luke",
        server.port(),
        "luke\nlight==saber\n",
        &[
            "-e",
            "-c",
            "whoelse",
            "-c",
            "message nobody x",
            "-c",
            "message yoda never",
        ],
        &[],
    );
    assert_eq!(luke.finish(), 1);
    assert_lines(
        "luke",
        &luke.lines,
        &[WELCOME, "yoda", "Error. Invalid user"],
    );
    assert_eq!(
        luke.stderr().trim_end(),
        "chat: -c 2: stopped by --strict: Error. Invalid user"
    );
    yoda.expect("luke logged out");
    assert!(!yoda.lines.iter().any(|l| l.contains("never")));
    yoda.close_stdin();
    assert_eq!(yoda.finish(), 0);
}

#[test]
fn dash_f_runs_a_script_file_and_names_it_in_errors() {
    let server = ChatdProcess::start("");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hello.chat");
    std::fs::write(
        &script,
        "# a script file\nhans\nfalcon*solo\nwhoelse\n.wait nobody 0.1\nmessage hans hi\n",
    )
    .unwrap();
    let name = script.display().to_string();
    // stdin is ignored: the file is the script.
    let mut c = Piped::script_with("hans", server.port(), "dance\n", &["-f", &name], &[]);
    assert_eq!(c.finish(), 1);
    assert_lines("hans", &c.lines, &[WELCOME, "Error. Cannot message self"]);
    assert!(
        c.stderr()
            .starts_with(&format!("chat: {name}:5: .wait \"nobody\"")),
        "{}",
        c.stderr()
    );
    let mut missing = Piped::script_with("x", server.port(), "", &["-f", "/nonexistent/x"], &[]);
    assert_eq!(missing.finish(), 2);
    assert!(missing.stderr().contains("cannot read /nonexistent/x"));
}

#[test]
fn completions_and_man_page_are_printed() {
    for shell in ["bash", "zsh", "fish"] {
        let out = std::process::Command::new(testkit::chat_bin())
            .args(["--completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("chat") && text.contains("timestamps"),
            "{shell}: {text}"
        );
    }
    let out = std::process::Command::new(testkit::chat_bin())
        .arg("--manpage")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(".ie") || text.contains(".TH chat"),
        "{text}"
    );
    assert!(text.contains("\\-\\-completions"), "{text}");
    // Output that cannot be written is an error, not a panic.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = std::process::Command::new(testkit::chat_bin())
        .arg("--manpage")
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("chat: cannot write the man page: "),
        "{err}"
    );
}

/// Stores `texts` from hans for luke (offline) through a piped hans.
fn store_for_luke(server: &ChatdProcess, texts: &[&str]) {
    let mut script = String::from("hans\nfalcon*solo\n");
    for t in texts {
        script.push_str(&format!("message luke {t}\n"));
    }
    let mut hans = Piped::script("hans", server.port(), &script);
    assert_eq!(hans.finish(), 0);
}

#[test]
fn shown_message_ids_are_kept_per_server_and_user_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let server = ChatdProcess::start("");
    store_for_luke(&server, &["one", "two", "three"]);
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("state/seen");
    let seen_env = seen.to_str().unwrap();
    let mut luke = Piped::script_with(
        "luke",
        server.port(),
        "luke\nlight==saber\n.wait hans: three\n",
        &[],
        &[("CHAT_SEEN_DIR", seen_env)],
    );
    assert_eq!(luke.finish(), 0, "{}", luke.stderr());
    assert_eq!(luke.count("hans: "), 3);
    assert_eq!(luke.stderr(), "");
    // One file for this server and user.
    let server_dir = seen.join(format!("127.0.0.1_{}", server.port()));
    let file = server_dir.join("luke");
    let ids: Vec<u64> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids[0] < ids[1] && ids[1] < ids[2], "{ids:?}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&server_dir), 0o700);
    assert_eq!(mode(&seen), 0o700);
}

#[test]
fn an_unusable_seen_dir_is_reported_once_and_messages_still_show() {
    let server = ChatdProcess::start("");
    store_for_luke(&server, &["one", "two"]);
    let dir = tempfile::tempdir().unwrap();
    // A file where a directory should be: nothing can be created under it (even as root).
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, "").unwrap();
    let seen = blocker.join("seen");
    let mut luke = Piped::script_with(
        "luke",
        server.port(),
        "luke\nlight==saber\n.wait hans: two\nmessage hans back\n",
        &[],
        &[("CHAT_SEEN_DIR", seen.to_str().unwrap())],
    );
    assert_eq!(luke.finish(), 0);
    assert_eq!(luke.count("hans: one"), 1);
    assert_eq!(luke.count("hans: two"), 1);
    let stderr = luke.stderr();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("chat: cannot keep the messages shown in ")
            && stderr.contains("blocker/seen/127.0.0.1_"),
        "{stderr}"
    );
}

#[test]
fn a_seen_file_that_stops_growing_is_reported_once_and_messages_still_show() {
    use std::os::unix::process::CommandExt;
    let server = ChatdProcess::start("");
    store_for_luke(&server, &["one", "two", "three"]);
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    // Every file chat writes limited to 20 bytes (a full disk, without root): the first id
    // fits, the second does not.
    let mut cmd = std::process::Command::new(common::chat_bin());
    cmd.arg("127.0.0.1")
        .arg(server.port().to_string())
        .env("CHAT_SEEN_DIR", &seen)
        .env("CHAT_HISTFILE", "")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // SAFETY: only async-signal-safe calls (setrlimit, signal) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 20,
                rlim_max: 20,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"luke\nlight==saber\n.wait hans: three\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for t in ["one", "two", "three"] {
        assert_eq!(
            stdout.matches(&format!("hans: {t}\n")).count(),
            1,
            "{stdout}"
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("chat: cannot record shown messages in "),
        "{stderr}"
    );
    let kept =
        std::fs::read_to_string(seen.join(format!("127.0.0.1_{}/luke", server.port()))).unwrap();
    // The first id whole; of the second at most the bytes that fitted (skipped when read).
    let (first, rest) = kept.split_once('\n').unwrap();
    assert!(first.parse::<u64>().is_ok(), "{kept:?}");
    assert!(!rest.contains('\n'), "{kept:?}");
}
