//! Commands without sockets: a session is a bare queue, the store a real SQLite store in a
//! temp dir, time a manual clock. Answers and failures are checked as values.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use proto::{ErrorCode, Request, Response};

use super::errors::wire;
use super::*;
use crate::auth::{Accounts, Lockout};
use crate::clock::ManualClock;
use crate::config::Config;
use crate::hub::{Hub, Outbox, Outgoing, PrivateError};
use crate::seams::Store;
use crate::state::{Parts, Shared};
use crate::store::SqliteStore;

struct Fixture {
    shared: Arc<Shared>,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

fn fixture(tweak: impl FnOnce(&mut Config)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials.txt");
    std::fs::write(
        &credentials,
        "hans falcon*solo\nyoda wise@!man\nluke light==saber\n",
    )
    .unwrap();
    let mut config = Config {
        credentials: credentials.clone(),
        ..Config::default()
    };
    tweak(&mut config);
    let (store, _) = SqliteStore::open(&dir.path().join("data")).unwrap();
    let clock = ManualClock::new();
    let shared = Arc::new(Shared::new(Parts {
        config,
        overrides: Default::default(),
        accounts: Arc::new(Accounts::load(&credentials).unwrap()),
        lockout: Lockout::new(HashMap::new()),
        store,
        hub: Hub::new(
            Vec::new(),
            HashMap::new(),
            &HashMap::new(),
            clock.clone().into(),
        ),
        clock: clock.clone().into(),
        ex: Arc::new(smol::Executor::new()),
        tls: None,
        reload_hook: None,
    }));
    Fixture {
        shared,
        clock,
        _dir: dir,
    }
}

impl Fixture {
    /// A session on a fresh connection, and what the connection receives.
    fn session(&self) -> (Session, Outbox) {
        let acks = crate::hub::Acks::default();
        let out = Outbox::new(64, acks.clone());
        let rx = out.clone();
        let (id, last_active) = self
            .shared
            .hub
            .connect("127.0.0.1:9".parse().unwrap(), out, 100, 100)
            .unwrap();
        let now = self.clock.now();
        let session = Session {
            id,
            addr: "127.0.0.1:9".parse().unwrap(),
            phase: Phase::Name,
            opened: now,
            last_valid: now,
            last_active,
            rate: RateLimit::new(2, self.clock.coarse()),
            acks,
        };
        (session, rx)
    }

    fn run(&self, s: &mut Session, request: Request) -> Result<Answer, Failure> {
        smol::block_on(dispatch(s, &self.shared, Some(7), request))
    }

    /// A logged-in session.
    fn login(&self, user: &str, password: &str) -> (Session, Outbox) {
        let (mut s, rx) = self.session();
        let user = user.to_string();
        assert_eq!(
            self.run(&mut s, Request::Login { user }),
            Ok(Answer::Reply(Response::PasswordRequired))
        );
        let password = password.to_string();
        assert_eq!(
            self.run(&mut s, Request::Password { password }),
            Ok(Answer::Queued)
        );
        (s, rx)
    }
}

fn code(result: Result<Answer, Failure>) -> ErrorCode {
    match result {
        Err(f) => wire(&f).0,
        Ok(a) => panic!("expected a failure, got {a:?}"),
    }
}

impl PartialEq for Failure {
    fn eq(&self, other: &Self) -> bool {
        wire(self) == wire(other)
    }
}

#[test]
fn the_table_says_when_each_command_may_run() {
    let f = fixture(|_| {});
    let (mut s, _) = f.session();
    assert_eq!(
        code(f.run(&mut s, Request::Whoelse)),
        ErrorCode::NotLoggedIn
    );
    assert_eq!(
        f.run(
            &mut s,
            Request::PrivateListen {
                port: 9,
                host: None,
                fingerprint: None,
            }
        ),
        Ok(Answer::Reply(Response::Ok))
    );
    for bad in ["ab".repeat(31), "zz".repeat(32), String::new()] {
        assert_eq!(
            code(f.run(
                &mut s,
                Request::PrivateListen {
                    port: 9,
                    host: None,
                    fingerprint: Some(bad),
                }
            )),
            ErrorCode::BadRequest
        );
    }
    assert_eq!(
        f.run(
            &mut s,
            Request::PrivateListen {
                port: 9,
                host: None,
                fingerprint: Some("AB".repeat(32)),
            }
        ),
        Ok(Answer::Reply(Response::Ok))
    );
    let (mut hans, _) = f.login("hans", "falcon*solo");
    let again = Request::Login {
        user: "hans".into(),
    };
    assert_eq!(
        code(f.run(&mut hans, again)),
        ErrorCode::AlreadyAuthenticated
    );
    assert_eq!(
        f.run(&mut hans, Request::Logout),
        Ok(Answer::Close(Response::Ok))
    );
    assert_eq!(spec(&Request::Activity).when, When::LoggedIn);
    assert!(
        !spec(&Request::Password {
            password: String::new()
        })
        .activity
    );
}

#[test]
fn the_welcome_is_queued_in_order_with_the_request_id() {
    let f = fixture(|_| {});
    let (_, rx) = f.login("hans", "falcon*solo");
    match rx.try_recv() {
        Ok(Outgoing::Reply { id, response }) => {
            assert_eq!(id, Some(7));
            assert!(matches!(*response, Response::Welcome { offline: 0, .. }));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn three_wrong_passwords_lock_until_the_clock_passes_block_duration() {
    let f = fixture(|c| c.block_duration = Duration::from_secs(60));
    let (mut s, _) = f.session();
    let login = || Request::Login {
        user: "luke".into(),
    };
    let wrong = || Request::Password {
        password: "nope".into(),
    };
    f.run(&mut s, login()).unwrap();
    assert_eq!(code(f.run(&mut s, wrong())), ErrorCode::InvalidPassword);
    assert_eq!(code(f.run(&mut s, wrong())), ErrorCode::InvalidPassword);
    assert_eq!(code(f.run(&mut s, wrong())), ErrorCode::AccountBlocked);
    assert_eq!(code(f.run(&mut s, login())), ErrorCode::AccountLocked);
    f.clock.advance(Duration::from_secs(59));
    assert_eq!(code(f.run(&mut s, login())), ErrorCode::AccountLocked);
    f.clock.advance(Duration::from_secs(1));
    assert_eq!(
        f.run(&mut s, login()),
        Ok(Answer::Reply(Response::PasswordRequired))
    );
}

#[test]
fn message_checks_and_the_rate_limit_follow_the_clock() {
    let f = fixture(|c| {
        c.limits.message_rate = 1;
        c.limits.message_burst = 2;
    });
    let (mut hans, _) = f.login("hans", "falcon*solo");
    let (_yoda, yoda_rx) = f.login("yoda", "wise@!man");
    let to = |u: &str| Request::Message {
        to: u.into(),
        text: "hi".into(),
    };
    assert_eq!(
        code(f.run(&mut hans, to("hans"))),
        ErrorCode::CannotMessageSelf
    );
    assert_eq!(code(f.run(&mut hans, to("nobody"))), ErrorCode::InvalidUser);
    let sent = Ok(Answer::Reply(Response::Sent { stored: false }));
    assert_eq!(f.run(&mut hans, to("yoda")), sent);
    assert_eq!(f.run(&mut hans, to("yoda")), sent);
    assert_eq!(code(f.run(&mut hans, to("yoda"))), ErrorCode::RateLimited);
    // Counted as refused, not as a full offline queue: same counter, named for what it is.
    assert_eq!(f.shared.hub.stats().messages_dropped, 1);
    f.clock.advance(Duration::from_secs(1));
    assert_eq!(f.run(&mut hans, to("yoda")), sent);
    f.clock.advance(Duration::from_secs(1));
    assert_eq!(
        f.run(&mut hans, to("luke")),
        Ok(Answer::Reply(Response::Sent { stored: true }))
    );
    assert!(yoda_rx.len() >= 3);
}

#[test]
fn block_then_message_reads_as_blocked_and_unblock_of_nobody_as_not_blocked() {
    let f = fixture(|_| {});
    let (mut hans, _) = f.login("hans", "falcon*solo");
    let (mut yoda, _) = f.login("yoda", "wise@!man");
    let block = Request::Block {
        user: "hans".into(),
    };
    assert_eq!(f.run(&mut yoda, block), Ok(Answer::Reply(Response::Ok)));
    let (code, text) = match f.run(
        &mut hans,
        Request::Message {
            to: "yoda".into(),
            text: "hi".into(),
        },
    ) {
        Err(failure) => wire(&failure),
        other => panic!("{other:?}"),
    };
    assert_eq!(code, ErrorCode::BlockedByRecipient);
    assert!(text.contains("blocked you"), "{text}");
    let unblock = Request::Unblock {
        user: "luke".into(),
    };
    assert_eq!(
        f.run(&mut yoda, unblock),
        Err(Failure::NotBlocked {
            user: "luke".into()
        })
    );
}

#[test]
fn every_failure_has_its_own_code_and_text() {
    let internal = [
        Failure::NotRegistered,
        Failure::LoginInterrupted,
        Failure::NotStored,
        Failure::NotSaved,
    ];
    for f in &internal {
        let (code, text) = wire(f);
        assert_eq!(code, ErrorCode::Internal);
        assert!(
            !text.contains("already logged in") && !text.contains("blocked"),
            "{text}"
        );
    }
    let private = |error| {
        wire(&Failure::Private {
            error,
            user: "luke".into(),
        })
    };
    assert_eq!(
        private(PrivateError::UserOffline),
        (ErrorCode::UserOffline, "luke is offline".into())
    );
    assert_eq!(
        private(PrivateError::NoRequest).0,
        ErrorCode::NoPrivateRequest
    );
    assert_eq!(
        private(PrivateError::Unavailable).0,
        ErrorCode::PrivateUnavailable
    );
    assert_eq!(
        private(PrivateError::AlreadyActive).0,
        ErrorCode::PrivateAlreadyActive
    );
    assert_eq!(
        private(PrivateError::BlockedByUser).0,
        ErrorCode::BlockedByUser
    );
}

#[test]
fn a_login_while_the_store_cannot_write_still_gets_its_backlog() {
    let f = fixture(|_| {});
    let store = &f.shared.store;
    smol::block_on(async {
        for i in 0..98u64 {
            let text = format!("m{i:02}");
            store
                .store_offline("yoda", "hans", &text, 1000, 1_000, i + 1)
                .await
                .unwrap();
        }
    });
    // The disk fills up: no write succeeds any more.
    store.fail_writes_for_tests();
    let (mut hans, _) = f.login("hans", "falcon*solo");
    let message = Request::Message {
        to: "luke".into(),
        text: "hi".into(),
    };
    assert_eq!(code(f.run(&mut hans, message)), ErrorCode::Internal);
    let (_yoda, rx) = f.login("yoda", "wise@!man");
    match rx.try_recv() {
        Ok(Outgoing::Reply { response, .. }) => match *response {
            Response::Welcome { offline, .. } => assert_eq!(offline, 98),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    let Ok(Outgoing::Backlog { user, upto }) = rx.try_recv() else {
        panic!("no backlog queued")
    };
    let chunk = smol::block_on(store.backlog_chunk(&user, 0, upto, usize::MAX)).unwrap();
    let texts: Vec<String> = chunk.into_iter().map(|m| m.text).collect();
    let expected: Vec<String> = (0..98).map(|i| format!("m{i:02}")).collect();
    assert_eq!(texts, expected);
}
