//! Private (peer-to-peer) messaging, SPEC section 4, end to end: real `chat` clients in piped
//! mode against a real `chatd`, on 127.0.0.1. Consent, decline, expiry, every error line,
//! `stopprivate` from either side, sessions ended by logout, timeout, kick and a crashed peer, two
//! sessions at once, private activity against the inactivity timeout, and a client's private
//! listener refusing forged, reused and junk connections.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{assert_lines, online, password, ChatdProcess, Piped, DEADLINE};
use proto::peer::PeerFrame;
use proto::{Event, Request, Response};
use testkit::Client;

const WELCOME: &str = "Welcome to the greatest messaging application ever!";
const HANS: &str = include_str!("../../examples/private-hans.chat");
const LUKE: &str = include_str!("../../examples/private-luke.chat");

fn question(from: &str) -> String {
    format!("{from} would like to private message, enter y or n: ")
}

/// `a` asks `b`, `b` says yes, both see the session start.
fn start_private(a: &mut Piped, b: &mut Piped) {
    let (an, bn) = (a.name.clone(), b.name.clone());
    a.send(&format!("startprivate {bn}"));
    b.expect(&question(&an));
    b.send("y");
    a.expect(&format!("{bn} accepts private messaging"));
    a.expect(&format!("Start private messaging with {bn}"));
    b.expect(&format!("Start private messaging with {an}"));
}

/// Waits until both lines were printed, in either order (they come over different sockets).
fn expect_both(p: &mut Piped, one: &str, two: &str) {
    let end = Instant::now() + DEADLINE;
    while p.count(one) == 0 || p.count(two) == 0 {
        assert!(
            Instant::now() < end,
            "{}: wanted {one:?} and {two:?}; printed: {:#?}",
            p.name,
            p.lines
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs a command whose result is a line, and waits for it: afterwards everything the
/// client printed before is in `lines`.
fn sync(p: &mut Piped) {
    p.send("stopprivate nobody-at-all");
    p.expect("Error. No private messaging session with nobody-at-all");
}

#[test]
fn sample_private_session_alongside_server_messages() {
    let server = ChatdProcess::start("");
    let mut hans = Piped::script("hans", server.port(), HANS);
    hans.expect(WELCOME);
    let mut luke = Piped::script("luke", server.port(), LUKE);
    assert_eq!(luke.finish(), 0, "luke: {}", luke.stderr());
    assert_eq!(hans.finish(), 0, "hans: {}", hans.stderr());
    assert_lines(
        "hans",
        &hans.lines,
        &[
            WELCOME,
            "luke logged in",
            "luke accepts private messaging",
            "Start private messaging with luke",
            "luke(private): hi hans",
            "luke: got both",
            "Stopped private messaging with luke",
            "luke: stopped too",
            "Error. Private messaging to luke not enabled",
            "luke logged out",
        ],
    );
    assert_lines(
        "luke",
        &luke.lines,
        &[
            WELCOME,
            &question("hans"),
            "Start private messaging with hans",
            "hans(private): hey dude",
            "hans: and hello through the server",
            "hans stopped private messaging",
            "Error. Private messaging to hans not enabled",
            "Error. No private messaging session with hans",
            "hans: bye",
        ],
    );
}

#[test]
fn decline_expiry_and_answers_that_are_not_y_or_n() {
    let server = ChatdProcess::start("private_request_timeout = 1\n");
    let mut hans = online(&server, "hans");
    let mut luke = online(&server, "luke");

    hans.send("startprivate luke");
    luke.expect(&question("hans"));
    luke.send("n");
    hans.expect("luke declines private messaging");

    // Not an answer: the question comes again, and the next line answers it.
    hans.send("startprivate luke");
    luke.expect(&question("hans"));
    luke.send("maybe later");
    luke.expect(&question("hans"));
    luke.send("N");
    hans.expect("luke declines private messaging");

    // Nobody answers: after private_request_timeout both are told.
    hans.send("startprivate luke");
    luke.expect(&question("hans"));
    hans.expect("luke did not answer the private messaging request");
    luke.expect("The private messaging request from hans has expired");
    // The next line is a command again.
    luke.send("whoelse");
    luke.expect("hans");
    assert_eq!(hans.count("Start private messaging"), 0);
    assert_eq!(luke.count("Start private messaging"), 0);
    hans.close_stdin();
    luke.close_stdin();
    assert_eq!(hans.finish(), 0);
    assert_eq!(luke.finish(), 0);
}

/// A bare protocol client logged in as `user`; it announces a private listener on `listen`
/// first if given (without one it is online but cannot be asked for private messaging).
fn raw_login(port: u16, user: &str, listen: Option<u16>) -> Client {
    let mut c = Client::connect(SocketAddr::from(([127, 0, 0, 1], port)));
    if let Some(port) = listen {
        assert_eq!(
            c.request(Request::PrivateListen {
                port,
                host: None,
                fingerprint: None,
            }),
            Response::Ok
        );
    }
    c.log_in(user, password(user));
    c
}

#[test]
fn every_error_line() {
    let server = ChatdProcess::start("");
    let mut hans = online(&server, "hans");
    let mut luke = online(&server, "luke");
    let mut leia = online(&server, "leia");
    // vader is online without a private listener.
    let _vader = raw_login(server.port(), "vader", None);
    luke.send("block hans");
    luke.expect("hans is blocked");

    for line in [
        "startprivate",
        "startprivate luke leia",
        "private",
        "private luke",
        "stopprivate",
        "stopprivate luke leia",
        "startprivate nobody_here",
        "startprivate hans",
        "startprivate yoda",
        "startprivate luke",
        "startprivate vader",
        "private leia hi",
        "stopprivate leia",
    ] {
        hans.send(line);
    }
    // leia is asked once; a second request while the first is open is refused.
    hans.send("startprivate leia");
    leia.expect(&question("hans"));
    hans.send("startprivate leia");
    leia.send("y");
    hans.expect("Start private messaging with leia");
    hans.send("startprivate leia");
    leia.send("startprivate hans");
    leia.expect("Error. Private messaging with hans is already active");
    sync(&mut hans);
    let errors: Vec<&str> = hans
        .lines
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("Error."))
        .collect();
    assert_eq!(
        errors,
        [
            "Error. Usage: startprivate <user>",
            "Error. Usage: startprivate <user>",
            "Error. Usage: private <user> <message>",
            "Error. Usage: private <user> <message>",
            "Error. Usage: stopprivate <user>",
            "Error. Usage: stopprivate <user>",
            "Error. Invalid user",
            "Error. Cannot start private messaging with self",
            "Error. yoda is offline",
            "Error. luke has blocked you",
            "Error. vader cannot accept private messages",
            "Error. Private messaging to leia not enabled",
            "Error. No private messaging session with leia",
            "Error. Private messaging with leia is already active",
            "Error. Private messaging with leia is already active",
            "Error. No private messaging session with nobody-at-all",
        ]
    );
    assert_eq!(luke.count("would like to private message"), 0);
    assert_eq!(leia.count("would like to private message"), 1);
}

#[test]
fn stopprivate_from_either_side() {
    let server = ChatdProcess::start("");
    let mut hans = online(&server, "hans");
    let mut luke = online(&server, "luke");

    // The target stops.
    start_private(&mut hans, &mut luke);
    hans.send("private luke one");
    luke.expect("hans(private): one");
    luke.send("stopprivate hans");
    luke.expect("Stopped private messaging with hans");
    hans.expect("luke stopped private messaging");
    hans.send("private luke two");
    hans.expect("Error. Private messaging to luke not enabled");

    // A new session between the same two; this time the requester stops.
    start_private(&mut hans, &mut luke);
    luke.send("private hans three");
    hans.expect("luke(private): three");
    hans.send("stopprivate luke");
    hans.expect("Stopped private messaging with luke");
    luke.expect("hans stopped private messaging");
    luke.send("private hans four");
    luke.expect("Error. Private messaging to hans not enabled");
    sync(&mut hans);
    assert_eq!(hans.count("ended"), 0);
    assert_eq!(luke.count("ended"), 0);
}

#[test]
fn logout_crash_and_kick_of_a_peer_end_the_session_once() {
    let server = ChatdProcess::start("");
    let mut hans = online(&server, "hans");

    let mut luke = online(&server, "luke");
    start_private(&mut hans, &mut luke);
    luke.send("logout");
    assert_eq!(luke.finish(), 0);
    expect_both(
        &mut hans,
        "luke logged out",
        "Private messaging with luke ended",
    );
    hans.send("private luke hello?");
    hans.expect("Error. Private messaging to luke not enabled");
    assert_eq!(hans.count("Private messaging with luke ended"), 1);

    // A crash: the peer socket and the server connection both close.
    let mut yoda = online(&server, "yoda");
    start_private(&mut hans, &mut yoda);
    yoda.kill();
    expect_both(
        &mut hans,
        "yoda logged out",
        "Private messaging with yoda ended",
    );
    hans.send("private yoda hello?");
    hans.expect("Error. Private messaging to yoda not enabled");
    sync(&mut hans);
    assert_eq!(hans.count("Private messaging with yoda ended"), 1);

    // A kick by the administrator (one request line on chatd's admin socket).
    let mut leia = online(&server, "leia");
    start_private(&mut leia, &mut hans);
    let mut admin =
        std::os::unix::net::UnixStream::connect(server.dir().join("chatd.sock")).unwrap();
    admin
        .write_all(b"{\"type\":\"kick\",\"user\":\"leia\"}\n")
        .unwrap();
    leia.expect("You have been disconnected by the administrator");
    assert_eq!(leia.finish(), 3);
    expect_both(
        &mut hans,
        "leia logged out",
        "Private messaging with leia ended",
    );
    sync(&mut hans);
    assert_eq!(hans.count("Private messaging with leia ended"), 1);

    // After luke is back, a new session works.
    let mut luke = online(&server, "luke");
    start_private(&mut hans, &mut luke);
    hans.send("private luke welcome back");
    luke.expect("hans(private): welcome back");
}

#[test]
fn two_sessions_at_once() {
    let server = ChatdProcess::start("");
    let mut hans = online(&server, "hans");
    let mut luke = online(&server, "luke");
    let mut yoda = online(&server, "yoda");
    start_private(&mut hans, &mut luke);
    // yoda asks hans: hans is the target this time.
    start_private(&mut yoda, &mut hans);

    hans.send("private luke to luke");
    hans.send("private yoda to yoda");
    luke.expect("hans(private): to luke");
    yoda.expect("hans(private): to yoda");
    luke.send("private hans from luke");
    hans.expect("luke(private): from luke");
    yoda.send("private hans from yoda");
    hans.expect("yoda(private): from yoda");

    hans.send("stopprivate luke");
    luke.expect("hans stopped private messaging");
    hans.send("private yoda still here");
    yoda.expect("hans(private): still here");
    sync(&mut luke);
    assert_eq!(luke.count("to yoda"), 0, "luke saw yoda's messages");
    assert_eq!(yoda.count("to luke"), 0, "yoda saw luke's messages");
}

#[test]
fn private_activity_keeps_users_online_while_an_idle_user_times_out() {
    let server = ChatdProcess::start("timeout = 2\n");
    let mut hans = online(&server, "hans");
    let mut luke = online(&server, "luke");
    let mut yoda = online(&server, "yoda");
    start_private(&mut hans, &mut luke);
    // 3.5 s of private messages only, each side every 0.5 s; the timeout is 2 s.
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_millis(3500) {
        n += 1;
        hans.send(&format!("private luke ping {n}"));
        luke.expect(&format!("hans(private): ping {n}"));
        luke.send(&format!("private hans pong {n}"));
        hans.expect(&format!("luke(private): pong {n}"));
        // Pacing the conversation, not waiting for readiness.
        std::thread::sleep(Duration::from_millis(500));
    }
    yoda.expect("You have been logged out due to inactivity");
    assert_eq!(yoda.finish(), 3);
    // (Printed during the conversation; `expect` above may have gone past it.)
    sync(&mut hans);
    sync(&mut luke);
    assert_eq!(hans.count("yoda logged out"), 1);
    assert_eq!(luke.count("yoda logged out"), 1);
    assert!(hans.running() && luke.running());
    assert_eq!(hans.count("inactivity"), 0);
    assert_eq!(luke.count("inactivity"), 0);
    hans.send("private luke still here");
    luke.expect("hans(private): still here");
}

#[test]
fn a_peer_timing_out_ends_the_session() {
    let server = ChatdProcess::start("timeout = 2\n");
    let mut hans = online(&server, "hans");
    let mut luke = online(&server, "luke");
    start_private(&mut hans, &mut luke);
    // hans keeps talking privately; luke only listens and is logged out.
    let start = Instant::now();
    let mut n = 0;
    while luke.count("You have been logged out due to inactivity") == 0 {
        assert!(start.elapsed() < DEADLINE, "luke was never timed out");
        n += 1;
        hans.send(&format!("private luke ping {n}"));
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(luke.finish(), 3);
    expect_both(
        &mut hans,
        "luke logged out",
        "Private messaging with luke ended",
    );
    hans.send("private luke are you there?");
    hans.expect("Error. Private messaging to luke not enabled");
    assert_eq!(hans.count("Private messaging with luke ended"), 1);
    assert!(hans.running());
}

/// Sends `lines` to `addr` and returns what came back before the listener closed (or
/// nothing came for a while).
fn knock(addr: &str, lines: &[String]) -> Vec<String> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    for line in lines {
        // The listener may close before it read everything.
        let _ = writer.write_all(line.as_bytes());
    }
    let mut got = Vec::new();
    for line in BufReader::new(stream).lines() {
        match line {
            Ok(line) => got.push(line),
            Err(_) => break,
        }
    }
    got
}

fn auth(user: &str, token: &str) -> String {
    proto::encode_line(&PeerFrame::Auth {
        user: user.into(),
        token: token.into(),
    })
}

#[test]
fn the_private_listener_refuses_forged_reused_and_junk_connections() {
    let server = ChatdProcess::start("");
    let mut luke = online(&server, "luke");
    // vader is a bare protocol client: it learns luke's listener address and the token.
    let mut vader = raw_login(server.port(), "vader", Some(1));
    assert_eq!(
        vader.request(Request::StartPrivate {
            user: "luke".into()
        }),
        Response::Ok
    );
    luke.expect(&question("vader"));
    luke.send("y");
    luke.send("whoelse");
    luke.expect("vader");
    let (addr, token) = match vader.event() {
        Event::PrivateStart {
            peer,
            addr: Some(addr),
            token,
            ..
        } if peer == "luke" => (addr, token),
        other => panic!("expected private_start, got {other:?}"),
    };

    // Junk, a forged token, the right token from the wrong user: each is dropped unanswered.
    let forged: String = token
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    assert!(knock(&addr, &["GET / HTTP/1.0\r\n\r\n".into()]).is_empty());
    assert!(knock(&addr, &["\u{0}\u{1b}[2J\n".into()]).is_empty());
    assert!(knock(&addr, &[auth("vader", &forged)]).is_empty());
    assert!(knock(&addr, &[auth("hans", &token)]).is_empty());
    assert!(knock(&addr, &["x".repeat(200_000)]).is_empty());

    // The real thing: auth_ok, then a message (escaped on luke's screen).
    let stream = TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    writer.write_all(auth("vader", &token).as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(
        serde_json::from_str::<PeerFrame>(&line).unwrap(),
        PeerFrame::AuthOk {
            user: "luke".into()
        }
    );
    luke.expect("Start private messaging with vader");
    let text = proto::encode_line(&PeerFrame::Text {
        text: "the dark side \u{1b}[31m".into(),
    });
    writer.write_all(text.as_bytes()).unwrap();
    luke.expect("vader(private): the dark side \\x1b[31m");

    // The token is spent: a second use is refused, and the first session goes on.
    assert!(knock(&addr, &[auth("vader", &token)]).is_empty());
    let text = proto::encode_line(&PeerFrame::Text {
        text: "still here".into(),
    });
    writer.write_all(text.as_bytes()).unwrap();
    luke.expect("vader(private): still here");

    // Luke saw nothing from the refused connections.
    sync(&mut luke);
    assert_lines(
        "luke",
        &luke.lines,
        &[
            WELCOME,
            "vader logged in",
            &question("vader"),
            "vader",
            "Start private messaging with vader",
            "vader(private): the dark side \\x1b[31m",
            "vader(private): still here",
            "Error. No private messaging session with nobody-at-all",
        ],
    );
}

#[test]
fn an_unreachable_advertised_address_fails_cleanly() {
    let server = ChatdProcess::start("");
    let mut hans = online(&server, "hans");
    // luke listens on 127.0.0.1 but has the server hand out 127.0.0.2: nobody listens there.
    let mut luke = Piped::start("luke", server.port(), &["--advertise", "127.0.0.2"], &[]);
    luke.send("luke");
    luke.send(password("luke"));
    luke.expect(WELCOME);
    hans.send("startprivate luke");
    luke.expect(&question("hans"));
    luke.send("y");
    hans.expect("luke accepts private messaging");
    hans.expect("Error. Cannot connect to luke for private messaging");
    // hans told the server the session is over: he may ask again.
    hans.send("startprivate luke");
    luke.expect(&question("hans"));
    luke.send("n");
    hans.expect("luke declines private messaging");
    sync(&mut hans);
    assert_eq!(hans.count("Start private messaging"), 0);
}
