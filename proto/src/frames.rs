//! The client protocol's frame types: [`Request`] (client to server), [`Response`] (the answer to
//! exactly one request), [`Event`] (server push), the [`Hello`] greeting, and [`ErrorCode`].
//!
//! On the wire every frame is one JSON object with a `"type"` field. A request may carry an
//! `"id"` (any unsigned integer); the response to it echoes the same `"id"`. Events never carry
//! one. Response and event type names are disjoint, so a client can tell them apart even when it
//! sends no ids.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::macros::{error_codes, wire_enum};

/// Version of this protocol, sent in the server's [`Hello`]. A client refuses a server whose
/// version differs.
pub const PROTOCOL_VERSION: u32 = 1;

/// A request from a client, with its optional request id.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientFrame {
    /// Echoed in the response.
    pub id: Option<u64>,
    /// What the client asks for.
    pub request: Request,
}

wire_enum! {
    fast_decode Flat;

    /// Everything a client can ask of the server.
    ///
    /// ```json
    /// {"id":7,"type":"message","to":"yoda","text":"Hey Dude"}
    /// ```
    pub enum Request {
        /// Start a login with a user name. Answered by [`Response::PasswordRequired`],
        /// [`Response::NewUser`] or an error (`invalid_username`, `already_logged_in`,
        /// `account_locked`, `registration_disabled`).
        Login = "login" {
            /// The user name as typed.
            user: String,
        },
        /// The password for the name given in `login` (or the new account's password).
        /// Answered by [`Response::Welcome`] or an error (`invalid_password`, `account_blocked`).
        Password = "password" {
            /// The password; never logged.
            password: String,
        },
        /// `message <user> <text>`.
        Message = "message" {
            /// Recipient.
            to: String,
            /// The message text; any characters.
            text: String,
        },
        /// `broadcast <text>`.
        Broadcast = "broadcast" {
            /// The message text.
            text: String,
        },
        /// `whoelse`.
        Whoelse = "whoelse",
        /// `whoelsesince <seconds>`.
        Whoelsesince = "whoelsesince" {
            /// Length of the window ending now.
            seconds: u64,
        },
        /// `block <user>`.
        Block = "block" {
            /// Who to block.
            user: String,
        },
        /// `unblock <user>`.
        Unblock = "unblock" {
            /// Who to unblock.
            user: String,
        },
        /// `logout`: the server answers `ok`, then closes the connection.
        Logout = "logout",
        /// The user did something that counts as activity without going through the server
        /// (a private message): resets the inactivity timer.
        Activity = "activity",
        /// The port of this client's private-messaging listener (sent once; accepted before login
        /// too, so the client can be asked as soon as others see it log in).
        PrivateListen = "private_listen" {
            /// TCP port of the listener.
            port: u16,
            /// Host to advertise to peers instead of the address the server sees this connection
            /// come from (for a client behind a known NAT or on another interface).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            host: Option<String>,
            /// When the listener serves TLS: the SHA-256 fingerprint of its certificate (DER),
            /// 64 lowercase hex digits, handed to requesters in [`Event::PrivateStart`].
            #[serde(default, skip_serializing_if = "Option::is_none")]
            fingerprint: Option<String>,
        },
        /// `startprivate <user>`: ask `user` for consent.
        StartPrivate = "start_private" {
            /// Who to talk to.
            user: String,
        },
        /// The answer to an [`Event::PrivateRequest`].
        PrivateAnswer = "private_answer" {
            /// The user who asked.
            user: String,
            /// `true` for `y`.
            accept: bool,
        },
        /// A private session with `user` has ended (stopprivate, or the peer connection broke).
        PrivateEnded = "private_ended" {
            /// The peer.
            user: String,
        },
        /// Acknowledges every [`Event::Message`] delivered on this connection up to and
        /// including the one with this `msg_id`, in delivery order: the server may forget
        /// them (and deletes stored ones). Sent by the client after it has shown them,
        /// batched. Answered by `ok`; an id the server does not have in flight changes nothing.
        Ack = "ack" {
            /// The last message shown.
            msg_id: u64,
        },
        /// Every account name, for completion. Answered by [`Response::Users`] (sorted).
        /// Does not count as activity (a client refreshes it on its own).
        Accounts = "accounts",
        /// `passwd`: replace the logged-in account's password. Answered by [`Response::Ok`] or
        /// an error (`invalid_password`: `old` is wrong, and counts as a failed login;
        /// `account_blocked`: that wrong `old` locked the account; `account_locked`;
        /// `invalid_password_format`).
        ChangePassword = "change_password" {
            /// The current password; never logged.
            old: String,
            /// The new password; never logged.
            new: String,
        },
    }
}

wire_enum! {
    /// The server's answer to one request.
    ///
    /// ```json
    /// {"id":7,"type":"sent","stored":false}
    /// {"id":8,"type":"error","code":"invalid_user","message":"Invalid user"}
    /// ```
    pub enum Response {
        /// Done; nothing more to say.
        Ok = "ok",
        /// The request failed; nothing changed.
        Error = "error" {
            /// Stable machine-readable reason.
            code: ErrorCode,
            /// Human text (English), suitable to show after `Error. `.
            message: String,
        },
        /// The name belongs to an account: send `password`.
        PasswordRequired = "password_required",
        /// The name is free: send `password` to create the account.
        NewUser = "new_user",
        /// Logged in. Stored offline messages follow as [`Event::Message`] with `offline: true`.
        Welcome = "welcome" {
            /// The account name.
            user: String,
            /// How many offline messages follow.
            offline: u64,
        },
        /// A `message` was accepted.
        Sent = "sent" {
            /// `true` when the recipient was offline and the message was stored for them.
            stored: bool,
        },
        /// A `broadcast` was sent.
        Broadcasted = "broadcasted" {
            /// Users it reached.
            delivered: u64,
            /// Online users it skipped because they blocked the sender.
            skipped: u64,
        },
        /// A list of user names (`whoelse`, `whoelsesince`, `accounts`), sorted.
        Users = "users" {
            /// The names.
            users: Vec<String>,
        },
    }
}

impl Response {
    /// Shorthand for an error response.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Response::Error {
            code,
            message: message.into(),
        }
    }
}

wire_enum! {
    /// Something the server pushes without being asked. Never carries an `id`.
    ///
    /// ```json
    /// {"type":"message","from":"hans","text":"Hey Dude"}
    /// {"type":"presence","user":"luke","online":true}
    /// ```
    pub enum Event {
        /// A direct message.
        Message = "message" {
            /// Sender.
            from: String,
            /// Text, as sent.
            text: String,
            /// `true` when it was stored while the recipient was offline.
            #[serde(default, skip_serializing_if = "is_false")]
            offline: bool,
            /// When the server accepted it (ms since the Unix epoch); an offline message keeps
            /// the time it was first accepted. `None` from a server that does not stamp.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            ts: Option<u64>,
            /// The message's id, unique per server and the same when it is delivered again
            /// (after a connection ended before the client acknowledged it). The client shows
            /// a message once per id and acknowledges it with [`Request::Ack`].
            #[serde(default, skip_serializing_if = "Option::is_none")]
            msg_id: Option<u64>,
        },
        /// A broadcast from another user.
        Broadcast = "broadcast" {
            /// Sender.
            from: String,
            /// Text, as sent.
            text: String,
            /// When the server accepted it (ms since the Unix epoch).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            ts: Option<u64>,
        },
        /// Someone logged in (`online: true`) or out.
        Presence = "presence" {
            /// Who.
            user: String,
            /// New state.
            online: bool,
            /// When it happened (ms since the Unix epoch).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            ts: Option<u64>,
        },
        /// Several users logged in (`online: true`) or out, in this order: what a server
        /// sends instead of one `presence` per user when several changes wait for the same
        /// client at once (a login or logout storm). A client shows one line per user, as for
        /// `presence`.
        PresenceBatch = "presence_batch" {
            /// Who, in the order of the changes.
            users: Vec<String>,
            /// New state, the same for all of them.
            online: bool,
            /// When the last of them happened (ms since the Unix epoch).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            ts: Option<u64>,
        },
        /// `from` asks to message privately; answer with [`Request::PrivateAnswer`].
        PrivateRequest = "private_request" {
            /// The requester.
            from: String,
        },
        /// A private session was agreed. The side with `addr` connects to it and presents
        /// `token`; the other side waits on its listener for a connection presenting `token`.
        PrivateStart = "private_start" {
            /// The other user.
            peer: String,
            /// Where to connect (`host:port`), for the requester only.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            addr: Option<String>,
            /// One-time token both sides must see.
            token: String,
            /// For the requester, when the target's listener serves TLS: the SHA-256
            /// fingerprint of its certificate; connect over TLS and accept only that
            /// certificate.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            fingerprint: Option<String>,
        },
        /// `peer` declined the private request.
        PrivateDeclined = "private_declined" {
            /// The asked user.
            peer: String,
        },
        /// Nobody answered the private request in time (sent to the requester), or the request
        /// was withdrawn (sent to the target).
        PrivateExpired = "private_expired" {
            /// The other user.
            peer: String,
        },
        /// `peer` logged out or was disconnected: any private session with them is over.
        PrivateEnded = "private_ended" {
            /// The other user.
            peer: String,
        },
        /// The server logs this session out for inactivity; the connection closes next.
        Inactive = "inactive",
        /// Sent once per idle stretch, `seconds` before the inactivity logout (a minute before,
        /// or half the timeout when it is shorter than two minutes).
        IdleWarning = "idle_warning" {
            /// Seconds left before the logout, if nothing counting as activity comes.
            seconds: u64,
        },
        /// An administrator disconnected this session; the connection closes next.
        Kicked = "kicked" {
            /// The administrator's reason, if one was given.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            reason: Option<String>,
        },
        /// The server is shutting down; the connection closes next.
        Shutdown = "shutdown",
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The first frame on every connection, sent by the server.
///
/// ```json
/// {"type":"hello","protocol":1,"server":"chatd 0.1.0","max_line":65536}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the server.
    pub protocol: u32,
    /// Server software and version, for humans.
    pub server: String,
    /// The longest line the server accepts (bytes, newline excluded); a client can refuse
    /// longer input itself instead of losing the connection.
    #[serde(default = "default_max_line")]
    pub max_line: usize,
}

fn default_max_line() -> usize {
    crate::codec::DEFAULT_MAX_LINE
}

error_codes! {
    /// Stable machine-readable error codes. New codes may be added; clients must treat an unknown
    /// code as a generic failure and show the message.
    pub enum ErrorCode {
        /// The line is not valid JSON (the connection stays open).
        BadJson = "bad_json",
        /// The line is not valid UTF-8 (the connection stays open).
        BadUtf8 = "bad_utf8",
        /// The line is longer than the server's limit (the connection is closed).
        LineTooLong = "line_too_long",
        /// `"type"` names no request.
        UnknownRequest = "unknown_request",
        /// Known type, but fields are missing or of the wrong type.
        BadRequest = "bad_request",
        /// Not allowed before login (or during it, out of order).
        NotLoggedIn = "not_logged_in",
        /// `login`/`password` after the session is logged in.
        AlreadyAuthenticated = "already_authenticated",
        /// The user name is not 1-32 of letters, digits, `_`, `-`, `.`, or starts with `-`.
        InvalidUsername = "invalid_username",
        /// A password is empty, too long or contains spaces, control characters or invisible
        /// ones ([`crate::valid_password`]).
        InvalidPasswordFormat = "invalid_password_format",
        /// The account is logged in on another connection.
        AlreadyLoggedIn = "already_logged_in",
        /// The account is locked after repeated wrong passwords.
        AccountLocked = "account_locked",
        /// This wrong password was the last allowed: the account is now locked.
        AccountBlocked = "account_blocked",
        /// Wrong password; try again.
        InvalidPassword = "invalid_password",
        /// The name is unknown and registration is disabled.
        RegistrationDisabled = "registration_disabled",
        /// The name is unknown and this address has registered as many accounts in the last
        /// hour as the server allows (`limits.registrations_per_ip_per_hour`).
        RegistrationLimited = "registration_limited",
        /// No such user.
        InvalidUser = "invalid_user",
        /// `message` to oneself.
        CannotMessageSelf = "cannot_message_self",
        /// The recipient has blocked the sender; nothing was stored.
        BlockedByRecipient = "blocked_by_recipient",
        /// `block` oneself.
        CannotBlockSelf = "cannot_block_self",
        /// `unblock` oneself.
        CannotUnblockSelf = "cannot_unblock_self",
        /// `unblock` a user who was not blocked.
        NotBlocked = "not_blocked",
        /// The recipient's offline queue is full; the message was not stored.
        OfflineQueueFull = "offline_queue_full",
        /// Too many messages too fast; this one was not sent.
        RateLimited = "rate_limited",
        /// The target user is not online.
        UserOffline = "user_offline",
        /// `startprivate` with oneself.
        CannotPrivateSelf = "cannot_private_self",
        /// The target has blocked the requester.
        BlockedByUser = "blocked_by_user",
        /// A private session (or a pending request) with that user already exists.
        PrivateAlreadyActive = "private_already_active",
        /// `private_answer` with no pending request from that user.
        NoPrivateRequest = "no_private_request",
        /// The other side has no private listener.
        PrivateUnavailable = "private_unavailable",
        /// `private_listen` with a `host` that is not a host name or an IP address (see
        /// [`crate::valid_host`]).
        InvalidHost = "invalid_host",
        /// The server has too many connections (from this address, or in all).
        TooManyConnections = "too_many_connections",
        /// The login took longer than the server allows; the connection is closed.
        LoginTimeout = "login_timeout",
        /// The server failed to do its part (storage error); try again later.
        Internal = "internal",
        /// Too many lines in a row could not be decoded; the connection is closed.
        TooManyBadLines = "too_many_bad_lines",
        /// A code this version of the protocol crate does not know (sent by a newer server).
        /// Never sent; show the message.
        #[serde(other)]
        Unknown = "unknown",
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every request field at once, borrowed from the line where it has no escapes: one
/// pass, no buffering of the object as an internally tagged enum would do. Each field has the
/// name of the request field it feeds ([`Request::from_flat`] is generated from that).
#[derive(Default, Deserialize)]
struct Flat<'a> {
    #[serde(default)]
    id: Option<u64>,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    user: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    password: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    to: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default)]
    seconds: Option<u64>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default, borrow)]
    host: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    fingerprint: Option<Cow<'a, str>>,
    #[serde(default)]
    accept: Option<bool>,
    #[serde(default)]
    msg_id: Option<u64>,
    #[serde(default, borrow)]
    old: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    new: Option<Cow<'a, str>>,
}

impl<'a> Flat<'a> {
    /// The fields of a line of the usual shape (see [`crate::scan`]), without serde_json;
    /// `None` for any other line, a key that is no field or a field twice.
    fn scan(text: &'a str) -> Option<Self> {
        use crate::scan::Scalar::{Str, Uint};
        /// Sets a field once: a key twice leaves the line to serde_json.
        fn once<T>(slot: &mut Option<T>, value: T) -> bool {
            slot.replace(value).is_none()
        }
        let mut f = Flat::default();
        let mut kind = None;
        crate::scan::scan_object(text, |key, value| match (key, value) {
            ("type", Str(s)) => once(&mut kind, s),
            ("id", Uint(n)) => once(&mut f.id, n),
            ("msg_id", Uint(n)) => once(&mut f.msg_id, n),
            ("seconds", Uint(n)) => once(&mut f.seconds, n),
            ("user", Str(s)) => once(&mut f.user, Cow::Borrowed(s)),
            ("password", Str(s)) => once(&mut f.password, Cow::Borrowed(s)),
            ("to", Str(s)) => once(&mut f.to, Cow::Borrowed(s)),
            ("text", Str(s)) => once(&mut f.text, Cow::Borrowed(s)),
            ("host", Str(s)) => once(&mut f.host, Cow::Borrowed(s)),
            ("fingerprint", Str(s)) => once(&mut f.fingerprint, Cow::Borrowed(s)),
            ("old", Str(s)) => once(&mut f.old, Cow::Borrowed(s)),
            ("new", Str(s)) => once(&mut f.new, Cow::Borrowed(s)),
            _ => false,
        })?;
        f.kind = Cow::Borrowed(kind?);
        Some(f)
    }
}

/// The line of an [`Event::Message`] with its `msg_id`, written by hand from borrowed
/// strings: the server's hot path (one per direct message), byte for byte what encoding the
/// event gives (a test holds the two together). The string is allocated once, at its final
/// size unless the text needs escapes.
pub fn message_line(from: &str, text: &str, offline: bool, ts: u64, msg_id: u64) -> String {
    const HEAD: &str = "{\"type\":\"message\",\"from\":";
    const TEXT: &str = ",\"text\":";
    const OFFLINE: &str = ",\"offline\":true";
    const TS: &str = ",\"ts\":";
    const MSG_ID: &str = ",\"msg_id\":";
    const END: &str = "}\n";
    let mut ts_digits = itoa::Buffer::new();
    let ts = ts_digits.format(ts);
    let mut id_digits = itoa::Buffer::new();
    let msg_id = id_digits.format(msg_id);
    let offline = if offline { OFFLINE } else { "" };
    // Two quotes per string; escapes, if any, grow it further.
    let size = HEAD.len()
        + from.len()
        + 2
        + TEXT.len()
        + text.len()
        + 2
        + offline.len()
        + TS.len()
        + ts.len()
        + MSG_ID.len()
        + msg_id.len()
        + END.len();
    let mut line = String::with_capacity(size);
    line.push_str(HEAD);
    crate::codec::write_json_str(&mut line, from);
    line.push_str(TEXT);
    crate::codec::write_json_str(&mut line, text);
    line.push_str(offline);
    line.push_str(TS);
    line.push_str(ts);
    line.push_str(MSG_ID);
    line.push_str(msg_id);
    line.push_str(END);
    line
}

/// Appends the line of a `presence_batch` event (users in order) to `buf`, from borrowed
/// names: the server encodes a batch per recipient when it writes.
pub fn write_presence_batch<'a>(
    buf: &mut Vec<u8>,
    users: impl Iterator<Item = &'a str>,
    online: bool,
    ts: u64,
) {
    #[derive(Serialize)]
    #[serde(tag = "type", rename = "presence_batch")]
    struct Batch<'a> {
        users: Vec<&'a str>,
        online: bool,
        ts: u64,
    }
    let start = buf.len();
    let batch = Batch {
        users: users.collect(),
        online,
        ts,
    };
    if serde_json::to_writer(&mut *buf, &batch).is_err() {
        // Cannot happen for these types; keep the stream well-formed.
        buf.truncate(start);
        return;
    }
    buf.push(b'\n');
}

/// Appends the line of a reply (`"id"` first, when given) to `buf`, without an intermediate
/// string: the server's writer encodes replies this way.
pub fn write_reply(buf: &mut Vec<u8>, id: Option<u64>, response: &Response) {
    let start = buf.len();
    if let Some(id) = id {
        // `{"id":N` here, then the object with its `{` turned into `,` (it is never empty:
        // `"type"` is always there).
        open_with_id(buf, id);
    }
    let body = buf.len();
    if serde_json::to_writer(&mut *buf, response).is_err() {
        // Cannot happen for our types (every key is a string); keep the stream well-formed.
        buf.truncate(body);
        buf.extend_from_slice(b"{\"type\":\"ok\"}");
    }
    if id.is_some() {
        buf[body] = b',';
    }
    debug_assert!(buf.len() > start);
    buf.push(b'\n');
}

/// Appends `{"id":N`, the start of an answer to request `id`.
fn open_with_id(buf: &mut Vec<u8>, id: u64) {
    buf.extend_from_slice(b"{\"id\":");
    buf.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
}

/// Appends the answer `sent` to request `id`, newline included, to `buf`: the server's hot
/// path (one per message), byte for byte what [`write_reply`] gives for [`Response::Sent`].
pub fn write_sent(buf: &mut Vec<u8>, id: Option<u64>, stored: bool) {
    if let Some(id) = id {
        open_with_id(buf, id);
        buf.push(b',');
    } else {
        buf.push(b'{');
    }
    buf.extend_from_slice(if stored {
        b"\"type\":\"sent\",\"stored\":true}\n"
    } else {
        b"\"type\":\"sent\",\"stored\":false}\n"
    });
}

/// Any frame the server sends.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame {
    /// The greeting.
    Hello(Hello),
    /// The answer to the request with this id (`None` if the request had none).
    Reply {
        /// Echo of the request's `id`.
        id: Option<u64>,
        /// The answer.
        response: Response,
    },
    /// A push.
    Event(Event),
}

/// Why a line could not be decoded into a frame. Each maps to the [`ErrorCode`] a server
/// answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not UTF-8.
    #[error("the line is not valid UTF-8")]
    Utf8,
    /// Not a JSON object.
    #[error("the line is not a JSON object: {0}")]
    Json(String),
    /// No string `"type"` field.
    #[error("the frame has no \"type\" string field")]
    MissingType,
    /// `"type"` names nothing known.
    #[error("unknown frame type {0:?}")]
    UnknownType(String),
    /// Known type, bad fields (or a bad `"id"`).
    #[error("bad {kind} frame: {detail}")]
    Fields {
        /// The frame type.
        kind: String,
        /// What serde said.
        detail: String,
    },
}

impl DecodeError {
    /// The error code a server answers this with.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::Utf8 => ErrorCode::BadUtf8,
            DecodeError::Json(_) => ErrorCode::BadJson,
            DecodeError::MissingType | DecodeError::Fields { .. } => ErrorCode::BadRequest,
            DecodeError::UnknownType(_) => ErrorCode::UnknownRequest,
        }
    }
}

/// A frame split into its fields (without `"id"`), its `"type"` and its `"id"`.
type Split = (Map<String, Value>, String, Option<Value>);

/// Parses one line into a JSON object and its `"type"`, with the `"id"` taken out.
fn split_frame(line: &[u8]) -> Result<Split, DecodeError> {
    let text = std::str::from_utf8(line).map_err(|_| DecodeError::Utf8)?;
    let value: Value = serde_json::from_str(text).map_err(|e| DecodeError::Json(e.to_string()))?;
    let Value::Object(mut map) = value else {
        return Err(DecodeError::Json("expected an object".into()));
    };
    let kind = match map.get("type") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(DecodeError::MissingType),
    };
    let id = map.remove("id");
    Ok((map, kind, id))
}

fn parse_id(id: Option<Value>, kind: &str) -> Result<Option<u64>, DecodeError> {
    match id {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        Some(other) => Err(DecodeError::Fields {
            kind: kind.to_string(),
            detail: format!("\"id\" must be an unsigned integer, not {other}"),
        }),
    }
}

fn fields<T: for<'de> Deserialize<'de>>(
    map: Map<String, Value>,
    kind: &str,
) -> Result<T, DecodeError> {
    serde_json::from_value(Value::Object(map)).map_err(|e| DecodeError::Fields {
        kind: kind.to_string(),
        detail: e.to_string(),
    })
}

impl ClientFrame {
    /// Decodes one line (without its newline).
    ///
    /// # Errors
    /// A [`DecodeError`] saying which [`ErrorCode`] to answer with. When the error is
    /// [`DecodeError::Fields`], the request id (if it parsed) is lost; answer without one.
    pub fn decode(line: &[u8]) -> Result<Self, DecodeError> {
        if let Some(frame) = Self::decode_fast(line) {
            return Ok(frame);
        }
        let (map, kind, id) = split_frame(line)?;
        if !Request::TYPES.contains(&kind.as_str()) {
            return Err(DecodeError::UnknownType(kind));
        }
        let id = parse_id(id, &kind)?;
        let request = fields(map, &kind)?;
        Ok(ClientFrame { id, request })
    }

    /// The common case without the intermediate `serde_json::Value`: a UTF-8 JSON object that
    /// deserializes straight into a [`Request`] and an `"id"`. Anything else (every error,
    /// duplicate keys, a non-object) returns `None` and goes through the general path, which
    /// alone decides the error; where this succeeds the general path yields the same frame.
    fn decode_fast(line: &[u8]) -> Option<Self> {
        // Checked up front: serde_json skips unknown keys without validating their UTF-8.
        let text = std::str::from_utf8(line).ok()?;
        let f = match Flat::scan(text) {
            Some(f) => f,
            None if text.trim_start().starts_with('{') => serde_json::from_str(text).ok()?,
            None => return None,
        };
        let id = f.id;
        let request = Request::from_flat(f)?;
        Some(ClientFrame { id, request })
    }

    /// Decodes just the request id of a line that failed to decode, so the error reply can
    /// still echo it. Invalid UTF-8 (inside a string: anywhere else the line is no JSON
    /// object anyway) does not hide the id.
    pub fn peek_id(line: &[u8]) -> Option<u64> {
        let text = String::from_utf8_lossy(line);
        let value: Value = serde_json::from_str(&text).ok()?;
        value.get("id")?.as_u64()
    }

    /// Encodes as one line, newline included.
    pub fn encode(&self) -> String {
        with_id(&self.request, self.id)
    }
}

/// Serializes `value` (a JSON object) with `"id"` first when given, plus a newline.
fn with_id<T: Serialize>(value: &T, id: Option<u64>) -> String {
    let body = crate::codec::encode_line(value);
    match id {
        // `body` is a non-empty object (`"type"` is always present), so splicing after `{` is safe.
        Some(id) if body.starts_with('{') => format!("{{\"id\":{id},{}", &body[1..]),
        _ => body,
    }
}

impl ServerFrame {
    /// Decodes one line (without its newline).
    ///
    /// # Errors
    /// A [`DecodeError`] for a line that is no server frame.
    pub fn decode(line: &[u8]) -> Result<Self, DecodeError> {
        let (map, kind, id) = split_frame(line)?;
        if kind == "hello" {
            let mut map = map;
            map.remove("type");
            return Ok(ServerFrame::Hello(fields(map, &kind)?));
        }
        if Response::TYPES.contains(&kind.as_str()) {
            let id = parse_id(id, &kind)?;
            return Ok(ServerFrame::Reply {
                id,
                response: fields(map, &kind)?,
            });
        }
        if Event::TYPES.contains(&kind.as_str()) {
            return Ok(ServerFrame::Event(fields(map, &kind)?));
        }
        Err(DecodeError::UnknownType(kind))
    }

    /// Encodes as one line, newline included.
    pub fn encode(&self) -> String {
        match self {
            ServerFrame::Hello(hello) => {
                #[derive(Serialize)]
                struct Tagged<'a> {
                    r#type: &'static str,
                    #[serde(flatten)]
                    hello: &'a Hello,
                }
                crate::codec::encode_line(&Tagged {
                    r#type: "hello",
                    hello,
                })
            }
            ServerFrame::Reply { id, response } => with_id(response, *id),
            ServerFrame::Event(event) => crate::codec::encode_line(event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general decoding path alone, without the fast one.
    fn decode_general(line: &[u8]) -> Result<ClientFrame, DecodeError> {
        let (map, kind, id) = split_frame(line)?;
        if !Request::TYPES.contains(&kind.as_str()) {
            return Err(DecodeError::UnknownType(kind));
        }
        let id = parse_id(id, &kind)?;
        Ok(ClientFrame {
            id,
            request: fields(map, &kind)?,
        })
    }

    #[test]
    fn request_round_trip_with_id() {
        let frame = ClientFrame {
            id: Some(7),
            request: Request::Message {
                to: "yoda".into(),
                text: "Hey \"Dude\"\n".into(),
            },
        };
        let line = frame.encode();
        assert!(line.starts_with("{\"id\":7,\"type\":\"message\""), "{line}");
        assert_eq!(ClientFrame::decode(line.trim_end().as_bytes()), Ok(frame));
    }

    #[test]
    fn request_errors_map_to_codes() {
        let code = |l: &str| ClientFrame::decode(l.as_bytes()).unwrap_err().code();
        assert_eq!(code("{nope"), ErrorCode::BadJson);
        assert_eq!(code("[1]"), ErrorCode::BadJson);
        assert_eq!(code("{\"type\":\"dance\"}"), ErrorCode::UnknownRequest);
        assert_eq!(code("{\"type\":7}"), ErrorCode::BadRequest);
        assert_eq!(
            code("{\"type\":\"message\",\"to\":1}"),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code("{\"type\":\"whoelse\",\"id\":\"x\"}"),
            ErrorCode::BadRequest
        );
        assert_eq!(
            ClientFrame::decode(b"{\"type\":\"whoelse\",\"\xff\":1}")
                .unwrap_err()
                .code(),
            ErrorCode::BadUtf8
        );
    }

    #[test]
    fn server_frames_round_trip() {
        let frames = vec![
            ServerFrame::Hello(Hello {
                protocol: 1,
                server: "chatd 0.1.0".into(),
                max_line: 65536,
            }),
            ServerFrame::Reply {
                id: Some(3),
                response: Response::error(ErrorCode::InvalidUser, "Invalid user"),
            },
            ServerFrame::Reply {
                id: None,
                response: Response::Users {
                    users: vec!["luke".into()],
                },
            },
            ServerFrame::Event(Event::Message {
                from: "hans".into(),
                text: "hi".into(),
                offline: false,
                ts: Some(1_700_000_000_000),
                msg_id: Some(9),
            }),
            ServerFrame::Event(Event::Kicked { reason: None }),
        ];
        for frame in frames {
            let line = frame.encode();
            assert!(line.ends_with('\n'));
            assert_eq!(ServerFrame::decode(line.trim_end().as_bytes()), Ok(frame));
        }
    }

    #[test]
    fn unknown_error_codes_decode() {
        let line = br#"{"id":1,"type":"error","code":"quota_exceeded","message":"Slow down"}"#;
        match ServerFrame::decode(line) {
            Ok(ServerFrame::Reply {
                response: Response::Error { code, message },
                ..
            }) => assert_eq!((code, message.as_str()), (ErrorCode::Unknown, "Slow down")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_request_takes_the_fast_path_and_round_trips() {
        let requests = [
            Request::Login {
                user: "hans".into(),
            },
            Request::Password {
                password: "falcon*solo".into(),
            },
            Request::Message {
                to: "yoda".into(),
                text: "esc \"q\" \u{1b}[2J \\ ünï".into(),
            },
            Request::Broadcast { text: "hi".into() },
            Request::Whoelse,
            Request::Whoelsesince { seconds: 300 },
            Request::Block { user: "a".into() },
            Request::Unblock { user: "b".into() },
            Request::Logout,
            Request::Activity,
            Request::PrivateListen {
                port: 4000,
                host: Some("203.0.113.5".into()),
                fingerprint: None,
            },
            Request::PrivateListen {
                port: 4000,
                host: None,
                fingerprint: Some("ab".repeat(32)),
            },
            Request::StartPrivate { user: "c".into() },
            Request::PrivateAnswer {
                user: "d".into(),
                accept: true,
            },
            Request::PrivateEnded { user: "e".into() },
            Request::Ack { msg_id: 7 },
            Request::Accounts,
            Request::ChangePassword {
                old: "falcon*solo".into(),
                new: "n3w\"pw".into(),
            },
        ];
        for t in Request::TYPES {
            assert!(
                requests.iter().any(|r| r.type_name() == *t),
                "{t} not covered"
            );
        }
        for (i, request) in requests.into_iter().enumerate() {
            let frame = ClientFrame {
                id: Some(i as u64),
                request,
            };
            let line = frame.encode();
            let line = line.trim_end().as_bytes();
            assert_eq!(
                ClientFrame::decode_fast(line),
                Some(frame.clone()),
                "{frame:?}"
            );
            assert_eq!(ClientFrame::decode(line), Ok(frame));
        }
    }

    #[test]
    fn hot_path_encoders_match_the_general_ones() {
        // Texts with and without escapes, escapes in the 16-byte chunks and in the tail,
        // every control character, what JSON leaves alone (DEL, non-ASCII, U+2028).
        let mut texts: Vec<String> = [
            "",
            "plain",
            "Hey \"Dude\" \u{1b}[2J\n",
            "a\\b",
            "0123456789abcdef",
            "0123456789abcde\"",
            "0123456789abcdef\"",
            "0123456789abcdef0123456789abcdef0123456789abcdef\t",
            "\u{7f} é 漢字 \u{2028} 🎉",
            "</script>&'",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        texts.extend((0u8..0x20).map(|b| format!("x{}y", b as char)));
        texts.push("x".repeat(10_000));
        // Without escapes the line is allocated at its final size (no regrowth, and the
        // server's `into_boxed_str` keeps the allocation as it is).
        for text in ["", "plain", "0123456789abcdef", "\u{7f} é 漢字 \u{2028} 🎉"] {
            let line = message_line("hans", text, true, u64::MAX, 7);
            assert_eq!(line.capacity(), line.len(), "{text:?}");
        }
        for text in &texts {
            for (offline, ts, msg_id) in [(false, 1_700_000_000_123, 1 << 50), (true, 0, 0)] {
                assert_eq!(
                    message_line("hans", text, offline, ts, msg_id),
                    ServerFrame::Event(Event::Message {
                        from: "hans".into(),
                        text: text.clone(),
                        offline,
                        ts: Some(ts),
                        msg_id: Some(msg_id),
                    })
                    .encode(),
                    "{text:?}"
                );
            }
        }
        for id in [None, Some(0), Some(u64::MAX)] {
            for stored in [false, true] {
                let mut hand = b"before\n".to_vec();
                write_sent(&mut hand, id, stored);
                let mut general = b"before\n".to_vec();
                write_reply(&mut general, id, &Response::Sent { stored });
                assert_eq!(String::from_utf8(hand), String::from_utf8(general));
            }
        }
        for (id, response) in [
            (Some(7), Response::Sent { stored: false }),
            (None, Response::Ok),
            (
                Some(0),
                Response::error(ErrorCode::InvalidUser, "Invalid user"),
            ),
        ] {
            let mut buf = b"before\n".to_vec();
            write_reply(&mut buf, id, &response);
            let expected = ServerFrame::Reply {
                id,
                response: response.clone(),
            }
            .encode();
            assert_eq!(
                String::from_utf8(buf).unwrap(),
                format!("before\n{expected}")
            );
        }
    }

    #[test]
    fn fast_and_general_decoding_agree() {
        let lines: &[&[u8]] = &[
            br#"{"id":7,"type":"message","to":"yoda","text":"Hey \"Dude\"\u00e9"}"#,
            br#"{"type":"whoelse"}"#,
            br#"{"type":"whoelse","extra":[1,{"a":2}],"id":null}"#,
            br#"{"type":"whoelsesince","seconds":5,"id":3}"#,
            br#"{"type":"private_listen","port":4000}"#,
            br#"{"type":"message","to":"a","text":"b","to":"c"}"#,
            br#"{"type":"whoelse","type":"logout"}"#,
            br#"{"type":"whoelse","id":1.5}"#,
            br#"{"type":"whoelse","id":-1}"#,
            br#"["whoelse"]"#,
            br#"{"type":"whoelsesince","seconds":5.0}"#,
            b"{\"type\":\"whoelse\",\"\xff\":1}",
        ];
        for line in &lines[..5] {
            assert!(ClientFrame::decode_fast(line).is_some(), "{line:?}");
        }
        for line in lines {
            let fast = ClientFrame::decode_fast(line);
            let general = decode_general(line);
            if let Some(fast) = fast {
                assert_eq!(Ok(fast), general, "{}", String::from_utf8_lossy(line));
            }
            assert_eq!(
                ClientFrame::decode(line),
                general,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    /// Every request with the exact line it must encode to (id 5), so a change of any name
    /// or field on the wire fails here.
    fn request_lines() -> Vec<(Request, &'static str)> {
        vec![
            (
                Request::Login {
                    user: "hans".into(),
                },
                r#"{"id":5,"type":"login","user":"hans"}"#,
            ),
            (
                Request::Password {
                    password: "falcon*solo".into(),
                },
                r#"{"id":5,"type":"password","password":"falcon*solo"}"#,
            ),
            (
                Request::Message {
                    to: "yoda".into(),
                    text: "Hey \"Dude\"".into(),
                },
                r#"{"id":5,"type":"message","to":"yoda","text":"Hey \"Dude\""}"#,
            ),
            (
                Request::Broadcast { text: "hi".into() },
                r#"{"id":5,"type":"broadcast","text":"hi"}"#,
            ),
            (Request::Whoelse, r#"{"id":5,"type":"whoelse"}"#),
            (
                Request::Whoelsesince { seconds: 300 },
                r#"{"id":5,"type":"whoelsesince","seconds":300}"#,
            ),
            (
                Request::Block { user: "a".into() },
                r#"{"id":5,"type":"block","user":"a"}"#,
            ),
            (
                Request::Unblock { user: "b".into() },
                r#"{"id":5,"type":"unblock","user":"b"}"#,
            ),
            (Request::Logout, r#"{"id":5,"type":"logout"}"#),
            (Request::Activity, r#"{"id":5,"type":"activity"}"#),
            (
                Request::PrivateListen {
                    port: 4000,
                    host: None,
                    fingerprint: None,
                },
                r#"{"id":5,"type":"private_listen","port":4000}"#,
            ),
            (
                Request::PrivateListen {
                    port: 4000,
                    host: Some("203.0.113.5".into()),
                    fingerprint: None,
                },
                r#"{"id":5,"type":"private_listen","port":4000,"host":"203.0.113.5"}"#,
            ),
            (
                Request::PrivateListen {
                    port: 4000,
                    host: None,
                    fingerprint: Some("0f".repeat(32)),
                },
                r#"{"id":5,"type":"private_listen","port":4000,"fingerprint":"0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"}"#,
            ),
            (
                Request::StartPrivate { user: "c".into() },
                r#"{"id":5,"type":"start_private","user":"c"}"#,
            ),
            (
                Request::PrivateAnswer {
                    user: "d".into(),
                    accept: true,
                },
                r#"{"id":5,"type":"private_answer","user":"d","accept":true}"#,
            ),
            (
                Request::PrivateEnded { user: "e".into() },
                r#"{"id":5,"type":"private_ended","user":"e"}"#,
            ),
            (Request::Accounts, r#"{"id":5,"type":"accounts"}"#),
            (
                Request::Ack { msg_id: 42 },
                r#"{"id":5,"type":"ack","msg_id":42}"#,
            ),
            (
                Request::ChangePassword {
                    old: "falcon*solo".into(),
                    new: "x@y".into(),
                },
                r#"{"id":5,"type":"change_password","old":"falcon*solo","new":"x@y"}"#,
            ),
        ]
    }

    /// The scanner's shortcut against serde_json, over the requests' lines and tens of
    /// thousands of mutations of them: wherever it reads a frame, both serde_json paths read
    /// the same one.
    #[test]
    fn the_scanner_reads_what_serde_json_reads_or_nothing() {
        const BYTES: &[u8] = b"{}[]\":,\\ \t\n0123456789-+.eEabtnulx\x01\x7f";
        let mut seeds: Vec<String> = request_lines()
            .into_iter()
            .map(|(_, line)| line.to_string())
            .collect();
        seeds.push(r#" { "type" : "message" , "to" : "a" , "text" : "" , "id" : 0 } "#.into());
        seeds.push(r#"{"type":"ack","msg_id":18446744073709551615}"#.into());
        let mut scanned = 0;
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: usize| {
            // xorshift64: deterministic, so a failure comes back on every run.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n as u64) as usize
        };
        for seed in &seeds {
            for _ in 0..3000 {
                let mut line = seed.clone().into_bytes();
                for _ in 0..1 + next(3) {
                    let at = next(line.len() + 1);
                    let byte = BYTES[next(BYTES.len())];
                    match next(3) {
                        0 => line.insert(at, byte),
                        1 if at < line.len() => line[at] = byte,
                        _ if at < line.len() => drop(line.remove(at)),
                        _ => {}
                    }
                }
                let Ok(text) = std::str::from_utf8(&line) else {
                    continue;
                };
                let Some(f) = Flat::scan(text) else {
                    continue;
                };
                scanned += 1;
                let id = f.id;
                let serde: Option<Flat<'_>> = serde_json::from_str(text).ok();
                let serde = serde.map(|g| (g.id, Request::from_flat(g)));
                assert_eq!(Some((id, Request::from_flat(f))), serde, "{text}");
                if let Some(Some(request)) = serde.map(|(_, r)| r) {
                    let frame = ClientFrame { id, request };
                    assert_eq!(decode_general(&line), Ok(frame), "{text}");
                }
            }
        }
        assert!(scanned > 1000, "only {scanned} mutations scanned");
    }

    #[test]
    fn every_request_has_its_exact_wire_line() {
        for (request, line) in request_lines() {
            let frame = ClientFrame {
                id: Some(5),
                request,
            };
            assert_eq!(frame.encode(), format!("{line}\n"));
            assert_eq!(ClientFrame::decode(line.as_bytes()), Ok(frame.clone()));
            // Both paths, separately (`decode` tries the fast one first).
            assert_eq!(
                ClientFrame::decode_fast(line.as_bytes()),
                Some(frame.clone())
            );
            assert_eq!(decode_general(line.as_bytes()), Ok(frame));
        }
    }

    #[test]
    fn request_type_list_names_each_variant_once() {
        let samples = request_lines();
        let mut seen = std::collections::HashSet::new();
        for t in Request::TYPES {
            assert!(seen.insert(*t), "{t} listed twice");
            // Each listed name is one variant's name and its own serde name.
            let (request, line) = samples
                .iter()
                .find(|(r, _)| r.type_name() == *t)
                .unwrap_or_else(|| panic!("{t} is listed but no variant has that name"));
            assert!(line.contains(&format!("\"type\":\"{t}\"")), "{line}");
            let json = serde_json::to_value(request).unwrap();
            assert_eq!(json["type"], *t);
        }
        // Every variant is listed: each sample's name is in the list.
        for (request, _) in &samples {
            assert!(Request::TYPES.contains(&request.type_name()), "{request:?}");
        }
        assert_eq!(seen.len(), 17, "one name per request variant");
    }

    #[test]
    fn response_and_event_type_lists_match_their_serde_names() {
        let responses = [
            Response::Ok,
            Response::error(ErrorCode::Internal, "x"),
            Response::PasswordRequired,
            Response::NewUser,
            Response::Welcome {
                user: "u".into(),
                offline: 0,
            },
            Response::Sent { stored: true },
            Response::Broadcasted {
                delivered: 1,
                skipped: 0,
            },
            Response::Users { users: vec![] },
        ];
        let events = [
            Event::Message {
                from: "a".into(),
                text: "b".into(),
                offline: true,
                ts: Some(1),
                msg_id: Some(1),
            },
            Event::Broadcast {
                from: "a".into(),
                text: "b".into(),
                ts: Some(2),
            },
            Event::Presence {
                user: "a".into(),
                online: true,
                ts: Some(3),
            },
            Event::PresenceBatch {
                users: vec!["a".into(), "b".into()],
                online: false,
                ts: Some(4),
            },
            Event::PrivateRequest { from: "a".into() },
            Event::PrivateStart {
                peer: "a".into(),
                addr: Some("127.0.0.1:1".into()),
                token: "t".into(),
                fingerprint: None,
            },
            Event::PrivateDeclined { peer: "a".into() },
            Event::PrivateExpired { peer: "a".into() },
            Event::PrivateEnded { peer: "a".into() },
            Event::Inactive,
            Event::IdleWarning { seconds: 60 },
            Event::Kicked {
                reason: Some("r".into()),
            },
            Event::Shutdown,
        ];
        let names = |values: Vec<(serde_json::Value, &'static str)>, types: &[&str]| {
            let listed: Vec<&str> = values
                .iter()
                .map(|(json, name)| {
                    assert_eq!(json["type"], *name);
                    *name
                })
                .collect();
            assert_eq!(listed, types);
        };
        names(
            responses
                .iter()
                .map(|r| (serde_json::to_value(r).unwrap(), r.type_name()))
                .collect(),
            Response::TYPES,
        );
        names(
            events
                .iter()
                .map(|e| (serde_json::to_value(e).unwrap(), e.type_name()))
                .collect(),
            Event::TYPES,
        );
        // Replies and events are told apart by their type alone.
        for t in Response::TYPES {
            assert!(
                !Event::TYPES.contains(t),
                "{t} is both a response and an event"
            );
        }
        for (frame, line) in [
            (
                ServerFrame::Hello(Hello {
                    protocol: 1,
                    server: "chatd 0.1.0".into(),
                    max_line: 4096,
                }),
                r#"{"type":"hello","protocol":1,"server":"chatd 0.1.0","max_line":4096}"#,
            ),
            (
                ServerFrame::Event(events[5].clone()),
                r#"{"type":"private_start","peer":"a","addr":"127.0.0.1:1","token":"t"}"#,
            ),
            (
                ServerFrame::Event(events[3].clone()),
                r#"{"type":"presence_batch","users":["a","b"],"online":false,"ts":4}"#,
            ),
            (
                ServerFrame::Event(events[0].clone()),
                r#"{"type":"message","from":"a","text":"b","offline":true,"ts":1,"msg_id":1}"#,
            ),
            (
                ServerFrame::Event(events[1].clone()),
                r#"{"type":"broadcast","from":"a","text":"b","ts":2}"#,
            ),
            (
                ServerFrame::Event(events[2].clone()),
                r#"{"type":"presence","user":"a","online":true,"ts":3}"#,
            ),
            (
                ServerFrame::Event(Event::IdleWarning { seconds: 60 }),
                r#"{"type":"idle_warning","seconds":60}"#,
            ),
            (
                ServerFrame::Event(Event::PrivateStart {
                    peer: "a".into(),
                    addr: Some("127.0.0.1:1".into()),
                    token: "t".into(),
                    fingerprint: Some("0f".repeat(32)),
                }),
                r#"{"type":"private_start","peer":"a","addr":"127.0.0.1:1","token":"t","fingerprint":"0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"}"#,
            ),
            (
                ServerFrame::Reply {
                    id: Some(2),
                    response: responses[6].clone(),
                },
                r#"{"id":2,"type":"broadcasted","delivered":1,"skipped":0}"#,
            ),
        ] {
            assert_eq!(frame.encode(), format!("{line}\n"));
            assert_eq!(ServerFrame::decode(line.as_bytes()), Ok(frame));
        }
        // An older server's greeting, without `max_line`: the default limit.
        assert_eq!(
            ServerFrame::decode(br#"{"type":"hello","protocol":1,"server":"old"}"#),
            Ok(ServerFrame::Hello(Hello {
                protocol: 1,
                server: "old".into(),
                max_line: crate::codec::DEFAULT_MAX_LINE,
            }))
        );
        // An older server's events, without `ts`.
        assert_eq!(
            ServerFrame::decode(br#"{"type":"broadcast","from":"a","text":"b"}"#),
            Ok(ServerFrame::Event(Event::Broadcast {
                from: "a".into(),
                text: "b".into(),
                ts: None,
            }))
        );
        assert_eq!(
            ServerFrame::decode(br#"{"type":"dance"}"#),
            Err(DecodeError::UnknownType("dance".into()))
        );
    }

    #[test]
    fn every_error_code_has_its_exact_wire_name() {
        use ErrorCode::*;
        let expected = [
            (BadJson, "bad_json"),
            (BadUtf8, "bad_utf8"),
            (LineTooLong, "line_too_long"),
            (UnknownRequest, "unknown_request"),
            (BadRequest, "bad_request"),
            (NotLoggedIn, "not_logged_in"),
            (AlreadyAuthenticated, "already_authenticated"),
            (InvalidUsername, "invalid_username"),
            (InvalidPasswordFormat, "invalid_password_format"),
            (AlreadyLoggedIn, "already_logged_in"),
            (AccountLocked, "account_locked"),
            (AccountBlocked, "account_blocked"),
            (InvalidPassword, "invalid_password"),
            (RegistrationDisabled, "registration_disabled"),
            (RegistrationLimited, "registration_limited"),
            (InvalidUser, "invalid_user"),
            (CannotMessageSelf, "cannot_message_self"),
            (BlockedByRecipient, "blocked_by_recipient"),
            (CannotBlockSelf, "cannot_block_self"),
            (CannotUnblockSelf, "cannot_unblock_self"),
            (NotBlocked, "not_blocked"),
            (OfflineQueueFull, "offline_queue_full"),
            (RateLimited, "rate_limited"),
            (UserOffline, "user_offline"),
            (CannotPrivateSelf, "cannot_private_self"),
            (BlockedByUser, "blocked_by_user"),
            (PrivateAlreadyActive, "private_already_active"),
            (NoPrivateRequest, "no_private_request"),
            (PrivateUnavailable, "private_unavailable"),
            (InvalidHost, "invalid_host"),
            (TooManyConnections, "too_many_connections"),
            (LoginTimeout, "login_timeout"),
            (Internal, "internal"),
            (TooManyBadLines, "too_many_bad_lines"),
            (Unknown, "unknown"),
        ];
        assert_eq!(
            ErrorCode::ALL,
            expected.map(|(code, _)| code).as_slice(),
            "ALL lists every code once, in order"
        );
        for (code, name) in expected {
            assert_eq!(code.as_str(), name);
            assert_eq!(code.to_string(), name);
            let line = format!(r#"{{"id":1,"type":"error","code":"{name}","message":"m"}}"#);
            let frame = ServerFrame::Reply {
                id: Some(1),
                response: Response::error(code, "m"),
            };
            assert_eq!(frame.encode(), format!("{line}\n"));
            assert_eq!(ServerFrame::decode(line.as_bytes()), Ok(frame));
        }
    }
}
