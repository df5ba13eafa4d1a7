//! One benchmark connection, for either protocol: connecting, logging in (chatd's
//! `login`/`password`, or IRC's `NICK`/`USER` registration), encoding the requests the
//! scenarios send, and classifying the lines the server sends back.
//!
//! This module knows the wire formats; it does not know about scenarios, windows or timing
//! (that is `scenario`). Every wait here is bounded by the caller's deadline.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{FromRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use futures_lite::io::BufReader;
use futures_lite::{AsyncBufReadExt, AsyncWriteExt};
use proto::client::{check_hello, Login, LoginStep};
use proto::{ClientFrame, Request, Response, ServerFrame};
use serde::Deserialize;
use smol::lock::Mutex;
use smol::net::TcpStream;
use smol::Async;

/// Which server speaks on the other end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// chatd's newline-delimited JSON protocol.
    Chat,
    /// IRC (RFC 1459/2812 client protocol).
    Irc,
}

/// The IRC channel the broadcast scenario uses.
pub const CHANNEL: &str = "#bench";

/// The writing half of a connection. Behind an async mutex because the reader task answers
/// IRC `PING`s on the same socket as the sender task, and a write that is suspended half-way
/// must not be interleaved with another.
pub type Writer = Rc<Mutex<TcpStream>>;

/// A logged-in connection, split into halves for the reader and sender tasks.
pub struct Session {
    /// Account or nick name.
    pub name: String,
    /// Protocol.
    pub kind: Kind,
    /// Lines from the server.
    pub reader: LineReader,
    /// Requests to the server.
    pub writer: Writer,
}

/// Reads lines (without `\r\n`) into a reused buffer.
pub struct LineReader {
    inner: BufReader<TcpStream>,
    line: Vec<u8>,
}

impl LineReader {
    fn new(stream: TcpStream, capacity: usize) -> Self {
        LineReader {
            inner: BufReader::with_capacity(capacity.max(512), stream),
            line: Vec::with_capacity(512),
        }
    }

    /// The next line, or `None` at end of stream.
    ///
    /// # Errors
    /// A socket error.
    pub async fn next(&mut self) -> std::io::Result<Option<&[u8]>> {
        self.line.clear();
        let n = self.inner.read_until(b'\n', &mut self.line).await?;
        if n == 0 {
            return Ok(None);
        }
        let mut end = self.line.len();
        while end > 0 && matches!(self.line[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        Ok(Some(&self.line[..end]))
    }
}

/// Writes `bytes` under the writer's lock.
///
/// # Errors
/// A socket error.
pub async fn send(writer: &Writer, bytes: &[u8]) -> std::io::Result<()> {
    let mut w = writer.lock().await;
    w.write_all(bytes).await
}

/// Connects to `addr` from the loopback address `source` (any free port), or from whatever
/// address the kernel picks when `source` is `None`. Binding the source spreads many
/// connections over several loopback addresses: the kernel has only about 28,000 ephemeral
/// ports per source and destination.
///
/// # Errors
/// A socket error, or a refused connection.
pub async fn connect(source: Option<IpAddr>, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(addr).await;
    };
    let (IpAddr::V4(src), SocketAddr::V4(dst)) = (source, addr) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "source addresses are supported for IPv4 only",
        ));
    };
    let socket = tcp_socket()?;
    // Leave the port choice to connect(), which may reuse a port towards another destination.
    set_int_option(&socket, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1)?;
    let local = sockaddr_v4(src, 0);
    // SAFETY: `socket` is an open socket and `local` a valid sockaddr_in of the size given.
    let r = unsafe {
        libc::bind(
            std::os::fd::AsRawFd::as_raw_fd(&socket),
            std::ptr::from_ref(&local).cast(),
            sockaddr_len(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let remote = sockaddr_v4(*dst.ip(), dst.port());
    // SAFETY: as for bind.
    let r = unsafe {
        libc::connect(
            std::os::fd::AsRawFd::as_raw_fd(&socket),
            std::ptr::from_ref(&remote).cast(),
            sockaddr_len(),
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    let stream = Async::new(std::net::TcpStream::from(socket))?;
    stream.writable().await?;
    if let Some(e) = stream.get_ref().take_error()? {
        return Err(e);
    }
    Ok(TcpStream::from(stream))
}

/// A new non-blocking, close-on-exec IPv4 TCP socket.
fn tcp_socket() -> std::io::Result<OwnedFd> {
    // SAFETY: socket(2) has no memory-safety preconditions.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_int_option(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: `value` outlives the call and its size is passed.
    let r = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(fd),
            level,
            name,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn sockaddr_v4(ip: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn sockaddr_len() -> libc::socklen_t {
    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
}

/// Connects (from `source`, see [`connect`]; reading with a buffer of `read_buf` bytes) and
/// logs in as `name` (chatd: with `password`; a name the server does not know is registered
/// with it). With `join`, an IRC login also
/// joins [`CHANNEL`] (everyone in it is told, as chatd tells every online user about a
/// login). Returns the session and how long the login took.
///
/// # Errors
/// Connection failures, or a refusal from the server.
pub async fn login(
    kind: Kind,
    addr: SocketAddr,
    source: Option<IpAddr>,
    read_buf: usize,
    name: &str,
    password: &str,
    join: bool,
) -> anyhow::Result<(Session, std::time::Duration)> {
    let t0 = Instant::now();
    let stream = connect(source, addr)
        .await
        .with_context(|| format!("connect to {addr}"))?;
    stream.set_nodelay(true).context("TCP_NODELAY")?;
    let mut session = Session {
        name: name.to_string(),
        kind,
        reader: LineReader::new(stream.clone(), read_buf),
        writer: Rc::new(Mutex::new(stream)),
    };
    match kind {
        Kind::Chat => chat_login(&mut session, password).await?,
        Kind::Irc => irc_login(&mut session, join).await?,
    }
    Ok((session, t0.elapsed()))
}

/// Reads chatd frames until the reply to `id`, skipping events (presence of others).
async fn chat_reply(session: &mut Session, id: u64) -> anyhow::Result<Response> {
    loop {
        let line = session
            .reader
            .next()
            .await?
            .ok_or_else(|| anyhow!("chatd closed the connection during login"))?;
        match ServerFrame::decode(line) {
            Ok(ServerFrame::Reply {
                id: Some(got),
                response,
            }) if got == id => return Ok(response),
            Ok(_) => {}
            Err(e) => bail!("undecodable frame from chatd: {e}"),
        }
    }
}

/// The greeting and login, with the protocol crate's rules ([`check_hello`], [`Login`]) over
/// this module's asynchronous socket (the blocking `proto::client::Client` needs a thread per
/// connection, which would distort a load generator's figures).
async fn chat_login(session: &mut Session, password: &str) -> anyhow::Result<()> {
    let line = session
        .reader
        .next()
        .await?
        .ok_or_else(|| anyhow!("chatd closed the connection before its greeting"))?;
    let first = ServerFrame::decode(line).context("undecodable greeting from chatd")?;
    check_hello(first).context("chatd's greeting")?;
    let mut login = Login::new(&session.name, password);
    let mut request = login.start();
    let mut id = 0;
    loop {
        id += 1;
        let line = ClientFrame {
            id: Some(id),
            request,
        }
        .encode();
        send(&session.writer, line.as_bytes()).await?;
        let reply = chat_reply(session, id).await?;
        match login
            .on_reply(reply)
            .with_context(|| format!("login {}", session.name))?
        {
            LoginStep::Send(next) => request = next,
            LoginStep::Done(_) => return Ok(()),
        }
    }
}

async fn irc_login(session: &mut Session, join: bool) -> anyhow::Result<()> {
    let hello = format!("NICK {n}\r\nUSER {n} 0 * :chat-bench\r\n", n = session.name);
    send(&session.writer, hello.as_bytes()).await?;
    let mut registered = false;
    loop {
        let line =
            session.reader.next().await?.ok_or_else(|| {
                anyhow!("the IRC server closed the connection during registration")
            })?;
        let line = String::from_utf8_lossy(line).into_owned();
        match parse_irc(&line) {
            Incoming::Ping(token) => {
                send(&session.writer, format!("PONG :{token}\r\n").as_bytes()).await?;
            }
            Incoming::Numeric(1) if !join => return Ok(()),
            Incoming::Numeric(1) if !registered => {
                registered = true;
                send(&session.writer, format!("JOIN {CHANNEL}\r\n").as_bytes()).await?;
            }
            // End of NAMES: the answer to our JOIN.
            Incoming::Numeric(366) if registered => return Ok(()),
            Incoming::Numeric(n @ (403 | 405 | 471 | 473 | 474 | 475)) => {
                bail!("{} cannot join {CHANNEL} ({n}): {line}", session.name)
            }
            Incoming::Numeric(n @ (432 | 433 | 436 | 465)) => {
                bail!("registration of {} refused ({n}): {line}", session.name)
            }
            Incoming::Closed(why) => bail!("registration of {}: {why}", session.name),
            _ => {}
        }
    }
}

/// A line from the server, as far as the scenarios care.
#[derive(Debug, PartialEq)]
pub enum Incoming<'a> {
    /// A direct message or broadcast reached this client: its text, and (chatd's direct
    /// messages) its `msg_id`, to acknowledge.
    Delivery(Cow<'a, str>, Option<u64>),
    /// chatd accepted a request (`sent`, `broadcasted`, `ok`).
    Ack,
    /// chatd refused a request: its error code.
    Refused(String),
    /// IRC numeric reply.
    Numeric(u16),
    /// IRC `PING` with its token.
    Ping(&'a str),
    /// Others came online (chatd presence `online: true`, or a `presence_batch` of that
    /// many; IRC `JOIN`): how many.
    Joined(u64),
    /// Others went away (chatd presence `online: false`, or a `presence_batch`; IRC
    /// `QUIT`/`PART`): how many.
    Left(u64),
    /// The server is closing this connection (IRC `ERROR`, chatd `kicked`/`shutdown`/...).
    Closed(String),
    /// Anything else (presence, JOINs of others, MOTD lines).
    Other,
}

/// The fields of a chatd frame the benchmark reads, borrowed from the line.
#[derive(Deserialize)]
struct ChatFrame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    code: Option<Cow<'a, str>>,
    #[serde(default)]
    online: Option<bool>,
    #[serde(default, borrow)]
    users: Option<Vec<Cow<'a, str>>>,
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    msg_id: Option<u64>,
}

/// chatd's acknowledgement of every message delivered up to `msg_id` (sent without an id,
/// so its `ok` is not taken for the answer to one of the benchmark's requests).
pub fn ack_line(msg_id: u64) -> String {
    format!("{{\"type\":\"ack\",\"msg_id\":{msg_id}}}\n")
}

/// How chatd starts a presence line (the type is the first field it encodes).
const PRESENCE_PREFIX: &[u8] = br#"{"type":"presence","#;

/// Classifies one chatd line. Uses a borrowed partial decode rather than
/// [`ServerFrame::decode`] so the load generator spends as little CPU per line as the IRC
/// side does (both share the machine with the server under test).
///
/// Presence lines, of which a login storm brings millions, are recognised by their prefix
/// without decoding; anything else (including a presence line encoded differently) is
/// decoded.
pub fn parse_chat(line: &[u8]) -> Incoming<'_> {
    if line.starts_with(PRESENCE_PREFIX) {
        return if contains(line, br#""online":false"#) {
            Incoming::Left(1)
        } else if contains(line, br#""online":true"#) {
            Incoming::Joined(1)
        } else {
            Incoming::Other
        };
    }
    let Ok(frame) = serde_json::from_slice::<ChatFrame<'_>>(line) else {
        return Incoming::Closed(format!(
            "undecodable line from chatd: {}",
            String::from_utf8_lossy(line)
        ));
    };
    match frame.kind.as_ref() {
        "message" | "broadcast" => match frame.text {
            Some(text) => Incoming::Delivery(text, frame.msg_id),
            None => Incoming::Other,
        },
        "presence" => match frame.online {
            Some(true) => Incoming::Joined(1),
            Some(false) => Incoming::Left(1),
            None => Incoming::Other,
        },
        // Changes that waited for this client together (a login or logout storm).
        "presence_batch" => {
            let n = frame.users.map_or(0, |u| u.len() as u64);
            match frame.online {
                Some(true) => Incoming::Joined(n),
                Some(false) => Incoming::Left(n),
                None => Incoming::Other,
            }
        }
        // The answer to an acknowledgement (sent without an id): not one of ours to count.
        "ok" if frame.id.is_none() => Incoming::Other,
        "sent" | "broadcasted" | "ok" => Incoming::Ack,
        "error" => Incoming::Refused(frame.code.map_or_else(String::new, Cow::into_owned)),
        "kicked" | "shutdown" | "inactive" => {
            Incoming::Closed(format!("chatd sent {}", frame.kind))
        }
        _ => Incoming::Other,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Classifies one IRC line: `[:prefix] COMMAND params [:trailing]`.
pub fn parse_irc(line: &str) -> Incoming<'_> {
    let rest = match line.strip_prefix(':') {
        Some(r) => r.split_once(' ').map_or("", |(_, r)| r),
        None => line,
    };
    let (command, params) = rest.split_once(' ').unwrap_or((rest, ""));
    match command {
        "PRIVMSG" => match params.split_once(" :") {
            Some((_, text)) => Incoming::Delivery(Cow::Borrowed(text), None),
            None => Incoming::Other,
        },
        "PING" => Incoming::Ping(params.strip_prefix(':').unwrap_or(params)),
        "JOIN" => Incoming::Joined(1),
        "QUIT" | "PART" => Incoming::Left(1),
        "ERROR" => Incoming::Closed(line.to_string()),
        c if c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()) => {
            Incoming::Numeric(c.parse().unwrap_or(0))
        }
        _ => Incoming::Other,
    }
}

/// The line that sends `text` to `to` (a user; for IRC also the channel).
pub fn direct_line(kind: Kind, id: u64, to: &str, text: &str) -> String {
    match kind {
        Kind::Chat => ClientFrame {
            id: Some(id),
            request: Request::Message {
                to: to.to_string(),
                text: text.to_string(),
            },
        }
        .encode(),
        Kind::Irc => format!("PRIVMSG {to} :{text}\r\n"),
    }
}

/// The line that sends `text` to everyone (chatd `broadcast`, IRC `PRIVMSG #bench`).
pub fn broadcast_line(kind: Kind, id: u64, text: &str) -> String {
    match kind {
        Kind::Chat => ClientFrame {
            id: Some(id),
            request: Request::Broadcast {
                text: text.to_string(),
            },
        }
        .encode(),
        Kind::Irc => format!("PRIVMSG {CHANNEL} :{text}\r\n"),
    }
}

/// The line that ends the session (the server then closes the connection).
pub fn logout_line(kind: Kind) -> &'static str {
    match kind {
        Kind::Chat => "{\"type\":\"logout\"}\n",
        Kind::Irc => "QUIT :done\r\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_chat_lines() {
        let l = br#"{"type":"message","from":"u1","text":"b1 2 3 xx"}"#;
        assert_eq!(
            parse_chat(l),
            Incoming::Delivery(Cow::Borrowed("b1 2 3 xx"), None)
        );
        assert_eq!(
            parse_chat(br#"{"type":"message","from":"u1","text":"x","msg_id":7}"#),
            Incoming::Delivery(Cow::Borrowed("x"), Some(7))
        );
        assert_eq!(parse_chat(br#"{"type":"ok"}"#), Incoming::Other);
        assert_eq!(
            parse_chat(br#"{"id":4,"type":"sent","stored":false}"#),
            Incoming::Ack
        );
        assert_eq!(
            parse_chat(br#"{"id":4,"type":"error","code":"rate_limited","message":"x"}"#),
            Incoming::Refused("rate_limited".into())
        );
        assert_eq!(
            parse_chat(br#"{"type":"presence","user":"u2","online":true}"#),
            Incoming::Joined(1)
        );
        assert_eq!(
            parse_chat(br#"{"type":"presence","user":"u2","online":false}"#),
            Incoming::Left(1)
        );
        // Field order other than chatd's: decoded, same answer.
        assert_eq!(
            parse_chat(br#"{"user":"u2","online":false,"type":"presence"}"#),
            Incoming::Left(1)
        );
        assert!(matches!(
            parse_chat(br#"{"type":"shutdown"}"#),
            Incoming::Closed(_)
        ));
    }

    #[test]
    fn classifies_irc_lines() {
        assert_eq!(
            parse_irc(":u1!~u1@127.0.0.1 PRIVMSG u2 :b1 2 3 xx"),
            Incoming::Delivery(Cow::Borrowed("b1 2 3 xx"), None)
        );
        assert_eq!(
            parse_irc(":irc.local 001 u1 :Welcome"),
            Incoming::Numeric(1)
        );
        assert_eq!(parse_irc("PING :abc"), Incoming::Ping("abc"));
        assert_eq!(
            parse_irc(":u2!~u2@localhost JOIN :#bench"),
            Incoming::Joined(1)
        );
        assert_eq!(parse_irc(":u2!~u2@localhost QUIT :done"), Incoming::Left(1));
        assert_eq!(
            parse_chat(br#"{"type":"presence_batch","users":["a","b","c"],"online":false,"ts":1}"#),
            Incoming::Left(3)
        );
        assert!(matches!(
            parse_irc("ERROR :Closing link"),
            Incoming::Closed(_)
        ));
    }

    #[test]
    fn encodes_requests() {
        assert_eq!(
            direct_line(Kind::Irc, 0, "u2", "hi"),
            "PRIVMSG u2 :hi\r\n".to_string()
        );
        let chat = direct_line(Kind::Chat, 9, "u2", "hi");
        assert!(chat.starts_with("{\"id\":9,\"type\":\"message\""), "{chat}");
        assert!(broadcast_line(Kind::Irc, 0, "x").starts_with("PRIVMSG #bench :x"));
    }
}
