//! Login, registration and lockout (SPEC section 2) against a real in-process chatd.

mod common;

use std::time::Duration;

use chatd::ManualClock;
use common::*;
use proto::{ErrorCode, Event, Request, Response};

#[test]
fn sample_user_logs_in_and_gets_welcome() {
    let server = TestServer::start();
    let mut c = server.connect();
    assert_eq!(c.hello.protocol, proto::PROTOCOL_VERSION);
    assert_eq!(
        c.request(Request::Login {
            user: "hans".into()
        }),
        Response::PasswordRequired
    );
    match c.request(Request::Password {
        password: "falcon*solo".into(),
    }) {
        Response::Welcome { user, offline } => assert_eq!((user.as_str(), offline), ("hans", 0)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_password_then_right_one() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.request(Request::Login {
        user: "yoda".into(),
    });
    let r = c.error_code(Request::Password {
        password: "wrong".into(),
    });
    assert_eq!(r, ErrorCode::InvalidPassword);
    let r = c.request(Request::Password {
        password: "wise@!man".into(),
    });
    assert!(matches!(r, Response::Welcome { .. }), "{r:?}");
}

#[test]
fn three_wrong_passwords_across_two_connections_lock_then_expire() {
    let clock = ManualClock::new();
    let server =
        TestServer::start_with_clock(&clock, |c| c.block_duration = Duration::from_secs(2));
    let mut a = server.connect();
    a.request(Request::Login {
        user: "luke".into(),
    });
    let bad = || Request::Password {
        password: "nope".into(),
    };
    assert_eq!(a.error_code(bad()), ErrorCode::InvalidPassword);
    assert_eq!(a.error_code(bad()), ErrorCode::InvalidPassword);
    // The third strike comes from another connection: the server counts per user name.
    let mut b = server.connect();
    b.request(Request::Login {
        user: "luke".into(),
    });
    assert_eq!(b.error_code(bad()), ErrorCode::AccountBlocked);
    // Locked: even the right password is refused, at the user-name step.
    let mut c = server.connect();
    assert_eq!(
        c.error_code(Request::Login {
            user: "luke".into()
        }),
        ErrorCode::AccountLocked
    );
    // Still locked a moment before block_duration is over...
    clock.advance(Duration::from_millis(1999));
    let mut d = server.connect();
    assert_eq!(
        d.error_code(Request::Login {
            user: "luke".into()
        }),
        ErrorCode::AccountLocked
    );
    // ...and after block_duration the right password works again.
    clock.advance(Duration::from_millis(1));
    let mut d = server.connect();
    assert_eq!(
        d.request(Request::Login {
            user: "luke".into(),
        }),
        Response::PasswordRequired
    );
    let r = d.request(Request::Password {
        password: "light==saber".into(),
    });
    assert!(matches!(r, Response::Welcome { .. }), "{r:?}");
}

#[test]
fn already_logged_in_is_refused_at_the_name() {
    let server = TestServer::start();
    let _hans = server.login("hans");
    let mut c = server.connect();
    match c.request(Request::Login {
        user: "hans".into(),
    }) {
        Response::Error { code, message } => {
            assert_eq!(code, ErrorCode::AlreadyLoggedIn);
            assert_eq!(message, "hans is already logged in");
        }
        other => panic!("{other:?}"),
    }
    // The same connection can go on with another name.
    assert_eq!(
        c.request(Request::Login {
            user: "leia".into()
        }),
        Response::PasswordRequired
    );
}

#[test]
fn invalid_user_names_get_a_clear_error_and_a_new_try() {
    let server = TestServer::start();
    let mut c = server.connect();
    for bad in ["", "has space", "x/y", &"a".repeat(33), "ünï"] {
        assert_eq!(
            c.error_code(Request::Login { user: bad.into() }),
            ErrorCode::InvalidUsername,
            "{bad:?}"
        );
    }
    assert_eq!(
        c.request(Request::Login {
            user: "hans".into()
        }),
        Response::PasswordRequired
    );
}

#[test]
fn registration_creates_a_hashed_account_that_survives_restart() {
    let server = TestServer::start();
    let mut c = server.connect();
    assert_eq!(
        c.request(Request::Login { user: "rey".into() }),
        Response::NewUser
    );
    assert_eq!(
        c.error_code(Request::Password {
            password: "has space".into()
        }),
        ErrorCode::InvalidPasswordFormat
    );
    let r = c.request(Request::Password {
        password: "sc@venger".into(),
    });
    assert!(matches!(r, Response::Welcome { .. }), "{r:?}");
    let creds = std::fs::read_to_string(server.dir.path().join("credentials.txt")).unwrap();
    let line = creds.lines().last().unwrap();
    assert!(line.starts_with("rey $argon2id$"), "{line}");
    assert!(!creds.contains("sc@venger"));
    drop(c);
    let server = server.restart();
    let mut c = server.connect();
    assert_eq!(
        c.request(Request::Login { user: "rey".into() }),
        Response::PasswordRequired
    );
    assert_eq!(
        c.error_code(Request::Password {
            password: "wrong".into()
        }),
        ErrorCode::InvalidPassword
    );
    let r = c.request(Request::Password {
        password: "sc@venger".into(),
    });
    assert!(matches!(r, Response::Welcome { .. }), "{r:?}");
}

#[test]
fn registration_can_be_disabled() {
    let server = TestServer::start_with(|c| c.registration = false);
    let mut c = server.connect();
    assert_eq!(
        c.error_code(Request::Login { user: "rey".into() }),
        ErrorCode::RegistrationDisabled
    );
}

#[test]
fn commands_before_login_are_refused() {
    let server = TestServer::start();
    let mut c = server.connect();
    assert_eq!(c.error_code(Request::Whoelse), ErrorCode::NotLoggedIn);
    assert_eq!(c.error_code(msg("hans", "hi")), ErrorCode::NotLoggedIn);
    assert_eq!(
        c.error_code(Request::Password {
            password: "x".into()
        }),
        ErrorCode::NotLoggedIn
    );
}

#[test]
fn login_presence_reaches_others() {
    let server = TestServer::start();
    let mut hans = server.login("hans");
    let _yoda = server.login("yoda");
    assert_eq!(
        hans.event(),
        Event::Presence {
            user: "yoda".into(),
            online: true,
            ts: None,
        }
    );
}

#[test]
fn registrations_per_address_are_counted_over_the_last_hour_on_the_clock() {
    let clock = ManualClock::new();
    let server = TestServer::start_with_clock(&clock, |c| {
        c.limits.registrations_per_ip_per_hour = 2;
        c.limits.registration_limit_loopback = true;
    });
    let register = |name: &str| {
        let mut c = server.connect();
        match c.request(Request::Login { user: name.into() }) {
            Response::NewUser => {
                c.request(Request::Password {
                    password: "pw#1".into(),
                });
                None
            }
            Response::Error { code, .. } => Some(code),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(register("rey"), None);
    clock.advance(Duration::from_secs(1800));
    assert_eq!(register("finn"), None);
    assert_eq!(register("poe"), Some(ErrorCode::RegistrationLimited));
    // The first registration leaves the window an hour after it was made.
    clock.advance(Duration::from_secs(1799));
    assert_eq!(register("poe"), Some(ErrorCode::RegistrationLimited));
    clock.advance(Duration::from_secs(1));
    assert_eq!(register("poe"), None);
    assert_eq!(register("bb8"), Some(ErrorCode::RegistrationLimited));
}
