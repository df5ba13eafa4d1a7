//! The client against a scripted stand-in server on 127.0.0.1 (port 0), one thread per test.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::*;
use crate::frames::ErrorCode;

const HELLO: &str = r#"{"type":"hello","protocol":1,"server":"stand-in","max_line":100}"#;
/// Long enough never to be reached when things work.
const WAIT: Duration = Duration::from_secs(20);

/// One accepted connection, spoken to line by line.
struct Peer {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Peer {
    fn send(&mut self, lines: &[&str]) {
        // One write, so that lines sent together arrive together.
        let mut bytes = String::new();
        for line in lines {
            bytes.push_str(line);
            bytes.push('\n');
        }
        self.writer.write_all(bytes.as_bytes()).unwrap();
    }

    /// Reads one request line as JSON.
    fn recv(&mut self) -> serde_json::Value {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad request {line:?}: {e}"))
    }

    /// Reads a request of type `kind` and returns its id.
    fn expect(&mut self, kind: &str) -> u64 {
        let request = self.recv();
        assert_eq!(request["type"], kind, "{request}");
        request["id"].as_u64().expect("requests carry ids")
    }
}

/// Listens on 127.0.0.1 and runs `script` on the first connection, in a thread.
fn stand_in(script: impl FnOnce(&mut Peer) + Send + 'static) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut peer = Peer {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        script(&mut peer);
    });
    (addr, handle)
}

#[test]
fn request_reply_and_events_in_order() {
    let (addr, server) = stand_in(|peer| {
        peer.send(&[HELLO]);
        let id = peer.expect("whoelse");
        assert_eq!(id, 1);
        // Two events before the reply, one after.
        peer.send(&[
            r#"{"type":"presence","user":"luke","online":true}"#,
            r#"{"type":"broadcast","from":"luke","text":"hi"}"#,
            &format!(r#"{{"id":{id},"type":"users","users":["luke"]}}"#),
            r#"{"type":"presence","user":"luke","online":false}"#,
        ]);
        let id = peer.expect("message");
        assert_eq!(id, 2);
        peer.send(&[&format!(r#"{{"id":{id},"type":"sent","stored":true}}"#)]);
    });
    let mut c = Client::connect(addr, WAIT).unwrap();
    assert_eq!(c.hello().server, "stand-in");
    assert_eq!(c.max_line(), 100);
    assert_eq!(
        c.request(Request::Whoelse).unwrap(),
        Response::Users {
            users: vec!["luke".into()]
        }
    );
    assert_eq!(
        c.request(Request::Message {
            to: "yoda".into(),
            text: "x".into()
        })
        .unwrap(),
        Response::Sent { stored: true }
    );
    assert_eq!(
        c.next_event().unwrap(),
        Event::Presence {
            user: "luke".into(),
            online: true,
            ts: None,
        }
    );
    assert_eq!(
        c.take_events(),
        vec![
            Event::Broadcast {
                from: "luke".into(),
                text: "hi".into(),
                ts: None,
            },
            Event::Presence {
                user: "luke".into(),
                online: false,
                ts: None,
            }
        ]
    );
    server.join().unwrap();
    assert!(matches!(c.next_event(), Err(ClientError::Closed)));
}

#[test]
fn a_presence_batch_reads_as_presence_events_in_order() {
    let (addr, server) = stand_in(|peer| {
        peer.send(&[HELLO]);
        let id = peer.expect("whoelse");
        peer.send(&[
            r#"{"type":"presence_batch","users":["luke","leia"],"online":false,"ts":9}"#,
            r#"{"type":"presence_batch","users":[],"online":true}"#,
            &format!(r#"{{"id":{id},"type":"users","users":[]}}"#),
            r#"{"type":"presence","user":"han","online":true}"#,
        ]);
    });
    let mut c = Client::connect(addr, WAIT).unwrap();
    assert_eq!(
        c.request(Request::Whoelse).unwrap(),
        Response::Users { users: vec![] }
    );
    let gone = |user: &str| Event::Presence {
        user: user.into(),
        online: false,
        ts: Some(9),
    };
    assert_eq!(c.take_events(), vec![gone("luke"), gone("leia")]);
    assert_eq!(
        c.next_event().unwrap(),
        Event::Presence {
            user: "han".into(),
            online: true,
            ts: None,
        }
    );
    server.join().unwrap();
}

#[test]
fn frames_sent_with_the_greeting_are_not_lost() {
    let (addr, server) = stand_in(|peer| {
        peer.send(&[
            HELLO,
            r#"{"type":"error","code":"login_timeout","message":"Login took too long"}"#,
        ]);
    });
    let mut c = Client::connect(addr, WAIT).unwrap();
    assert_eq!(
        c.reply(None).unwrap(),
        Response::error(ErrorCode::LoginTimeout, "Login took too long")
    );
    server.join().unwrap();
}

#[test]
fn greeting_problems() {
    let refuse = |lines: &'static [&'static str]| {
        let (addr, server) = stand_in(move |peer| peer.send(lines));
        let err = Client::connect(addr, WAIT).unwrap_err();
        server.join().unwrap();
        err
    };
    assert!(matches!(
        refuse(&[r#"{"type":"hello","protocol":2,"server":"future"}"#]),
        ClientError::Version { theirs: 2 }
    ));
    match refuse(&[
        r#"{"type":"error","code":"too_many_connections","message":"Too many connections"}"#,
    ]) {
        ClientError::Refused { code, message } => {
            assert_eq!(code, ErrorCode::TooManyConnections);
            assert_eq!(message, "Too many connections");
        }
        other => panic!("{other:?}"),
    }
    match refuse(&[]) {
        ClientError::NoHello(reason) => assert_eq!(reason, "the server closed the connection"),
        other => panic!("{other:?}"),
    }
    match refuse(&["SSH-2.0-OpenSSH_9.6"]) {
        ClientError::NoHello(reason) => assert!(reason.contains("not a chat frame"), "{reason}"),
        other => panic!("{other:?}"),
    }
    match refuse(&[r#"{"type":"presence","user":"a","online":true}"#]) {
        ClientError::NoHello(reason) => {
            assert_eq!(reason, "the first frame was not a greeting")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn silent_server_times_out_the_greeting() {
    let (release, wait) = mpsc::channel::<()>();
    let (addr, server) = stand_in(move |_peer| {
        // Say nothing until the client gave up.
        let _ = wait.recv();
    });
    let err = Client::connect(addr, Duration::from_millis(200)).unwrap_err();
    release.send(()).unwrap();
    server.join().unwrap();
    match err {
        ClientError::NoHello(reason) => assert_eq!(reason, "no greeting within 0.2 seconds"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn nothing_to_connect_to() {
    assert!(matches!(
        connect(&[], WAIT),
        Err(ClientError::Connect(e)) if e.kind() == std::io::ErrorKind::NotFound
    ));
    assert!(matches!(
        Client::connect("no-such-host.invalid:5000", WAIT),
        Err(ClientError::Resolve(_))
    ));
}

#[test]
fn a_reply_that_does_not_come_times_out() {
    let (release, wait) = mpsc::channel::<()>();
    let (addr, server) = stand_in(move |peer| {
        peer.send(&[HELLO]);
        peer.expect("whoelse");
        let _ = wait.recv();
    });
    let mut c = Client::connect(addr, WAIT).unwrap();
    let deadline = Instant::now() + Duration::from_millis(100);
    assert!(matches!(
        c.request_by(Request::Whoelse, deadline),
        Err(ClientError::Timeout)
    ));
    release.send(()).unwrap();
    server.join().unwrap();
}

#[test]
fn replies_out_of_turn_and_newer_frames() {
    let (addr, server) = stand_in(|peer| {
        peer.send(&[HELLO]);
        let id = peer.expect("whoelse");
        peer.send(&[
            // An event type this crate does not know is skipped.
            r#"{"type":"brand_new_event","x":1}"#,
            // A reply type it does not know still ends the request.
            &format!(r#"{{"id":{id},"type":"brand_new_reply","message":"Try later"}}"#),
        ]);
        peer.expect("logout");
        peer.send(&[r#"{"id":99,"type":"ok"}"#]);
    });
    let mut c = Client::connect(addr, WAIT).unwrap();
    assert_eq!(
        c.request(Request::Whoelse).unwrap(),
        Response::error(ErrorCode::Internal, "Try later")
    );
    match c.logout() {
        Err(ClientError::Unexpected(frame)) => assert_eq!(
            *frame,
            ServerFrame::Reply {
                id: Some(99),
                response: Response::Ok
            }
        ),
        other => panic!("{other:?}"),
    }
    assert!(c.take_events().is_empty());
    server.join().unwrap();
}

#[test]
fn raw_lines_and_their_replies() {
    let (addr, server) = stand_in(|peer| {
        peer.send(&[HELLO]);
        let mut line = String::new();
        peer.reader.read_line(&mut line).unwrap();
        assert_eq!(line, "{\"type\":\"dance\"}\n");
        peer.send(&[r#"{"type":"error","code":"unknown_request","message":"Unknown request"}"#]);
    });
    let mut c = Client::connect(addr, WAIT).unwrap();
    c.send_raw(b"{\"type\":\"dance\"}\n").unwrap();
    assert_eq!(
        c.reply(None).unwrap(),
        Response::error(ErrorCode::UnknownRequest, "Unknown request")
    );
    server.join().unwrap();
}

#[test]
fn login_and_logout() {
    let (addr, server) = stand_in(|peer| {
        peer.send(&[HELLO]);
        let id = peer.expect("login");
        peer.send(&[&format!(r#"{{"id":{id},"type":"new_user"}}"#)]);
        let request = peer.recv();
        assert_eq!(request["password"], "pw");
        let id = request["id"].as_u64().unwrap();
        peer.send(&[
            &format!(r#"{{"id":{id},"type":"welcome","user":"hans","offline":1}}"#),
            r#"{"type":"message","from":"yoda","text":"there?","offline":true}"#,
        ]);
        let id = peer.expect("logout");
        peer.send(&[
            &format!(r#"{{"id":{id},"type":"ok"}}"#),
            r#"{"type":"presence","user":"yoda","online":false}"#,
            // Junk: skipped.
            r#"{"type":"shutdown"#,
        ]);
        // Cut off by the close: not a frame.
        let _ = peer.writer.write_all(br#"{"type":"shutdown"}"#);
    });
    let mut c = Client::connect(addr, WAIT).unwrap();
    assert_eq!(
        c.login("hans", "pw").unwrap(),
        Welcome {
            user: "hans".into(),
            offline: 1,
            created: true
        }
    );
    c.logout().unwrap();
    server.join().unwrap();
    assert_eq!(
        c.events_until_closed().unwrap(),
        vec![
            Event::Message {
                from: "yoda".into(),
                text: "there?".into(),
                offline: true,
                ts: None,
                msg_id: None,
            },
            Event::Presence {
                user: "yoda".into(),
                online: false,
                ts: None,
            }
        ]
    );
}

#[test]
fn refused_login() {
    let (addr, server) = stand_in(|peer| {
        peer.send(&[HELLO]);
        let id = peer.expect("login");
        peer.send(&[&format!(r#"{{"id":{id},"type":"password_required"}}"#)]);
        let id = peer.expect("password");
        peer.send(&[&format!(
            r#"{{"id":{id},"type":"error","code":"invalid_password","message":"Invalid Password. Please try again"}}"#
        )]);
    });
    let mut c = Client::connect(addr, WAIT).unwrap();
    match c.login("hans", "wrong") {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, ErrorCode::InvalidPassword),
        other => panic!("{other:?}"),
    }
    server.join().unwrap();
}

#[test]
fn fits_follows_the_servers_limit() {
    let (addr, server) = stand_in(|peer| peer.send(&[HELLO]));
    let c = Client::connect(addr, WAIT).unwrap();
    server.join().unwrap();
    let with = |n: usize| Request::Broadcast {
        text: "x".repeat(n),
    };
    // {"id":18446744073709551615,"type":"broadcast","text":""} is 56 bytes.
    assert!(c.writer().fits(&with(100 - 56)));
    assert!(!c.writer().fits(&with(100 - 55)));
}

#[test]
fn the_halves_feed_a_sink_of_the_callers_choice() {
    let (addr, server) = stand_in(|peer| {
        peer.send(&[HELLO, r#"{"type":"inactive"}"#]);
    });
    let conn = connect(&[addr], WAIT).unwrap();
    let (tx, rx) = mpsc::channel();
    conn.reader
        .spawn("test-reader", move |item| tx.send(item).is_ok())
        .unwrap();
    server.join().unwrap();
    assert!(matches!(
        rx.recv_timeout(WAIT).unwrap(),
        Incoming::Frame(ServerFrame::Event(Event::Inactive))
    ));
    assert!(matches!(
        rx.recv_timeout(WAIT).unwrap(),
        Incoming::Closed(ClientError::Closed)
    ));
    // The thread ended after the close.
    assert!(matches!(
        rx.recv_timeout(WAIT),
        Err(RecvTimeoutError::Disconnected)
    ));
}
