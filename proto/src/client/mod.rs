//! The one protocol client: connect, check the greeting, send requests with fresh ids, await
//! each reply with a deadline, and receive events in order, none lost while a reply is awaited.
//! Blocking, over TCP or TLS ([`crate::tls::Stream`]), with one reader thread per connection; `chat`, the
//! tests and the benchmarks all talk to `chatd` through it.
//!
//! Two levels:
//!
//! * [`Client`]: everything in one value. Events that arrive while a reply is awaited are kept
//!   in order and handed out by [`Client::next_event`]. Every wait has a deadline (the
//!   client's timeout, or an explicit [`Instant`] with the `_by` methods).
//! * [`link`]: the pieces [`Client`] is made of, for a caller with its own event loop:
//!   [`connect`] gives a [`Writer`] (ids, encoding) and a [`Reader`] whose thread hands every
//!   [`Incoming`] item to a sink of the caller's choosing (`chat` turns them into its inbox's
//!   messages, next to typed lines).
//! * [`check_hello`] and [`Login`]: the greeting check and the login conversation without
//!   I/O, for a client on another I/O model (`chat-bench` is asynchronous) to run the same
//!   rules.
//!
//! What it does not do: interpret replies beyond matching ids (that is the caller's), retry,
//! or reconnect.
//!
//! ```no_run
//! use std::time::Duration;
//! use proto::client::{Client, ClientError};
//! use proto::{Event, Request, Response};
//!
//! # fn main() -> Result<(), ClientError> {
//! let mut hans = Client::connect("127.0.0.1:5000", Duration::from_secs(10))?;
//! assert!(hans.max_line() > 0); // from the server's hello
//! let welcome = hans.login("hans", "falcon*solo")?;
//! println!("{} offline messages follow", welcome.offline);
//! let reply = hans.request(Request::Message {
//!     to: "yoda".into(),
//!     text: "Hey Dude".into(),
//! })?;
//! assert_eq!(reply, Response::Sent { stored: false });
//! // Events that arrived meanwhile were kept, in order.
//! if let Event::Presence { user, online, .. } = hans.next_event()? {
//!     println!("{user} is {}", if online { "online" } else { "offline" });
//! }
//! // Hostile input, for tests: the server answers without an id.
//! hans.send_raw(b"{\"type\":\"dance\"}\n")?;
//! let refused = hans.reply(None)?;
//! # Ok(())
//! # }
//! ```
//!
//! With a loop of one's own (as `chat` does), the halves:
//!
//! ```no_run
//! use std::sync::mpsc;
//! use std::time::Duration;
//! use proto::client::{connect, Incoming};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let addrs: Vec<_> = std::net::ToSocketAddrs::to_socket_addrs("127.0.0.1:5000")?.collect();
//! let conn = connect(&addrs, Duration::from_secs(10))?;
//! let (tx, rx) = mpsc::channel();
//! conn.reader.spawn("server-reader", move |item| tx.send(item).is_ok())?;
//! let mut writer = conn.writer;
//! let id = writer.send(proto::Request::Whoelse)?;
//! while let Ok(item) = rx.recv() {
//!     match item {
//!         Incoming::Frame(proto::ServerFrame::Reply { id: Some(got), response }) if got == id => {
//!             println!("{response:?}");
//!             break;
//!         }
//!         Incoming::Closed(e) => return Err(e.into()),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod error;
pub mod link;
mod login;

use std::collections::VecDeque;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

pub use error::ClientError;
pub use link::{
    connect, connect_with, Connection, Incoming, Reader, Security, Writer, MAX_SERVER_LINE,
};
pub use login::{check_hello, Login, LoginStep, Welcome};

use crate::frames::{Event, Hello, Request, Response, ServerFrame};

/// A connection to a chat server, with a reader thread and a queue of events not yet taken.
///
/// Every wait ends at a deadline: [`Client::timeout`] from now, or the `Instant` given to a
/// `_by` method. The reader thread ends when the connection closes; dropping the client
/// closes it.
#[derive(Debug)]
pub struct Client {
    writer: Writer,
    hello: Hello,
    fingerprint: Option<String>,
    inbox: Receiver<Incoming>,
    /// Events that arrived while a reply was awaited, in order.
    events: VecDeque<Event>,
    timeout: Duration,
}

impl Client {
    /// Resolves `addr`, connects (each address gets `timeout`), checks the greeting (within
    /// `timeout`) and starts the reader thread. `timeout` is also the default deadline of
    /// every later wait.
    ///
    /// # Errors
    /// [`ClientError::Resolve`], or any error of [`connect`].
    pub fn connect(addr: impl ToSocketAddrs, timeout: Duration) -> Result<Client, ClientError> {
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(ClientError::Resolve)?
            .collect();
        Client::start(connect(&addrs, timeout)?, timeout)
    }

    /// [`Client::connect`] with the given [`Security`] (TLS: the handshake comes first).
    ///
    /// # Errors
    /// As [`Client::connect`], and [`ClientError::Tls`].
    pub fn connect_with(
        addr: impl ToSocketAddrs,
        timeout: Duration,
        security: &Security,
    ) -> Result<Client, ClientError> {
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(ClientError::Resolve)?
            .collect();
        Client::start(connect_with(&addrs, timeout, security)?, timeout)
    }

    /// A client over a connection opened with [`connect`].
    ///
    /// # Errors
    /// [`ClientError::Connect`] when the reader thread cannot be started.
    pub fn start(conn: Connection, timeout: Duration) -> Result<Client, ClientError> {
        let (tx, inbox) = mpsc::channel();
        conn.reader
            .spawn("proto-client-reader", move |item| tx.send(item).is_ok())
            .map_err(ClientError::Connect)?;
        Ok(Client {
            writer: conn.writer,
            hello: conn.hello,
            fingerprint: conn.fingerprint,
            inbox,
            events: VecDeque::new(),
            timeout,
        })
    }

    /// The server's greeting.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// Over TLS, the SHA-256 fingerprint of the server's certificate.
    pub fn fingerprint(&self) -> Option<&str> {
        self.fingerprint.as_deref()
    }

    /// The longest line the server accepts (from its greeting).
    pub fn max_line(&self) -> usize {
        self.hello.max_line
    }

    /// The default wait.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Changes the default wait.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The sending half, for what [`Client`] has no method for ([`Writer::fits`],
    /// [`Writer::local_addr`]).
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Sends `request` with a fresh id without waiting; returns the id (see [`Client::reply`]).
    ///
    /// # Errors
    /// [`ClientError::Send`].
    pub fn send(&mut self, request: Request) -> Result<u64, ClientError> {
        self.writer.send(request)
    }

    /// Sends bytes as they are: for tests of hostile input.
    ///
    /// # Errors
    /// [`ClientError::Send`] (the server may have closed the connection already).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.writer.send_raw(bytes)
    }

    /// Sends `request` and waits (up to the timeout) for its reply; events that arrive first
    /// are kept for [`Client::next_event`].
    ///
    /// # Errors
    /// See [`Client::reply_by`].
    pub fn request(&mut self, request: Request) -> Result<Response, ClientError> {
        let deadline = self.deadline();
        self.request_by(request, deadline)
    }

    /// [`Client::request`] with an explicit deadline.
    ///
    /// # Errors
    /// See [`Client::reply_by`].
    pub fn request_by(
        &mut self,
        request: Request,
        deadline: Instant,
    ) -> Result<Response, ClientError> {
        let id = self.send(request)?;
        self.reply_by(Some(id), deadline)
    }

    /// Waits (up to the timeout) for the reply carrying `id` (`None`: a reply without id, as
    /// the server sends to a line it could not decode).
    ///
    /// # Errors
    /// See [`Client::reply_by`].
    pub fn reply(&mut self, id: Option<u64>) -> Result<Response, ClientError> {
        let deadline = self.deadline();
        self.reply_by(id, deadline)
    }

    /// Waits until `deadline` for the reply carrying `id`, keeping events that come first.
    ///
    /// # Errors
    /// [`ClientError::Timeout`]; [`ClientError::Unexpected`] for a reply with another id (or a
    /// second greeting); the end of the connection ([`ClientError::Closed`], ...).
    pub fn reply_by(
        &mut self,
        id: Option<u64>,
        deadline: Instant,
    ) -> Result<Response, ClientError> {
        loop {
            match self.recv_by(deadline)? {
                ServerFrame::Reply { id: got, response } if got == id => return Ok(response),
                ServerFrame::Event(event) => self.events.push_back(event),
                other => return Err(ClientError::Unexpected(Box::new(other))),
            }
        }
    }

    /// The next event: a kept one, or the next to arrive within the timeout.
    ///
    /// # Errors
    /// See [`Client::next_event_by`].
    pub fn next_event(&mut self) -> Result<Event, ClientError> {
        let deadline = self.deadline();
        self.next_event_by(deadline)
    }

    /// The next event: a kept one, or the next to arrive before `deadline`.
    ///
    /// # Errors
    /// [`ClientError::Timeout`]; [`ClientError::Unexpected`] when a reply comes first; the end
    /// of the connection.
    pub fn next_event_by(&mut self, deadline: Instant) -> Result<Event, ClientError> {
        if let Some(event) = self.events.pop_front() {
            return Ok(event);
        }
        match self.recv_by(deadline)? {
            ServerFrame::Event(event) => Ok(event),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    /// The next frame of any kind (kept events first), before `deadline`.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] or the end of the connection.
    pub fn next_frame_by(&mut self, deadline: Instant) -> Result<ServerFrame, ClientError> {
        if let Some(event) = self.events.pop_front() {
            return Ok(ServerFrame::Event(event));
        }
        self.recv_by(deadline)
    }

    /// The events kept so far, without waiting. (To be sure everything the server sent before
    /// now has arrived, make a request first: replies come in order with events.)
    pub fn take_events(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    /// Every event until the server closes the connection (kept ones first), which must
    /// happen within the timeout. Replies on the way are skipped.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] if the connection is still open at the deadline;
    /// [`ClientError::Lost`] or [`ClientError::LineTooLong`] if it broke instead of closing.
    pub fn events_until_closed(&mut self) -> Result<Vec<Event>, ClientError> {
        let deadline = self.deadline();
        let mut events = self.take_events();
        loop {
            match self.recv_by(deadline) {
                Ok(ServerFrame::Event(event)) => events.push(event),
                Ok(_) => {}
                Err(ClientError::Closed) => return Ok(events),
                Err(e) => return Err(e),
            }
        }
    }

    /// Logs in: `login`, then `password`.
    ///
    /// # Errors
    /// [`ClientError::Refused`] with the server's code (`invalid_password`, ...);
    /// [`ClientError::Unexpected`] for an answer of the wrong type; or any error of
    /// [`Client::request`].
    pub fn login(&mut self, user: &str, password: &str) -> Result<Welcome, ClientError> {
        let mut login = Login::new(user, password);
        let mut request = login.start();
        loop {
            let response = self.request(request)?;
            match login.on_reply(response)? {
                LoginStep::Send(next) => request = next,
                LoginStep::Done(welcome) => return Ok(welcome),
            }
        }
    }

    /// Logs out: `logout`, answered with `ok` (the server closes the connection next).
    ///
    /// # Errors
    /// As [`Client::login`].
    pub fn logout(&mut self) -> Result<(), ClientError> {
        match self.request(Request::Logout)? {
            Response::Ok => Ok(()),
            other => Err(login::refusal(other)),
        }
    }

    /// Closes the connection in both directions (the reader thread ends).
    pub fn shutdown(&self) {
        self.writer.shutdown();
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// The next frame from the reader thread (lines it skipped are passed over).
    fn recv_by(&mut self, deadline: Instant) -> Result<ServerFrame, ClientError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.inbox.recv_timeout(left) {
                Ok(Incoming::Frame(frame)) => return Ok(frame),
                Ok(Incoming::Skipped(_)) => {}
                Ok(Incoming::Closed(e)) => return Err(e),
                Err(RecvTimeoutError::Timeout) => return Err(ClientError::Timeout),
                // The thread ended after handing over its `Closed`.
                Err(RecvTimeoutError::Disconnected) => return Err(ClientError::Closed),
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.writer.shutdown();
    }
}

#[cfg(test)]
mod tests;
