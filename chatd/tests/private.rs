//! Private-messaging introductions against a real in-process chatd over TCP: `private_listen`
//! (also before login, so a user can be asked as soon as others see them log in), consent,
//! the token and address handed out, and the end of a session when one side leaves.

mod common;

use common::*;
use proto::{ErrorCode, Event, Request, Response};

fn listen(c: &mut Client, port: u16) {
    assert_eq!(
        c.request(Request::PrivateListen {
            port,
            host: None,
            fingerprint: None,
        }),
        Response::Ok
    );
}

/// Logs in after announcing a listener on `port` before the `login`.
fn login_listening(server: &TestServer, user: &str, port: u16) -> Client {
    let mut c = server.connect();
    listen(&mut c, port);
    let r = c.request(Request::Login { user: user.into() });
    assert_eq!(r, Response::PasswordRequired);
    let r = c.request(Request::Password {
        password: password(user).into(),
    });
    assert!(matches!(r, Response::Welcome { .. }), "{r:?}");
    c
}

#[test]
fn private_listen_before_login_is_kept_through_the_login() {
    let server = TestServer::start();
    let mut hans = server.login("hans");
    let mut luke = login_listening(&server, "luke", 40123);
    assert_eq!(
        hans.event(),
        Event::Presence {
            user: "luke".into(),
            online: true,
            ts: None,
        }
    );
    // luke can be asked right away.
    assert_eq!(
        hans.request(Request::StartPrivate {
            user: "luke".into()
        }),
        Response::Ok
    );
    assert_eq!(
        luke.event(),
        Event::PrivateRequest {
            from: "hans".into()
        }
    );
    assert_eq!(
        luke.request(Request::PrivateAnswer {
            user: "hans".into(),
            accept: true
        }),
        Response::Ok
    );
    let Event::PrivateStart {
        peer,
        addr: None,
        token: luke_token,
        ..
    } = luke.event()
    else {
        panic!("luke expected a private_start without addr");
    };
    assert_eq!(peer, "hans");
    let Event::PrivateStart {
        peer,
        addr: Some(addr),
        token,
        ..
    } = hans.event()
    else {
        panic!("hans expected a private_start with addr");
    };
    assert_eq!((peer.as_str(), addr.as_str()), ("luke", "127.0.0.1:40123"));
    assert_eq!(token, luke_token);
    assert_eq!(token.len(), 32);

    // Only one session (or request) per pair.
    assert_eq!(
        hans.error_code(Request::StartPrivate {
            user: "luke".into()
        }),
        ErrorCode::PrivateAlreadyActive
    );
    // luke leaves: hans is told the session is over, and may ask again later.
    drop(luke);
    let ended = Event::PrivateEnded {
        peer: "luke".into(),
    };
    while hans.event() != ended {}
}

#[test]
fn without_a_listener_a_user_cannot_be_asked() {
    let server = TestServer::start();
    let mut hans = server.login("hans");
    let _luke = server.login("luke");
    let r = hans.request(Request::StartPrivate {
        user: "luke".into(),
    });
    assert!(
        matches!(
            r,
            Response::Error {
                code: ErrorCode::PrivateUnavailable,
                ..
            }
        ),
        "{r:?}"
    );
}

#[test]
fn private_ended_from_a_client_allows_a_new_request() {
    let server = TestServer::start();
    let mut hans = login_listening(&server, "hans", 40001);
    let mut luke = login_listening(&server, "luke", 40002);
    hans.drain_events();
    let ask = Request::StartPrivate {
        user: "luke".into(),
    };
    assert_eq!(hans.request(ask.clone()), Response::Ok);
    assert!(matches!(luke.event(), Event::PrivateRequest { .. }));
    let answer = Request::PrivateAnswer {
        user: "hans".into(),
        accept: true,
    };
    assert_eq!(luke.request(answer), Response::Ok);
    assert!(matches!(hans.event(), Event::PrivateStart { .. }));
    assert_eq!(
        hans.error_code(ask.clone()),
        ErrorCode::PrivateAlreadyActive
    );
    assert_eq!(
        hans.request(Request::PrivateEnded {
            user: "luke".into()
        }),
        Response::Ok
    );
    assert_eq!(hans.request(ask), Response::Ok);
}
