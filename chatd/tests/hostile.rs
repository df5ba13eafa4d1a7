//! Bad input and hostile clients (SPEC section 7): every bad line gets an error frame, the
//! stream is closed only when it cannot be trusted, and one slow reader never slows others.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use chatd::ManualClock;
use common::*;
use proto::{ErrorCode, Event, Request, Response, ServerFrame};

fn error_of(frame: Option<ServerFrame>) -> ErrorCode {
    match frame {
        Some(ServerFrame::Reply {
            response: Response::Error { code, .. },
            ..
        }) => code,
        other => panic!("expected an error reply, got {other:?}"),
    }
}

#[test]
fn bad_lines_get_error_frames_and_the_session_goes_on() {
    let server = TestServer::start();
    let mut c = server.login("hans");
    c.send_raw(b"\xff\xfe\xfd\n");
    assert_eq!(error_of(c.read_frame()), ErrorCode::BadUtf8);
    c.send_raw(b"{not json\n");
    assert_eq!(error_of(c.read_frame()), ErrorCode::BadJson);
    c.send_raw(b"[1,2,3]\n");
    assert_eq!(error_of(c.read_frame()), ErrorCode::BadJson);
    c.send_raw(b"{\"id\":5,\"type\":\"teleport\"}\n");
    match c.read_frame() {
        Some(ServerFrame::Reply {
            id,
            response: Response::Error { code, .. },
        }) => {
            assert_eq!(id, Some(5), "the error echoes the request id");
            assert_eq!(code, ErrorCode::UnknownRequest);
        }
        other => panic!("{other:?}"),
    }
    c.send_raw(b"{\"type\":\"message\",\"to\":42,\"text\":[]}\n");
    assert_eq!(error_of(c.read_frame()), ErrorCode::BadRequest);
    c.send_raw(b"{\"type\":\"whoelsesince\",\"seconds\":-5}\n");
    assert_eq!(error_of(c.read_frame()), ErrorCode::BadRequest);
    c.send_raw(b"{\"no_type\":1}\n");
    assert_eq!(error_of(c.read_frame()), ErrorCode::BadRequest);
    // Still logged in and working.
    assert!(c.users(Request::Whoelse).is_empty());
}

#[test]
fn over_long_line_gets_an_error_then_the_connection_closes() {
    let server = TestServer::start_with(|c| c.limits.max_line_bytes = 1024);
    let mut c = server.login("hans");
    let mut hostile = vec![b'x'; 1024 * 1024];
    hostile.push(b'\n');
    // The server may close before reading it all; a write error is fine.
    let _ = c.try_send_raw(&hostile);
    assert_eq!(error_of(c.read_frame()), ErrorCode::LineTooLong);
    assert!(c.read_frame().is_none(), "connection should close");
    // The server is fine.
    let mut other = server.login("yoda");
    assert!(other.users(Request::Whoelse).is_empty());
}

#[test]
fn a_connection_that_never_logs_in_is_closed_after_the_login_timeout() {
    let clock = ManualClock::new();
    let server =
        TestServer::start_with_clock(&clock, |c| c.limits.login_timeout = Duration::from_secs(1));
    let mut c = server.connect();
    let started = Instant::now();
    clock.advance(Duration::from_secs(1));
    assert_eq!(error_of(c.read_frame()), ErrorCode::LoginTimeout);
    assert!(c.read_frame().is_none());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn garbage_before_login_does_not_log_in() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(error_of(c.read_frame()), ErrorCode::BadJson);
    assert_eq!(error_of(c.read_frame()), ErrorCode::BadJson);
    assert_eq!(c.error_code(Request::Whoelse), ErrorCode::NotLoggedIn);
}

#[test]
fn slow_reader_is_dropped_and_others_keep_receiving() {
    let server = TestServer::start_with(|c| {
        c.limits.send_queue = 64;
        c.limits.message_rate = 1_000_000;
        c.limits.message_burst = 1_000_000;
    });
    // The slow client logs in with a raw socket, then never reads again.
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.write_all(b"{\"type\":\"login\",\"user\":\"vader\"}\n{\"type\":\"password\",\"password\":\"sithlord**\"}\n")
        .unwrap();
    let mut hans = server.login("hans");
    let mut yoda = server.login("yoda");
    // Wait until vader is online.
    let deadline = Instant::now() + DEADLINE;
    while !hans.users(Request::Whoelse).contains(&"vader".to_string()) {
        assert!(Instant::now() < deadline);
    }
    let text = "x".repeat(4000);
    let started = Instant::now();
    let mut dropped_seen = false;
    for i in 0..2000 {
        assert!(
            started.elapsed() < DEADLINE,
            "broadcasts slowed down by a slow reader"
        );
        let r = hans.request(Request::Broadcast {
            text: format!("{i} {text}"),
        });
        let Response::Broadcasted { delivered, .. } = r else {
            panic!("{r:?}");
        };
        if delivered == 1 {
            dropped_seen = true;
            break;
        }
        // yoda keeps up.
        match yoda.event() {
            Event::Broadcast { from, .. } => assert_eq!(from, "hans"),
            Event::Presence { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(dropped_seen, "the slow reader was never dropped");
    assert_eq!(
        server
            .shared()
            .hub
            .counters
            .slow_dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // The slow socket is closed by the server: reading drains what was sent, then EOF.
    slow.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut sink = vec![0u8; 1 << 20];
    loop {
        match slow.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => panic!("slow socket not closed: {e}"),
        }
    }
}

#[test]
fn connection_limit_per_ip_is_enforced() {
    let server = TestServer::start_with(|c| c.limits.max_connections_per_ip = 2);
    let _a = server.connect();
    let _b = server.connect();
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    assert!(text.contains("too_many_connections"), "{text}");
}
