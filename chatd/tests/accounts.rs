//! Accounts (issue 11) against the real `chatd` binary: names unique regardless of case,
//! `change_password`, an account deleted with `chatctl user del` or removed from the file and
//! reloaded leaving nothing behind for a later account of that name, a credentials file with
//! names differing only in case refused at start and at reload, and the registration limit.

use std::os::unix::fs::PermissionsExt;

use proto::{ErrorCode, Event, Request, Response};
use testkit::*;

fn start(dir: &std::path::Path, extra: &str) -> ChatdProcess {
    write_config(dir, extra);
    ChatdProcess::spawn(dir, &[])
}

fn welcome(c: &mut Client, password: &str) -> (String, u64) {
    match c.request(Request::Password {
        password: password.into(),
    }) {
        Response::Welcome { user, offline } => (user, offline),
        other => panic!("expected a welcome, got {other:?}"),
    }
}

fn credentials(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("credentials.txt")).unwrap()
}

#[test]
fn any_case_reaches_the_account_and_no_lookalike_can_register() {
    let dir = tempfile::tempdir().unwrap();
    let chatd = start(dir.path(), "");
    // `HANS` logs into hans, and the session has the registered name.
    let mut hans = Client::connect(chatd.addr);
    assert_eq!(
        hans.request(Request::Login {
            user: "HANS".into()
        }),
        Response::PasswordRequired
    );
    assert_eq!(welcome(&mut hans, password("hans")), ("hans".into(), 0));
    // `Hans` is not a new name: it is hans, already logged in.
    let mut other = Client::connect(chatd.addr);
    assert_eq!(
        other.error_code(Request::Login {
            user: "Hans".into()
        }),
        ErrorCode::AlreadyLoggedIn
    );
    // A new account keeps the case it was registered with; `rey` is then that account.
    let mut rey = Client::connect(chatd.addr);
    assert_eq!(
        rey.request(Request::Login { user: "Rey".into() }),
        Response::NewUser
    );
    assert_eq!(welcome(&mut rey, "jakku#1"), ("Rey".into(), 0));
    assert!(credentials(dir.path()).contains("\nRey $argon2id$"));
    rey.request(Request::Logout);
    let mut again = Client::connect(chatd.addr);
    assert_eq!(
        again.request(Request::Login { user: "rey".into() }),
        Response::PasswordRequired
    );
    assert_eq!(welcome(&mut again, "jakku#1"), ("Rey".into(), 0));

    // Every name lookup ignores case and answers with the registered name.
    let mut yoda = Client::login(chatd.addr, "yoda", password("yoda"));
    hans.drain_events();
    assert_eq!(
        yoda.request(msg("HaNs", "hi")),
        Response::Sent { stored: false }
    );
    assert_message(hans.event(), "yoda", "hi");
    assert_eq!(
        yoda.error_code(msg("YODA", "me")),
        ErrorCode::CannotMessageSelf
    );
    assert_eq!(
        yoda.request(Request::Block {
            user: "HANS".into()
        }),
        Response::Ok
    );
    assert_eq!(
        hans.error_code(msg("yoda", "blocked?")),
        ErrorCode::BlockedByRecipient
    );
    assert!(!hans.users(Request::Whoelse).contains(&"yoda".to_string()));
    assert_eq!(
        yoda.request(Request::Unblock {
            user: "hAnS".into()
        }),
        Response::Ok
    );
    assert_eq!(
        yoda.error_code(Request::StartPrivate {
            user: "Yoda".into()
        }),
        ErrorCode::CannotPrivateSelf
    );
    assert_eq!(
        chatctl(dir.path(), &["kick", "HANS"]).ok(),
        "hans was disconnected\n"
    );
}

#[test]
fn names_differing_only_in_case_are_refused_at_start_and_at_reload() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "");
    let path = dir.path().join("credentials.txt");
    std::fs::write(
        &path,
        "hans falcon*solo\n# a comment\nyoda wise@!man\nHans other\n",
    )
    .unwrap();
    let (code, log) = run_chatd(dir.path(), &[]);
    assert_ne!(code, Some(0), "{log}");
    assert!(
        log.contains("credentials.txt:4: user Hans is user hans of line 1 in another case"),
        "{log}"
    );

    // A running chatd refuses such a file at reload and keeps its accounts.
    write_credentials(dir.path());
    let mut chatd = ChatdProcess::spawn(dir.path(), &[]);
    std::fs::write(&path, format!("{CREDENTIALS}LUKE x\n")).unwrap();
    let reload = chatctl(dir.path(), &["reload"]);
    assert_eq!(reload.code, 1, "{reload:?}");
    assert!(
        reload
            .err
            .contains("credentials.txt:11: user LUKE is user luke of line 8"),
        "{reload:?}"
    );
    chatd.signal(libc::SIGHUP);
    chatd.wait_log("user LUKE is user luke of line 8");
    Client::login(chatd.addr, "luke", password("luke"));
    chatd.stop();
}

#[test]
fn change_password_rewrites_the_file_and_a_wrong_old_one_counts_toward_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let mut chatd = start(dir.path(), "block_duration = 3600\n");
    let mut hans = Client::login(chatd.addr, "hans", password("hans"));
    let change = |old: &str, new: &str| Request::ChangePassword {
        old: old.into(),
        new: new.into(),
    };
    assert_eq!(
        hans.error_code(change(password("hans"), "has space")),
        ErrorCode::InvalidPasswordFormat
    );
    assert_eq!(
        hans.error_code(change("wrong", "n3w#pass")),
        ErrorCode::InvalidPassword
    );
    assert_eq!(
        hans.request(change(password("hans"), "n3w#pass")),
        Response::Ok
    );
    let text = credentials(dir.path());
    assert!(text.starts_with("hans $argon2id$"), "{text}");
    assert!(!text.contains("falcon*solo"), "{text}");
    assert!(
        text.contains("yoda wise@!man\n"),
        "other lines stay: {text}"
    );
    let mode = std::fs::metadata(dir.path().join("credentials.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    hans.request(Request::Logout);

    // The new password works, the old one no longer does.
    let mut c = Client::connect(chatd.addr);
    c.request(Request::Login {
        user: "hans".into(),
    });
    assert_eq!(
        c.error_code(Request::Password {
            password: password("hans").into()
        }),
        ErrorCode::InvalidPassword
    );
    assert_eq!(welcome(&mut c, "n3w#pass").0, "hans");
    // ...also after a restart.
    c.request(Request::Logout);
    chatd.stop();
    let mut chatd = ChatdProcess::spawn(dir.path(), &[]);
    let mut hans = Client::login(chatd.addr, "hans", "n3w#pass");

    // Wrong old passwords count like failed logins (the earlier wrong login was cleared by
    // the right one): the third locks the account for new logins; this session goes on.
    assert_eq!(
        hans.error_code(change("nope1", "x")),
        ErrorCode::InvalidPassword
    );
    assert_eq!(
        hans.error_code(change("nope2", "x")),
        ErrorCode::InvalidPassword
    );
    assert_eq!(
        hans.error_code(change("nope3", "x")),
        ErrorCode::AccountBlocked
    );
    assert_eq!(
        hans.error_code(change("n3w#pass", "x")),
        ErrorCode::AccountLocked
    );
    let mut elsewhere = Client::connect(chatd.addr);
    assert_eq!(
        elsewhere.error_code(Request::Login {
            user: "hans".into()
        }),
        ErrorCode::AccountLocked
    );
    assert!(hans.users(Request::Whoelse).is_empty());
    chatd.wait_log("hans locked for 3600s after failed logins addr=127.0.0.1");
    chatd.wait_log("login refused: hans is locked addr=127.0.0.1");
    assert!(chatd
        .log
        .iter()
        .all(|l| !l.contains("n3w#pass") && !l.contains("nope")));
}

/// What an account leaves behind, set up for `yoda` while it is offline: a message stored for
/// it, its own block of vader, luke's block of it, and its login history.
fn leave_traces_of_yoda(chatd: &ChatdProcess) {
    let mut yoda = Client::login(chatd.addr, "yoda", password("yoda"));
    assert_eq!(
        yoda.request(Request::Block {
            user: "vader".into()
        }),
        Response::Ok
    );
    yoda.request(Request::Logout);
    let mut luke = Client::login(chatd.addr, "luke", password("luke"));
    assert_eq!(
        luke.request(Request::Block {
            user: "yoda".into()
        }),
        Response::Ok
    );
    luke.request(Request::Logout);
    let mut hans = Client::login(chatd.addr, "hans", password("hans"));
    assert_eq!(
        hans.request(msg("yoda", "for the old yoda")),
        Response::Sent { stored: true }
    );
    assert!(hans
        .users(Request::Whoelsesince { seconds: 3600 })
        .contains(&"yoda".to_string()));
    hans.request(Request::Logout);
}

/// A new `yoda` finds none of it.
fn new_yoda_starts_empty(chatd: &ChatdProcess) {
    let mut hans = Client::login(chatd.addr, "hans", password("hans"));
    assert!(
        !hans
            .users(Request::Whoelsesince { seconds: 3600 })
            .contains(&"yoda".to_string()),
        "the old yoda's login history is gone"
    );
    let mut yoda = Client::connect(chatd.addr);
    assert_eq!(
        yoda.request(Request::Login {
            user: "yoda".into()
        }),
        Response::NewUser
    );
    assert_eq!(
        welcome(&mut yoda, "new*yoda"),
        ("yoda".into(), 0),
        "no stored messages"
    );
    // Its blocks are gone: vader reaches it...
    let mut vader = Client::login(chatd.addr, "vader", password("vader"));
    yoda.drain_events();
    assert_eq!(
        vader.request(msg("yoda", "hello new yoda")),
        Response::Sent { stored: false }
    );
    assert_message(yoda.event(), "vader", "hello new yoda");
    // ...and luke's block of the old yoda does not apply to the new one.
    assert_eq!(
        yoda.request(msg("luke", "hi luke")),
        Response::Sent { stored: true }
    );
    assert_eq!(
        yoda.error_code(Request::Unblock {
            user: "vader".into()
        }),
        ErrorCode::NotBlocked
    );
}

#[test]
fn a_deleted_account_leaves_nothing_for_a_later_one_of_that_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut chatd = start(dir.path(), "");
    leave_traces_of_yoda(&chatd);
    // Deleting an online account logs it out with a reason; the others see the logout.
    let mut leia = Client::login(chatd.addr, "leia", password("leia"));
    let mut hans = Client::login(chatd.addr, "hans", password("hans"));
    leia.drain_events();
    assert_eq!(
        chatctl(dir.path(), &["user", "del", "LEIA"]).ok(),
        "account leia deleted (it was online: disconnected)\n"
    );
    assert_eq!(
        leia.events_until_closed().last(),
        Some(&Event::Kicked {
            reason: Some("Your account has been deleted".into())
        })
    );
    assert_eq!(
        hans.event(),
        Event::Presence {
            user: "leia".into(),
            online: false,
            ts: None,
        }
    );
    assert_eq!(
        hans.error_code(msg("leia", "gone?")),
        ErrorCode::InvalidUser
    );
    hans.request(Request::Logout);

    assert_eq!(
        chatctl(dir.path(), &["user", "del", "yoda"]).ok(),
        "account yoda deleted\n"
    );
    let text = credentials(dir.path());
    assert!(!text.contains("yoda") && !text.contains("leia"), "{text}");
    assert!(
        text.contains("hans falcon*solo\nvader sithlord**\n"),
        "{text}"
    );
    let again = chatctl(dir.path(), &["--json", "user", "del", "yoda"]);
    assert_eq!(
        (again.code, again.json_error_code().as_str()),
        (1, "invalid_user")
    );
    chatd.wait_log("admin: deleted account yoda");
    // The store forgot it too: nothing comes back after a restart.
    chatd.stop();
    let mut chatd = ChatdProcess::spawn(dir.path(), &[]);
    new_yoda_starts_empty(&chatd);
    chatd.stop();
}

#[test]
fn a_line_removed_by_hand_and_a_reload_delete_the_account_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let mut chatd = start(dir.path(), "");
    leave_traces_of_yoda(&chatd);
    // yoda is online when its line goes.
    let mut yoda = Client::login(chatd.addr, "yoda", password("yoda"));
    let without: String = CREDENTIALS
        .lines()
        .filter(|l| !l.starts_with("yoda "))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.path().join("credentials.txt"), without).unwrap();
    assert_eq!(
        chatctl(dir.path(), &["reload"]).ok(),
        "reloaded configuration and 9 accounts; removed yoda\n"
    );
    assert_eq!(
        yoda.events_until_closed().last(),
        Some(&Event::Kicked {
            reason: Some("Your account has been deleted".into())
        })
    );
    chatd.wait_log("account yoda is no longer in the credentials file: removed");
    chatd.stop();
    let mut chatd = ChatdProcess::spawn(dir.path(), &[]);
    new_yoda_starts_empty(&chatd);
    chatd.stop();
}

#[test]
fn registrations_are_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut chatd = start(
        dir.path(),
        "[limits]\nregistrations_per_ip_per_hour = 2\nregistration_limit_loopback = true\n",
    );
    for name in ["rey", "finn"] {
        let mut c = Client::connect(chatd.addr);
        assert_eq!(
            c.request(Request::Login { user: name.into() }),
            Response::NewUser
        );
        welcome(&mut c, "pw#1");
    }
    let mut c = Client::connect(chatd.addr);
    match c.request(Request::Login { user: "poe".into() }) {
        Response::Error { code, message } => {
            assert_eq!(code, ErrorCode::RegistrationLimited);
            assert_eq!(
                message,
                "Too many new accounts from your address; please try again later"
            );
        }
        other => panic!("{other:?}"),
    }
    // Known accounts still log in, on the same connection too.
    assert_eq!(
        c.request(Request::Login { user: "rey".into() }),
        Response::PasswordRequired
    );
    assert_eq!(welcome(&mut c, "pw#1").0, "rey");
    // The operator is not limited.
    let mut add = std::process::Command::new(chatctl_bin())
        .args(["user", "add", "poe"])
        .current_dir(dir.path())
        .env_remove("CHATCTL_SOCKET")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    add.stdin
        .take()
        .unwrap()
        .write_all(b"bb-8#rolls\n")
        .unwrap();
    let out = wait_output(add);
    assert!(out.status.success(), "{out:?}");
    Client::login(chatd.addr, "poe", "bb-8#rolls");
    chatd.wait_log("registration refused: too many new accounts addr=127.0.0.1");
}

/// Checks a live direct message (its id aside, which every message carries).
fn assert_message(event: Event, from: &str, text: &str) {
    match event {
        Event::Message {
            from: f,
            text: t,
            offline: false,
            msg_id: Some(_),
            ..
        } => assert_eq!((f.as_str(), t.as_str()), (from, text)),
        other => panic!("expected a message from {from}, got {other:?}"),
    }
}
