//! The wire-protocol client of the tests: a thin wrapper over [`proto::client::Client`] (the
//! one protocol client of the workspace) that turns every failure into a panic saying what was
//! expected, because in a test an unexpected frame, a closed connection or a wait that runs out
//! is the failure. Every wait has the deadline [`DEADLINE`].
//!
//! It does not start servers: see [`crate::server`].
//!
//! Events come with their time stamp (`ts`) cleared, so tests about what was said compare
//! whole events; a test about the time stamps turns that off with [`Client::keep_times`].

use std::net::SocketAddr;
use std::time::Instant;

use proto::client::{Client as ProtoClient, ClientError};
use proto::{ErrorCode, Event, Hello, Request, Response, ServerFrame};

use crate::wait::DEADLINE;

/// A connection to chatd speaking the JSON-lines protocol.
pub struct Client {
    inner: ProtoClient,
    /// The server's greeting.
    pub hello: Hello,
    /// Keep the events' `ts` (otherwise cleared).
    keep_times: bool,
}

impl Client {
    /// Connects and reads the greeting.
    pub fn connect(addr: SocketAddr) -> Client {
        let inner =
            ProtoClient::connect(addr, DEADLINE).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        let hello = inner.hello().clone();
        Client {
            inner,
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

    /// The protocol client underneath, for what this wrapper does not cover.
    pub fn inner(&mut self) -> &mut ProtoClient {
        &mut self.inner
    }

    /// Reads one frame (an event kept while waiting for a reply comes first); `None` at end of
    /// stream, after a line cut off by it, or when the connection broke. Panics if nothing
    /// arrives within [`DEADLINE`].
    pub fn read_frame(&mut self) -> Option<ServerFrame> {
        match self.inner.next_frame_by(Instant::now() + DEADLINE) {
            Ok(ServerFrame::Event(e)) => Some(ServerFrame::Event(self.seen(e))),
            Ok(frame) => Some(frame),
            Err(ClientError::Closed | ClientError::Lost(_)) => None,
            Err(ClientError::Timeout) => panic!("no frame within {DEADLINE:?}"),
            Err(e) => panic!("reading a frame: {e}"),
        }
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.inner
            .send_raw(bytes)
            .unwrap_or_else(|e| panic!("send to chatd: {e}"));
    }

    /// Sends raw bytes, returning (not panicking on) a write error: given hostile input the
    /// server may close the connection before reading everything.
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.send_raw(bytes).map_err(|e| match e {
            ClientError::Send(io) | ClientError::Lost(io) => io,
            other => std::io::Error::other(other.to_string()),
        })
    }

    /// Sends a request with the next id and returns its reply, keeping events that arrive
    /// first for [`Client::next_event`].
    pub fn request(&mut self, request: Request) -> Response {
        let what = request.type_name();
        self.inner
            .request(request)
            .unwrap_or_else(|e| panic!("waiting for the reply to {what}: {e}"))
    }

    /// The next event: one kept while waiting for a reply, else the next frame, which must be
    /// an event arriving within [`DEADLINE`].
    pub fn next_event(&mut self) -> Event {
        let event = self
            .inner
            .next_event()
            .unwrap_or_else(|e| panic!("waiting for an event: {e}"));
        self.seen(event)
    }

    /// `event` as the test sees it: without its time stamp unless [`Client::keep_times`].
    fn seen(&self, event: Event) -> Event {
        if self.keep_times {
            event
        } else {
            without_ts(event)
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
        let events = self.inner.take_events();
        events.into_iter().map(|e| self.seen(e)).collect()
    }

    /// Reads to end of stream (or until the connection breaks), returning the events seen;
    /// panics if it does not close in time.
    pub fn events_until_closed(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
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
