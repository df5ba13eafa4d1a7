//! A wire-protocol client for tests over a real TCP socket: [`Client`] sends requests with ids,
//! waits for the matching reply and keeps the events that arrive meanwhile. Every read has a
//! deadline ([`DEADLINE`]); a wait that runs out, an unexpected frame or a closed connection
//! panics with what was expected.
//!
//! The method names follow the protocol client in `proto` (connect, request, next_event,
//! send_raw, login), so this can become a thin wrapper over it that adds the panics tests
//! want. It does not start servers: see [`crate::server`].
//!
//! Events come with their time stamp (`ts`) cleared, so tests about what was said compare
//! whole events; a test about the time stamps turns that off with [`Client::keep_times`].

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};

use proto::{ClientFrame, ErrorCode, Event, Hello, Request, Response, ServerFrame};

use crate::wait::DEADLINE;

/// A connection to chatd speaking the JSON-lines protocol.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_id: u64,
    /// Events that arrived while waiting for a reply, oldest first.
    events: VecDeque<Event>,
    /// The server's greeting.
    pub hello: Hello,
    /// Keep the events' `ts` (otherwise cleared).
    keep_times: bool,
}

impl Client {
    /// Connects and reads the greeting.
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream
            .set_read_timeout(Some(DEADLINE))
            .expect("set a read timeout");
        let mut reader = BufReader::new(stream.try_clone().expect("clone the socket"));
        let hello = match read_frame(&mut reader) {
            Some(ServerFrame::Hello(h)) => h,
            other => panic!("expected hello, got {other:?}"),
        };
        Client {
            reader,
            writer: stream,
            next_id: 1,
            events: VecDeque::new(),
            hello,
            keep_times: false,
        }
    }

    /// From now on, events keep their time stamps (`ts`).
    pub fn keep_times(&mut self) {
        self.keep_times = true;
    }

    /// Connects and logs in as `user`; panics unless welcomed.
    pub fn login(addr: SocketAddr, user: &str, password: &str) -> Client {
        let mut c = Client::connect(addr);
        c.log_in(user, password);
        c
    }

    /// Logs in on this connection (`login`, then `password`); panics unless welcomed.
    pub fn log_in(&mut self, user: &str, password: &str) {
        let r = self.request(Request::Login { user: user.into() });
        assert!(
            matches!(r, Response::PasswordRequired | Response::NewUser),
            "login {user}: {r:?}"
        );
        let r = self.request(Request::Password {
            password: password.into(),
        });
        assert!(
            matches!(r, Response::Welcome { .. }),
            "password {user}: {r:?}"
        );
    }

    /// Reads one frame; `None` at end of stream (or a line cut off by it). Panics if none
    /// arrives within [`DEADLINE`] or it is not a valid frame.
    pub fn read_frame(&mut self) -> Option<ServerFrame> {
        match read_frame(&mut self.reader)? {
            ServerFrame::Event(e) if !self.keep_times => Some(ServerFrame::Event(without_ts(e))),
            frame => Some(frame),
        }
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("send to chatd");
    }

    /// Sends raw bytes, returning (not panicking on) a write error: given hostile input the
    /// server may close the connection before reading everything.
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Sends a request with the next id and returns its reply, keeping events that arrive
    /// first for [`Client::next_event`].
    pub fn request(&mut self, request: Request) -> Response {
        let id = self.next_id;
        self.next_id += 1;
        let line = ClientFrame {
            id: Some(id),
            request,
        }
        .encode();
        self.send_raw(line.as_bytes());
        loop {
            match self.read_frame() {
                Some(ServerFrame::Reply {
                    id: Some(got),
                    response,
                }) if got == id => return response,
                Some(ServerFrame::Reply { id: got, response }) => {
                    panic!("reply for {got:?} while waiting for {id}: {response:?}")
                }
                Some(ServerFrame::Event(e)) => self.events.push_back(e),
                Some(ServerFrame::Hello(_)) => panic!("second hello"),
                None => panic!("connection closed while waiting for reply {id}"),
            }
        }
    }

    /// The next event: one kept while waiting for a reply, else the next frame, which must be
    /// an event arriving within [`DEADLINE`].
    pub fn next_event(&mut self) -> Event {
        if let Some(e) = self.events.pop_front() {
            return e;
        }
        match self.read_frame() {
            Some(ServerFrame::Event(e)) => e,
            Some(other) => panic!("expected an event, got {other:?}"),
            None => panic!("connection closed while waiting for an event"),
        }
    }

    /// [`Client::next_event`], under the name the tests have long used.
    pub fn event(&mut self) -> Event {
        self.next_event()
    }

    /// Events received so far without waiting further: does a `whoelse` round trip first,
    /// so everything the server queued before now has arrived.
    pub fn drain_events(&mut self) -> Vec<Event> {
        self.request(Request::Whoelse);
        self.events.drain(..).collect()
    }

    /// Reads to end of stream, returning the events seen; panics if it does not close in time.
    pub fn events_until_closed(&mut self) -> Vec<Event> {
        let mut out: Vec<Event> = self.events.drain(..).collect();
        while let Some(frame) = self.read_frame() {
            if let ServerFrame::Event(e) = frame {
                out.push(e);
            }
        }
        out
    }

    /// The names in the `users` reply to `request`.
    pub fn users(&mut self, request: Request) -> Vec<String> {
        match self.request(request) {
            Response::Users { users } => users,
            other => panic!("expected users, got {other:?}"),
        }
    }

    /// The error code of a request expected to fail.
    pub fn error_code(&mut self, request: Request) -> ErrorCode {
        match self.request(request) {
            Response::Error { code, .. } => code,
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

/// `event` with its time stamp cleared.
pub fn without_ts(mut event: Event) -> Event {
    match &mut event {
        Event::Message { ts, .. } | Event::Broadcast { ts, .. } | Event::Presence { ts, .. } => {
            *ts = None
        }
        _ => {}
    }
    event
}

/// Shorthand for a `message` request.
pub fn msg(to: &str, text: &str) -> Request {
    Request::Message {
        to: to.into(),
        text: text.into(),
    }
}

fn read_frame(reader: &mut BufReader<TcpStream>) -> Option<ServerFrame> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => None,
        // A line cut off by the end of the stream (the server was killed mid-write) is not a
        // frame.
        Ok(_) if !line.ends_with('\n') => None,
        Ok(_) => Some(
            ServerFrame::decode(line.trim_end().as_bytes())
                .unwrap_or_else(|e| panic!("invalid frame {line:?}: {e}")),
        ),
        Err(e)
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.kind() == std::io::ErrorKind::TimedOut =>
        {
            panic!("no frame within {DEADLINE:?}")
        }
        Err(_) => None,
    }
}
