//! The client against a scripted stand-in server on 127.0.0.1, for what a real `chatd` cannot
//! be made to do on demand from these tests: a kick (the admin socket is chatctl's), a server
//! of another protocol version, a refused connection, the login time limit, an error code newer
//! than the client.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;

use common::{assert_lines, Piped};

const WELCOME: &str = "Welcome to the greatest messaging application ever!";

/// One accepted connection, spoken to line by line.
struct Peer {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Peer {
    fn send(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).unwrap();
        self.writer.write_all(b"\n").unwrap();
    }

    /// Reads one request and returns it as JSON.
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

    /// Greets, takes the private listener's port (sent before the login), and logs `user` in.
    fn login(&mut self) {
        self.send(r#"{"type":"hello","protocol":1,"server":"stand-in"}"#);
        let id = self.expect("private_listen");
        self.send(&format!(r#"{{"id":{id},"type":"ok"}}"#));
        let id = self.expect("login");
        self.send(&format!(r#"{{"id":{id},"type":"password_required"}}"#));
        let id = self.expect("password");
        self.send(&format!(
            r#"{{"id":{id},"type":"welcome","user":"hans","offline":0}}"#
        ));
    }
}

/// Listens on 127.0.0.1 and runs `script` on the first connection, in a thread.
fn stand_in(script: impl FnOnce(&mut Peer) + Send + 'static) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut peer = Peer {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        script(&mut peer);
    });
    (port, handle)
}

#[test]
fn kick_with_reason_exits_3_and_escapes_the_reason() {
    let (port, server) = stand_in(|peer| {
        peer.login();
        let id = peer.expect("whoelse");
        peer.send(&format!(r#"{{"id":{id},"type":"users","users":["yoda"]}}"#));
        peer.send(r#"{"type":"kicked","reason":"spam \u001b[2J"}"#);
    });
    let mut c = Piped::start("hans", port, &[], &[]);
    c.send("hans");
    c.send("falcon*solo");
    c.send("whoelse");
    assert_eq!(c.finish(), 3);
    assert_lines(
        "hans",
        &c.lines,
        &[
            WELCOME,
            "yoda",
            "You have been disconnected by the administrator",
            "Reason: spam \\x1b[2J",
        ],
    );
    server.join().unwrap();
}

#[test]
fn kick_without_reason() {
    let (port, server) = stand_in(|peer| {
        peer.login();
        peer.send(r#"{"type":"kicked"}"#);
    });
    let mut c = Piped::start("hans", port, &[], &[]);
    c.send("hans");
    c.send("falcon*solo");
    assert_eq!(c.finish(), 3);
    assert_lines(
        "hans",
        &c.lines,
        &[WELCOME, "You have been disconnected by the administrator"],
    );
    server.join().unwrap();
}

#[test]
fn other_protocol_version_is_refused() {
    let (port, server) = stand_in(|peer| {
        peer.send(r#"{"type":"hello","protocol":2,"server":"future"}"#);
    });
    let mut c = Piped::script("hans", port, "hans\n");
    assert_eq!(c.finish(), 3);
    assert!(c.lines.is_empty());
    assert!(c.stderr().contains("protocol version 2"), "{}", c.stderr());
    server.join().unwrap();
}

#[test]
fn refused_connection_is_reported_on_stderr() {
    let (port, server) = stand_in(|peer| {
        peer.send(
            r#"{"type":"error","code":"too_many_connections","message":"Too many connections"}"#,
        );
    });
    let mut c = Piped::script("hans", port, "hans\n");
    assert_eq!(c.finish(), 3);
    assert!(c.lines.is_empty());
    assert!(
        c.stderr().contains("Too many connections"),
        "{}",
        c.stderr()
    );
    server.join().unwrap();
}

#[test]
fn login_time_limit_exits_2() {
    let (port, server) = stand_in(|peer| {
        peer.send(r#"{"type":"hello","protocol":1,"server":"stand-in"}"#);
        peer.send(r#"{"type":"error","code":"login_timeout","message":"Login took too long"}"#);
    });
    // Nothing typed: the client is waiting for the user name when the limit passes.
    let mut c = Piped::start("hans", port, &[], &[]);
    assert_eq!(c.finish(), 2);
    assert_lines("hans", &c.lines, &["Error. Login took too long"]);
    server.join().unwrap();
}

#[test]
fn unknown_error_code_shows_the_message() {
    let (port, server) = stand_in(|peer| {
        peer.login();
        let id = peer.expect("broadcast");
        peer.send(&format!(
            r#"{{"id":{id},"type":"error","code":"brand_new_code","message":"Try again tomorrow"}}"#
        ));
        let id = peer.expect("logout");
        peer.send(&format!(r#"{{"id":{id},"type":"ok"}}"#));
    });
    let mut c = Piped::script("hans", port, "hans\nfalcon*solo\nbroadcast hi\n");
    assert_eq!(c.finish(), 0);
    assert_lines("hans", &c.lines, &[WELCOME, "Error. Try again tomorrow"]);
    server.join().unwrap();
}

#[test]
fn listener_is_announced_after_login_when_the_server_wants_it_then() {
    let (port, server) = stand_in(|peer| {
        peer.send(r#"{"type":"hello","protocol":1,"server":"older"}"#);
        let id = peer.expect("private_listen");
        peer.send(&format!(
            r#"{{"id":{id},"type":"error","code":"not_logged_in","message":"Log in first"}}"#
        ));
        let id = peer.expect("login");
        peer.send(&format!(r#"{{"id":{id},"type":"password_required"}}"#));
        let id = peer.expect("password");
        peer.send(&format!(
            r#"{{"id":{id},"type":"welcome","user":"hans","offline":0}}"#
        ));
        let request = peer.recv();
        assert_eq!(request["type"], "private_listen", "{request}");
        assert!(request["port"].as_u64().is_some_and(|p| p > 0), "{request}");
        let id = request["id"].as_u64().unwrap();
        peer.send(&format!(r#"{{"id":{id},"type":"ok"}}"#));
        let id = peer.expect("logout");
        peer.send(&format!(r#"{{"id":{id},"type":"ok"}}"#));
    });
    let mut c = Piped::script("hans", port, "hans\nfalcon*solo\n");
    assert_eq!(c.finish(), 0, "stderr: {}", c.stderr());
    assert_lines("hans", &c.lines, &[WELCOME]);
    server.join().unwrap();
}

/// Everything the client prints about what the network sent is escaped, on stderr as on
/// stdout: a peer's advertised address in a connection error, a server's error text, a frame
/// the client cannot read.
#[test]
fn terminal_escapes_from_the_network_never_reach_stderr_raw() {
    let (port, server) = stand_in(|peer| {
        peer.send(r#"{"type":"hello","protocol":1,"server":"stand-in"}"#);
        let id = peer.expect("private_listen");
        peer.send(&format!(
            r#"{{"id":{id},"type":"error","code":"brand_new_code","message":"no \u001b[2J listener"}}"#
        ));
        let id = peer.expect("login");
        peer.send(&format!(r#"{{"id":{id},"type":"password_required"}}"#));
        let id = peer.expect("password");
        peer.send(&format!(
            r#"{{"id":{id},"type":"welcome","user":"hans","offline":0}}"#
        ));
        // The listener is announced again after the login, and refused again.
        let id = peer.expect("private_listen");
        peer.send(&format!(
            r#"{{"id":{id},"type":"error","code":"brand_new_code","message":"still \u001b]0;pwned\u0007 no"}}"#
        ));
        let id = peer.expect("start_private");
        peer.send(&format!(r#"{{"id":{id},"type":"ok"}}"#));
        // A frame the client cannot read, with an escape in it.
        peer.send("{\"type\":\"message\",\"from\":7,\"text\":\"\u{1b}[31m\"}");
        // The consent, then an address no one can resolve, full of escapes.
        peer.send(
            r#"{"type":"private_start","peer":"luke","addr":"\u001b]0;pwned\u0007\u001b[2J:1","token":"t"}"#,
        );
        let request = peer.recv();
        assert_eq!(request["type"], "private_ended", "{request}");
        let id = peer.expect("logout");
        peer.send(&format!(r#"{{"id":{id},"type":"ok"}}"#));
    });
    let mut c = Piped::start("hans", port, &[], &[]);
    c.send("hans");
    c.send("falcon*solo");
    c.send("startprivate luke");
    c.expect("Error. Cannot connect to luke for private messaging");
    c.close_stdin();
    assert_eq!(c.finish(), 0, "stderr: {}", c.stderr());
    let stderr = c.stderr();
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "{stderr:?}"
    );
    assert!(
        stderr.contains("\\x1b]0;pwned\\x07\\x1b[2J:1"),
        "the address is shown escaped: {stderr}"
    );
    assert!(stderr.contains("still \\x1b]0;pwned\\x07 no"), "{stderr}");
    assert!(
        !c.lines.iter().any(|l| l.contains('\u{1b}')),
        "{:?}",
        c.lines
    );
    server.join().unwrap();
}
