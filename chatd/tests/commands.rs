//! Every command of SPEC section 3 against a real in-process chatd over TCP: messages (live
//! and offline), broadcast, whoelse, whoelsesince, block/unblock, presence, logout, timeout.

mod common;

use std::time::Duration;

use chatd::ManualClock;
use common::*;
use proto::{ErrorCode, Event, Request, Response};
use testkit::client::without_ts;

fn message_event(from: &str, text: &str) -> Event {
    Event::Message {
        from: from.into(),
        text: text.into(),
        offline: false,
        ts: None,
        msg_id: None,
    }
}

/// A message event with its id taken out (checked to be there).
fn without_id(event: Event) -> Event {
    match event {
        Event::Message {
            from,
            text,
            offline,
            ts,
            msg_id,
        } => {
            assert!(msg_id.is_some(), "a message without msg_id");
            Event::Message {
                from,
                text,
                offline,
                ts,
                msg_id: None,
            }
        }
        other => other,
    }
}

fn presence(user: &str, online: bool) -> Event {
    Event::Presence {
        user: user.into(),
        online,
        ts: None,
    }
}

#[test]
fn message_to_online_user_is_delivered_with_spaces_and_symbols() {
    let server = TestServer::start();
    let mut yoda = server.login("yoda");
    let mut hans = server.login("hans");
    assert_eq!(yoda.event(), presence("hans", true));
    let text = "Hey Dude  with  spaces ~!@#$%^&*() \"quotes\" ünïcode \u{1b}[2J";
    assert_eq!(
        hans.request(msg("yoda", text)),
        Response::Sent { stored: false }
    );
    assert_eq!(without_id(yoda.event()), message_event("hans", text));
}

#[test]
fn message_errors() {
    let server = TestServer::start();
    let mut hans = server.login("hans");
    assert_eq!(hans.error_code(msg("nobody", "hi")), ErrorCode::InvalidUser);
    assert_eq!(
        hans.error_code(msg("hans", "hi")),
        ErrorCode::CannotMessageSelf
    );
}

#[test]
fn offline_messages_are_delivered_in_order_at_next_login() {
    let server = TestServer::start();
    let mut hans = server.login("hans");
    for i in 0..5 {
        assert_eq!(
            hans.request(msg("luke", &format!("m{i}"))),
            Response::Sent { stored: true }
        );
    }
    let mut vader = server.login("vader");
    vader.request(msg("luke", "I am your father"));
    let mut luke = server.connect();
    luke.request(Request::Login {
        user: "luke".into(),
    });
    match luke.request(Request::Password {
        password: password("luke").into(),
    }) {
        Response::Welcome { offline, .. } => assert_eq!(offline, 6),
        other => panic!("{other:?}"),
    }
    let mut got = Vec::new();
    let mut last = 0;
    for _ in 0..6 {
        match luke.event() {
            Event::Message {
                from,
                text,
                offline: true,
                msg_id: Some(id),
                ..
            } => {
                got.push(format!("{from}: {text}"));
                last = id;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        got,
        [
            "hans: m0",
            "hans: m1",
            "hans: m2",
            "hans: m3",
            "hans: m4",
            "vader: I am your father"
        ]
    );
    // Acknowledged: the next login has nothing waiting.
    assert_eq!(luke.request(Request::Ack { msg_id: last }), Response::Ok);
    drop(luke);
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let mut c = server.connect();
        match c.request(Request::Login {
            user: "luke".into(),
        }) {
            Response::PasswordRequired => {
                let r = c.request(Request::Password {
                    password: password("luke").into(),
                });
                assert_eq!(
                    r,
                    Response::Welcome {
                        user: "luke".into(),
                        offline: 0
                    }
                );
                break;
            }
            // The first connection's logout may not be processed yet.
            Response::Error {
                code: ErrorCode::AlreadyLoggedIn,
                ..
            } => assert!(std::time::Instant::now() < deadline),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn offline_cap_refuses_and_tells_the_sender() {
    let server = TestServer::start_with(|c| c.limits.max_offline_per_user = 2);
    let mut hans = server.login("hans");
    hans.request(msg("leia", "1"));
    hans.request(msg("leia", "2"));
    assert_eq!(
        hans.error_code(msg("leia", "3")),
        ErrorCode::OfflineQueueFull
    );
}

#[test]
fn broadcast_reaches_everyone_but_sender_and_blockers() {
    let server = TestServer::start();
    let mut hans = server.login("hans");
    let mut yoda = server.login("yoda");
    let mut luke = server.login("luke");
    assert_eq!(
        hans.request(Request::Broadcast {
            text: "vader is evil".into()
        }),
        Response::Broadcasted {
            delivered: 2,
            skipped: 0
        }
    );
    let bc = Event::Broadcast {
        from: "hans".into(),
        text: "vader is evil".into(),
        ts: None,
    };
    assert!(yoda.drain_events().contains(&bc));
    assert!(luke.drain_events().contains(&bc));
    assert!(!hans.drain_events().contains(&bc));
    // luke blocks hans: skipped, and hans is told someone was skipped.
    assert_eq!(
        luke.request(Request::Block {
            user: "hans".into()
        }),
        Response::Ok
    );
    assert_eq!(
        hans.request(Request::Broadcast {
            text: "again".into()
        }),
        Response::Broadcasted {
            delivered: 1,
            skipped: 1
        }
    );
    assert!(luke.drain_events().is_empty());
    assert_eq!(
        yoda.drain_events(),
        vec![Event::Broadcast {
            from: "hans".into(),
            text: "again".into(),
            ts: None,
        }]
    );
}

#[test]
fn whoelse_lists_others_except_blockers() {
    let server = TestServer::start();
    let mut hans = server.login("hans");
    assert!(hans.users(Request::Whoelse).is_empty());
    let mut yoda = server.login("yoda");
    let _luke = server.login("luke");
    assert_eq!(hans.users(Request::Whoelse), ["luke", "yoda"]);
    yoda.request(Request::Block {
        user: "hans".into(),
    });
    assert_eq!(hans.users(Request::Whoelse), ["luke"]);
    assert_eq!(yoda.users(Request::Whoelse), ["hans", "luke"]);
}

#[test]
fn whoelsesince_includes_users_who_logged_out_in_the_window() {
    let clock = ManualClock::new();
    let server = TestServer::start_with_clock(&clock, |_| {});
    let mut hans = server.login("hans");
    let mut vader = server.login("vader");
    vader.request(Request::Logout);
    assert!(vader.events_until_closed().is_empty());
    let _yoda = server.login("yoda");
    // vader was online a moment ago, yoda is online now.
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let users = hans.users(Request::Whoelsesince { seconds: 60 });
        if users == ["vader", "yoda"] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{users:?}");
    }
    assert_eq!(hans.users(Request::Whoelse), ["yoda"]);
    // A zero-second window only holds who is online now... and vader left in the past.
    clock.advance(Duration::from_millis(1100));
    assert_eq!(hans.users(Request::Whoelsesince { seconds: 1 }), ["yoda"]);
}

#[test]
fn whoelsesince_survives_a_restart() {
    let server = TestServer::start();
    let mut leia = server.login("leia");
    leia.request(Request::Logout);
    leia.events_until_closed();
    let server = server.restart();
    let mut hans = server.login("hans");
    assert_eq!(hans.users(Request::Whoelsesince { seconds: 600 }), ["leia"]);
}

#[test]
fn block_and_unblock() {
    let server = TestServer::start();
    let mut yoda = server.login("yoda");
    let mut hans = server.login("hans");
    let block = |u: &str| Request::Block { user: u.into() };
    let unblock = |u: &str| Request::Unblock { user: u.into() };
    assert_eq!(yoda.error_code(block("yoda")), ErrorCode::CannotBlockSelf);
    assert_eq!(
        yoda.error_code(unblock("yoda")),
        ErrorCode::CannotUnblockSelf
    );
    assert_eq!(yoda.error_code(block("nobody")), ErrorCode::InvalidUser);
    assert_eq!(yoda.error_code(unblock("hans")), ErrorCode::NotBlocked);
    assert_eq!(yoda.event(), presence("hans", true));
    assert_eq!(yoda.request(block("hans")), Response::Ok);
    // Blocked: hans's message is refused and nothing reaches yoda.
    assert_eq!(
        hans.error_code(msg("yoda", "hello?")),
        ErrorCode::BlockedByRecipient
    );
    // hans is never told he is blocked otherwise; presence from hans no longer reaches yoda.
    hans.request(Request::Logout);
    hans.events_until_closed();
    let mut hans = server.login("hans");
    assert!(
        !yoda
            .drain_events()
            .iter()
            .any(|e| matches!(e, Event::Presence { user, .. } if user == "hans")),
        "presence of a blocked user leaked"
    );
    assert_eq!(yoda.request(unblock("hans")), Response::Ok);
    assert_eq!(
        hans.request(msg("yoda", "hello!")),
        Response::Sent { stored: false }
    );
    assert_eq!(without_id(yoda.event()), message_event("hans", "hello!"));
}

#[test]
fn blocked_sender_is_not_stored_for_offline_blocker() {
    let server = TestServer::start();
    let mut yoda = server.login("yoda");
    yoda.request(Request::Block {
        user: "vader".into(),
    });
    yoda.request(Request::Logout);
    yoda.events_until_closed();
    let mut vader = server.login("vader");
    assert_eq!(
        vader.error_code(msg("yoda", "join me")),
        ErrorCode::BlockedByRecipient
    );
    let server = server.restart();
    let mut vader = server.login("vader");
    // The block survived the restart too.
    assert_eq!(
        vader.error_code(msg("yoda", "join me")),
        ErrorCode::BlockedByRecipient
    );
    let mut c = server.connect();
    c.request(Request::Login {
        user: "yoda".into(),
    });
    assert_eq!(
        c.request(Request::Password {
            password: password("yoda").into()
        }),
        Response::Welcome {
            user: "yoda".into(),
            offline: 0
        }
    );
}

#[test]
fn presence_is_not_sent_to_users_the_subject_blocked() {
    let server = TestServer::start();
    let mut hans = server.login("hans");
    let mut luke = server.login("luke");
    assert_eq!(hans.event(), presence("luke", true));
    // luke blocks hans: hans no longer sees luke come and go; luke still sees hans.
    luke.request(Request::Block {
        user: "hans".into(),
    });
    luke.request(Request::Logout);
    luke.events_until_closed();
    let mut luke = server.login("luke");
    assert!(hans.drain_events().is_empty());
    let mut yoda = server.login("yoda");
    assert_eq!(hans.event(), presence("yoda", true));
    assert_eq!(luke.event(), presence("yoda", true));
    yoda.request(Request::Logout);
    yoda.events_until_closed();
    assert_eq!(hans.event(), presence("yoda", false));
    assert_eq!(luke.event(), presence("yoda", false));
}

#[test]
fn lost_connection_counts_as_logout() {
    let server = TestServer::start();
    let mut hans = server.login("hans");
    let yoda = server.login("yoda");
    assert_eq!(hans.event(), presence("yoda", true));
    drop(yoda);
    assert_eq!(hans.event(), presence("yoda", false));
}

#[test]
fn inactivity_logs_out_and_others_see_it() {
    let clock = ManualClock::new();
    let server = TestServer::start_with_clock(&clock, |c| c.timeout = Duration::from_secs(1));
    let mut hans = server.login("hans");
    let mut yoda = server.login("yoda");
    // Receiving messages does not count as activity for yoda; hans keeps busy.
    let mut events = Vec::new();
    for _ in 0..3 {
        hans.request(Request::Whoelse);
        clock.advance(Duration::from_millis(600));
    }
    events.extend(yoda.events_until_closed());
    assert!(events.contains(&Event::Inactive), "{events:?}");
    let mut seen = hans.drain_events();
    let deadline = std::time::Instant::now() + DEADLINE;
    while !seen.contains(&presence("yoda", false)) {
        assert!(std::time::Instant::now() < deadline);
        seen.extend(hans.drain_events());
    }
}

#[test]
fn logout_closes_and_is_announced() {
    let server = TestServer::start();
    let mut hans = server.login("hans");
    let mut yoda = server.login("yoda");
    assert_eq!(hans.event(), presence("yoda", true));
    assert_eq!(yoda.request(Request::Logout), Response::Ok);
    assert!(yoda.events_until_closed().is_empty());
    assert_eq!(hans.event(), presence("yoda", false));
}

#[test]
fn shutdown_tells_every_client() {
    let server = TestServer::start();
    let mut hans = server.login("hans");
    let mut anon = server.connect();
    server.stop();
    assert!(hans.events_until_closed().contains(&Event::Shutdown));
    assert!(anon.events_until_closed().contains(&Event::Shutdown));
}

/// Sessions ended by the shutdown are not announced to the others (no presence storm), yet
/// their logout times are recorded: after a restart `whoelsesince` lists them.
#[test]
fn shutdown_announces_no_logouts_and_records_them() {
    let server = TestServer::start();
    let mut hans = server.login("hans");
    let mut yoda = server.login("yoda");
    let mut leia = server.login("leia");
    assert_eq!(hans.event(), presence("yoda", true));
    assert_eq!(hans.event(), presence("leia", true));
    assert_eq!(yoda.event(), presence("leia", true));
    let server = server.restart();
    for c in [&mut hans, &mut yoda, &mut leia] {
        assert_eq!(c.events_until_closed(), [Event::Shutdown]);
    }
    let mut luke = server.login("luke");
    assert_eq!(
        luke.users(Request::Whoelsesince { seconds: 600 }),
        ["hans", "leia", "yoda"]
    );
    assert!(luke.users(Request::Whoelse).is_empty());
}

#[test]
fn rate_limit_refuses_floods() {
    let server = TestServer::start_with(|c| {
        c.limits.message_rate = 1;
        c.limits.message_burst = 3;
    });
    let mut hans = server.login("hans");
    let _yoda = server.login("yoda");
    let mut refused = 0;
    for i in 0..10 {
        if let Response::Error { code, .. } = hans.request(msg("yoda", &i.to_string())) {
            assert_eq!(code, ErrorCode::RateLimited);
            refused += 1;
        }
    }
    assert!(refused >= 6, "{refused}");
}

/// The time stamp of an event (the client keeps them for these tests).
fn ts(event: &Event) -> Option<u64> {
    match event {
        Event::Message { ts, .. } | Event::Broadcast { ts, .. } | Event::Presence { ts, .. } => *ts,
        _ => None,
    }
}

#[test]
fn messages_broadcasts_and_presence_carry_the_time_the_server_accepted_them() {
    use chatd::clock::Clock;
    let clock = ManualClock::new();
    let server = TestServer::start_with_clock(&clock, |_| {});
    let mut yoda = server.login("yoda");
    yoda.keep_times();
    let mut hans = server.login("hans");
    let login_at = clock.now_ms() as u64;
    let seen = yoda.event();
    assert_eq!(
        (ts(&seen), without_ts(seen)),
        (Some(login_at), presence("hans", true))
    );

    clock.advance(Duration::from_secs(90));
    hans.request(msg("yoda", "live"));
    let live = yoda.event();
    assert_eq!(ts(&live), Some(login_at + 90_000), "{live:?}");
    hans.request(Request::Broadcast { text: "all".into() });
    assert_eq!(ts(&yoda.event()), Some(login_at + 90_000));

    // Stored for an offline user: delivered an hour later with the time it was sent.
    hans.request(msg("vader", "while you were out"));
    clock.advance(Duration::from_secs(3600));
    let mut vader = server.login("vader");
    vader.keep_times();
    let stored = vader.event();
    assert_eq!(
        (ts(&stored), without_id(without_ts(stored))),
        (
            Some(login_at + 90_000),
            Event::Message {
                from: "hans".into(),
                text: "while you were out".into(),
                offline: true,
                ts: None,
                msg_id: None,
            }
        )
    );
}

#[test]
fn accounts_lists_every_account_sorted_and_is_not_activity() {
    let clock = ManualClock::new();
    let server = TestServer::start_with_clock(&clock, |c| c.timeout = Duration::from_secs(10));
    let mut hans = server.connect();
    assert_eq!(hans.error_code(Request::Accounts), ErrorCode::NotLoggedIn);
    hans.log_in("hans", password("hans"));
    let mut expected: Vec<String> = CREDENTIALS
        .lines()
        .filter_map(|l| l.split(' ').next())
        .map(String::from)
        .collect();
    expected.sort();
    assert_eq!(hans.users(Request::Accounts), expected);
    // A new account is listed at once.
    let mut newbie = server.connect();
    newbie.log_in("newbie", "first*pass");
    assert!(hans
        .users(Request::Accounts)
        .contains(&"newbie".to_string()));
    // Asking for the list does not keep an idle user logged in.
    for _ in 0..3 {
        clock.advance(Duration::from_secs(3));
        assert!(!hans.users(Request::Accounts).is_empty());
    }
    clock.advance(Duration::from_secs(1));
    assert!(hans.events_until_closed().contains(&Event::Inactive));
}

#[test]
fn the_idle_warning_comes_a_minute_before_the_logout_once_per_idle_stretch() {
    let clock = ManualClock::new();
    let server = TestServer::start_with_clock(&clock, |c| c.timeout = Duration::from_secs(600));
    let mut hans = server.login("hans");
    // (`accounts` is a round trip that is not activity; a warning sent early would say more
    // than 60 seconds.)
    clock.advance(Duration::from_secs(539));
    hans.request(Request::Accounts);
    clock.advance(Duration::from_secs(1));
    assert_eq!(hans.event(), Event::IdleWarning { seconds: 60 });
    // Activity starts a new stretch, which gets its own warning.
    hans.request(Request::Whoelse);
    clock.advance(Duration::from_secs(539));
    hans.request(Request::Accounts);
    clock.advance(Duration::from_secs(1));
    assert_eq!(hans.event(), Event::IdleWarning { seconds: 60 });
    // One warning per stretch: next comes the logout.
    clock.advance(Duration::from_secs(60));
    assert_eq!(hans.events_until_closed(), [Event::Inactive]);
}

#[test]
fn a_short_timeout_is_warned_about_at_half_time() {
    let clock = ManualClock::new();
    let server = TestServer::start_with_clock(&clock, |c| c.timeout = Duration::from_secs(30));
    let mut hans = server.login("hans");
    clock.advance(Duration::from_secs(15));
    assert_eq!(hans.event(), Event::IdleWarning { seconds: 15 });
    clock.advance(Duration::from_secs(15));
    assert_eq!(hans.events_until_closed(), [Event::Inactive]);
}
