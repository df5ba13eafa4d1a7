//! A client's private listener under a connection flood, end to end (issue 10): real `chat`
//! clients and a real `chatd` on 127.0.0.1. While junk connections flood luke's listener
//! (hundreds opened in a row, or more idle ones than the listener keeps, renewed as soon as it
//! closes them), a legitimate `startprivate` from hans to luke still succeeds.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use common::{online, password, ChatdProcess, Piped};
use proto::peer::PeerFrame;
use proto::{Event, Request, Response};
use testkit::Client;

fn question(from: &str) -> String {
    format!("{from} would like to private message, enter y or n: ")
}

/// luke's private listener address, learnt the way an attacker would: vader (a bare protocol
/// client) asks luke for a private session, luke accepts, the server hands vader the address;
/// vader completes the handshake and stops the session at once.
fn listener_of_luke(server: &ChatdProcess, luke: &mut Piped) -> String {
    let mut vader = Client::connect(SocketAddr::from(([127, 0, 0, 1], server.port())));
    assert_eq!(
        vader.request(Request::PrivateListen {
            port: 1,
            host: None,
            fingerprint: None,
        }),
        Response::Ok
    );
    vader.log_in("vader", password("vader"));
    assert_eq!(
        vader.request(Request::StartPrivate {
            user: "luke".into()
        }),
        Response::Ok
    );
    luke.expect(&question("vader"));
    luke.send("y");
    let (addr, token) = loop {
        match vader.event() {
            Event::PrivateStart {
                peer,
                addr: Some(addr),
                token,
                ..
            } if peer == "luke" => break (addr, token),
            Event::Presence { .. } => {}
            other => panic!("expected private_start, got {other:?}"),
        }
    };
    let stream = TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(testkit::DEADLINE)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let auth = PeerFrame::Auth {
        user: "vader".into(),
        token,
    };
    writer
        .write_all(proto::encode_line(&auth).as_bytes())
        .unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    assert!(line.contains("auth_ok"), "{line}");
    luke.expect("Start private messaging with vader");
    writer
        .write_all(proto::encode_line(&PeerFrame::Stop).as_bytes())
        .unwrap();
    luke.expect("vader stopped private messaging");
    addr
}

/// A flood of junk connections to `addr` on a thread of its own, until dropped.
struct Flood {
    stop: Arc<AtomicBool>,
    opened: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Flood {
    /// Keeps `held` connections open that never send a byte. With `churn`, every round closes
    /// the oldest and opens a new one (a stream of fresh connections); without, a connection
    /// is replaced only once the listener has closed it.
    fn start(addr: &str, held: usize, churn: bool) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let opened = Arc::new(AtomicUsize::new(0));
        let (addr, flag, count) = (addr.to_string(), Arc::clone(&stop), Arc::clone(&opened));
        let thread = std::thread::spawn(move || {
            let mut conns: std::collections::VecDeque<TcpStream> = Default::default();
            while !flag.load(Ordering::Relaxed) {
                // Drop what the listener closed.
                conns.retain(|c| !closed(c));
                if churn && conns.len() >= held {
                    conns.pop_front();
                }
                while conns.len() < held {
                    match TcpStream::connect(&addr) {
                        Ok(c) => {
                            count.fetch_add(1, Ordering::Relaxed);
                            conns.push_back(c);
                        }
                        Err(_) => break,
                    }
                }
                // Pace the loop a little: a flood, not a busy spin of the test machine.
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Flood {
            stop,
            opened,
            thread: Some(thread),
        }
    }

    fn opened(&self) -> usize {
        self.opened.load(Ordering::Relaxed)
    }
}

/// Whether the listener closed `c` (checked without waiting).
fn closed(c: &TcpStream) -> bool {
    if c.set_nonblocking(true).is_err() {
        return true;
    }
    match (&*c).read(&mut [0u8; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// hans asks luke, luke accepts, both see the session start and a message goes through; then
/// hans stops it.
fn private_session_works(hans: &mut Piped, luke: &mut Piped, round: usize) {
    hans.send("startprivate luke");
    luke.expect(&question("hans"));
    luke.send("y");
    hans.expect("luke accepts private messaging");
    hans.expect("Start private messaging with luke");
    luke.expect("Start private messaging with hans");
    hans.send(&format!("private luke through the flood {round}"));
    luke.expect(&format!("hans(private): through the flood {round}"));
    hans.send("stopprivate luke");
    hans.expect("Stopped private messaging with luke");
    luke.expect("hans stopped private messaging");
}

#[test]
fn the_expected_peer_gets_through_a_flood_of_junk_connections() {
    let server = ChatdProcess::start("");
    let mut luke = online(&server, "luke");
    let mut hans = online(&server, "hans");
    let addr = listener_of_luke(&server, &mut luke);

    // A stream of fresh connections, 16 held open at any time.
    let flood = Flood::start(&addr, 16, true);
    testkit::wait_until("the flood has opened 500 connections", || {
        flood.opened() >= 500
    });
    private_session_works(&mut hans, &mut luke, 1);
    drop(flood);

    // More idle connections than the listener keeps pending, each renewed as soon as the
    // listener closes it: the pending slots are always full of junk.
    let flood = Flood::start(&addr, 64, false);
    testkit::wait_until("the flood holds its connections", || flood.opened() >= 64);
    private_session_works(&mut hans, &mut luke, 2);
    // And again once the first junk connections have run out of time and been renewed.
    testkit::wait_until("the flood has renewed connections", || {
        flood.opened() >= 3 * 64
    });
    private_session_works(&mut hans, &mut luke, 3);
    drop(flood);

    assert!(hans.running() && luke.running());
    assert_eq!(hans.count("Error."), 0, "{:#?}", hans.lines);
}
