//! The client protocol's frame types: [`Request`] (client to server), [`Response`] (the answer to
//! exactly one request), [`Event`] (server push), the [`Hello`] greeting, and [`ErrorCode`].
//!
//! On the wire every frame is one JSON object with a `"type"` field. A request may carry an
//! `"id"` (any unsigned integer); the response to it echoes the same `"id"`. Events never carry
//! one. Response and event type names are disjoint, so a client can tell them apart even when it
//! sends no ids.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A request from a client, with its optional request id.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientFrame {
    /// Echoed in the response.
    pub id: Option<u64>,
    /// What the client asks for.
    pub request: Request,
}

/// Everything a client can ask of the server.
///
/// ```json
/// {"id":7,"type":"message","to":"yoda","text":"Hey Dude"}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Start a login with a user name. Answered by [`Response::PasswordRequired`],
    /// [`Response::NewUser`] or an error (`invalid_username`, `already_logged_in`,
    /// `account_locked`, `registration_disabled`).
    Login {
        /// The user name as typed.
        user: String,
    },
    /// The password for the name given in `login` (or the new account's password).
    /// Answered by [`Response::Welcome`] or an error (`invalid_password`, `account_blocked`).
    Password {
        /// The password; never logged.
        password: String,
    },
    /// `message <user> <text>`.
    Message {
        /// Recipient.
        to: String,
        /// The message text; any characters.
        text: String,
    },
    /// `broadcast <text>`.
    Broadcast {
        /// The message text.
        text: String,
    },
    /// `whoelse`.
    Whoelse,
    /// `whoelsesince <seconds>`.
    Whoelsesince {
        /// Length of the window ending now.
        seconds: u64,
    },
    /// `block <user>`.
    Block {
        /// Who to block.
        user: String,
    },
    /// `unblock <user>`.
    Unblock {
        /// Who to unblock.
        user: String,
    },
    /// `logout`: the server answers `ok`, then closes the connection.
    Logout,
    /// The user did something that counts as activity without going through the server
    /// (a private message): resets the inactivity timer.
    Activity,
    /// The port of this client's private-messaging listener (sent once; accepted before login
    /// too, so the client can be asked as soon as others see it log in).
    PrivateListen {
        /// TCP port of the listener.
        port: u16,
        /// Host to advertise to peers instead of the address the server sees this connection
        /// come from (for a client behind a known NAT or on another interface).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
    },
    /// `startprivate <user>`: ask `user` for consent.
    StartPrivate {
        /// Who to talk to.
        user: String,
    },
    /// The answer to an [`Event::PrivateRequest`].
    PrivateAnswer {
        /// The user who asked.
        user: String,
        /// `true` for `y`.
        accept: bool,
    },
    /// A private session with `user` has ended (stopprivate, or the peer connection broke).
    PrivateEnded {
        /// The peer.
        user: String,
    },
}

impl Request {
    /// Every request type name, as it appears in `"type"`.
    pub const TYPES: &'static [&'static str] = &[
        "login",
        "password",
        "message",
        "broadcast",
        "whoelse",
        "whoelsesince",
        "block",
        "unblock",
        "logout",
        "activity",
        "private_listen",
        "start_private",
        "private_answer",
        "private_ended",
    ];

    /// The `"type"` name of this request.
    pub fn type_name(&self) -> &'static str {
        match self {
            Request::Login { .. } => "login",
            Request::Password { .. } => "password",
            Request::Message { .. } => "message",
            Request::Broadcast { .. } => "broadcast",
            Request::Whoelse => "whoelse",
            Request::Whoelsesince { .. } => "whoelsesince",
            Request::Block { .. } => "block",
            Request::Unblock { .. } => "unblock",
            Request::Logout => "logout",
            Request::Activity => "activity",
            Request::PrivateListen { .. } => "private_listen",
            Request::StartPrivate { .. } => "start_private",
            Request::PrivateAnswer { .. } => "private_answer",
            Request::PrivateEnded { .. } => "private_ended",
        }
    }
}

/// The server's answer to one request.
///
/// ```json
/// {"id":7,"type":"sent","stored":false}
/// {"id":8,"type":"error","code":"invalid_user","message":"Invalid user"}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// Done; nothing more to say.
    Ok,
    /// The request failed; nothing changed.
    Error {
        /// Stable machine-readable reason.
        code: ErrorCode,
        /// Human text (English), suitable to show after `Error. `.
        message: String,
    },
    /// The name belongs to an account: send `password`.
    PasswordRequired,
    /// The name is free: send `password` to create the account.
    NewUser,
    /// Logged in. Stored offline messages follow as [`Event::Message`] with `offline: true`.
    Welcome {
        /// The account name.
        user: String,
        /// How many offline messages follow.
        offline: u64,
    },
    /// A `message` was accepted.
    Sent {
        /// `true` when the recipient was offline and the message was stored for them.
        stored: bool,
    },
    /// A `broadcast` was sent.
    Broadcasted {
        /// Users it reached.
        delivered: u64,
        /// Online users it skipped because they blocked the sender.
        skipped: u64,
    },
    /// A list of user names (`whoelse`, `whoelsesince`), sorted.
    Users {
        /// The names.
        users: Vec<String>,
    },
}

impl Response {
    /// Every response type name.
    pub const TYPES: &'static [&'static str] = &[
        "ok",
        "error",
        "password_required",
        "new_user",
        "welcome",
        "sent",
        "broadcasted",
        "users",
    ];

    /// Shorthand for an error response.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Response::Error {
            code,
            message: message.into(),
        }
    }
}

/// Something the server pushes without being asked. Never carries an `id`.
///
/// ```json
/// {"type":"message","from":"hans","text":"Hey Dude"}
/// {"type":"presence","user":"luke","online":true}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A direct message.
    Message {
        /// Sender.
        from: String,
        /// Text, as sent.
        text: String,
        /// `true` when it was stored while the recipient was offline.
        #[serde(default, skip_serializing_if = "is_false")]
        offline: bool,
    },
    /// A broadcast from another user.
    Broadcast {
        /// Sender.
        from: String,
        /// Text, as sent.
        text: String,
    },
    /// Someone logged in (`online: true`) or out.
    Presence {
        /// Who.
        user: String,
        /// New state.
        online: bool,
    },
    /// `from` asks to message privately; answer with [`Request::PrivateAnswer`].
    PrivateRequest {
        /// The requester.
        from: String,
    },
    /// A private session was agreed. The side with `addr` connects to it and presents
    /// `token`; the other side waits on its listener for a connection presenting `token`.
    PrivateStart {
        /// The other user.
        peer: String,
        /// Where to connect (`host:port`), for the requester only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        addr: Option<String>,
        /// One-time token both sides must see.
        token: String,
    },
    /// `peer` declined the private request.
    PrivateDeclined {
        /// The asked user.
        peer: String,
    },
    /// Nobody answered the private request in time (sent to the requester), or the request
    /// was withdrawn (sent to the target).
    PrivateExpired {
        /// The other user.
        peer: String,
    },
    /// `peer` logged out or was disconnected: any private session with them is over.
    PrivateEnded {
        /// The other user.
        peer: String,
    },
    /// The server logs this session out for inactivity; the connection closes next.
    Inactive,
    /// An administrator disconnected this session; the connection closes next.
    Kicked {
        /// The administrator's reason, if one was given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The server is shutting down; the connection closes next.
    Shutdown,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The first frame on every connection, sent by the server.
///
/// ```json
/// {"type":"hello","protocol":1,"server":"chatd 0.1.0"}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// [`crate::PROTOCOL_VERSION`] of the server.
    pub protocol: u32,
    /// Server software and version, for humans.
    pub server: String,
    /// The longest line the server accepts (bytes, newline excluded); a client can refuse
    /// longer input itself instead of losing the connection.
    #[serde(default = "default_max_line")]
    pub max_line: usize,
}

fn default_max_line() -> usize {
    crate::DEFAULT_MAX_LINE
}

/// Stable machine-readable error codes. New codes may be added; clients must treat an unknown
/// code as a generic failure and show the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The line is not valid JSON (the connection stays open).
    BadJson,
    /// The line is not valid UTF-8 (the connection stays open).
    BadUtf8,
    /// The line is longer than the server's limit (the connection is closed).
    LineTooLong,
    /// `"type"` names no request.
    UnknownRequest,
    /// Known type, but fields are missing or of the wrong type.
    BadRequest,
    /// Not allowed before login (or during it, out of order).
    NotLoggedIn,
    /// `login`/`password` after the session is logged in.
    AlreadyAuthenticated,
    /// The user name is not 1-32 of letters, digits, `_`, `-`, `.`.
    InvalidUsername,
    /// A password is empty, too long or contains spaces or control characters.
    InvalidPasswordFormat,
    /// The account is logged in on another connection.
    AlreadyLoggedIn,
    /// The account is locked after repeated wrong passwords.
    AccountLocked,
    /// This wrong password was the last allowed: the account is now locked.
    AccountBlocked,
    /// Wrong password; try again.
    InvalidPassword,
    /// The name is unknown and registration is disabled.
    RegistrationDisabled,
    /// No such user.
    InvalidUser,
    /// `message` to oneself.
    CannotMessageSelf,
    /// The recipient has blocked the sender; nothing was stored.
    BlockedByRecipient,
    /// `block` oneself.
    CannotBlockSelf,
    /// `unblock` oneself.
    CannotUnblockSelf,
    /// `unblock` a user who was not blocked.
    NotBlocked,
    /// The recipient's offline queue is full; the message was not stored.
    OfflineQueueFull,
    /// Too many messages too fast; this one was not sent.
    RateLimited,
    /// The target user is not online.
    UserOffline,
    /// `startprivate` with oneself.
    CannotPrivateSelf,
    /// The target has blocked the requester.
    BlockedByUser,
    /// A private session (or a pending request) with that user already exists.
    PrivateAlreadyActive,
    /// `private_answer` with no pending request from that user.
    NoPrivateRequest,
    /// The other side has no private listener.
    PrivateUnavailable,
    /// The server has too many connections (from this address, or in all).
    TooManyConnections,
    /// The login took longer than the server allows; the connection is closed.
    LoginTimeout,
    /// The server failed to do its part (storage error); try again later.
    Internal,
    /// A code this version of the protocol crate does not know (sent by a newer server).
    /// Never sent; show the message.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        ErrorCode::ALL
            .iter()
            .find(|(_, code)| *code == self)
            .map_or("internal", |(name, _)| name)
    }

    const ALL: &'static [(&'static str, ErrorCode)] = &[
        ("bad_json", ErrorCode::BadJson),
        ("bad_utf8", ErrorCode::BadUtf8),
        ("line_too_long", ErrorCode::LineTooLong),
        ("unknown_request", ErrorCode::UnknownRequest),
        ("bad_request", ErrorCode::BadRequest),
        ("not_logged_in", ErrorCode::NotLoggedIn),
        ("already_authenticated", ErrorCode::AlreadyAuthenticated),
        ("invalid_username", ErrorCode::InvalidUsername),
        ("invalid_password_format", ErrorCode::InvalidPasswordFormat),
        ("already_logged_in", ErrorCode::AlreadyLoggedIn),
        ("account_locked", ErrorCode::AccountLocked),
        ("account_blocked", ErrorCode::AccountBlocked),
        ("invalid_password", ErrorCode::InvalidPassword),
        ("registration_disabled", ErrorCode::RegistrationDisabled),
        ("invalid_user", ErrorCode::InvalidUser),
        ("cannot_message_self", ErrorCode::CannotMessageSelf),
        ("blocked_by_recipient", ErrorCode::BlockedByRecipient),
        ("cannot_block_self", ErrorCode::CannotBlockSelf),
        ("cannot_unblock_self", ErrorCode::CannotUnblockSelf),
        ("not_blocked", ErrorCode::NotBlocked),
        ("offline_queue_full", ErrorCode::OfflineQueueFull),
        ("rate_limited", ErrorCode::RateLimited),
        ("user_offline", ErrorCode::UserOffline),
        ("cannot_private_self", ErrorCode::CannotPrivateSelf),
        ("blocked_by_user", ErrorCode::BlockedByUser),
        ("private_already_active", ErrorCode::PrivateAlreadyActive),
        ("no_private_request", ErrorCode::NoPrivateRequest),
        ("private_unavailable", ErrorCode::PrivateUnavailable),
        ("too_many_connections", ErrorCode::TooManyConnections),
        ("login_timeout", ErrorCode::LoginTimeout),
        ("internal", ErrorCode::Internal),
        ("unknown", ErrorCode::Unknown),
    ];
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The line of an [`Event::Message`] (live, not offline), encoded straight from borrowed
/// strings: the server's hot path, byte for byte what encoding the event gives.
pub fn message_line(from: &str, text: &str) -> String {
    #[derive(Serialize)]
    #[serde(tag = "type", rename = "message")]
    struct MessageRef<'a> {
        from: &'a str,
        text: &'a str,
    }
    crate::codec::encode_line(&MessageRef { from, text })
}

/// Appends the line of a reply (`"id"` first, when given) to `buf`, without an intermediate
/// string: the server's writer encodes replies this way.
pub fn write_reply(buf: &mut Vec<u8>, id: Option<u64>, response: &Response) {
    let start = buf.len();
    if serde_json::to_writer(&mut *buf, response).is_err() {
        // Cannot happen for our types (every key is a string); keep the stream well-formed.
        buf.truncate(start);
        buf.extend_from_slice(b"{\"type\":\"ok\"}");
    }
    if let Some(id) = id {
        // The object is never empty (`"type"` is always there), so `{"id":N,` + the rest.
        let prefix = format!("{{\"id\":{id},");
        buf.splice(start..start + 1, prefix.bytes());
    }
    buf.push(b'\n');
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
        use std::borrow::Cow;
        /// Every request field at once, borrowed from the line where it has no escapes: one
        /// pass, no buffering of the object as an internally tagged enum would do.
        #[derive(Deserialize)]
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
            #[serde(default)]
            accept: Option<bool>,
        }
        // Checked up front: serde_json skips unknown keys without validating their UTF-8.
        let text = std::str::from_utf8(line).ok()?;
        if !text.trim_start().starts_with('{') {
            return None;
        }
        let f: Flat<'_> = serde_json::from_str(text).ok()?;
        let own = |c: Option<Cow<'_, str>>| c.map(Cow::into_owned);
        let request = match f.kind.as_ref() {
            "login" => Request::Login { user: own(f.user)? },
            "password" => Request::Password {
                password: own(f.password)?,
            },
            "message" => Request::Message {
                to: own(f.to)?,
                text: own(f.text)?,
            },
            "broadcast" => Request::Broadcast { text: own(f.text)? },
            "whoelse" => Request::Whoelse,
            "whoelsesince" => Request::Whoelsesince {
                seconds: f.seconds?,
            },
            "block" => Request::Block { user: own(f.user)? },
            "unblock" => Request::Unblock { user: own(f.user)? },
            "logout" => Request::Logout,
            "activity" => Request::Activity,
            "private_listen" => Request::PrivateListen {
                port: f.port?,
                host: own(f.host),
            },
            "start_private" => Request::StartPrivate { user: own(f.user)? },
            "private_answer" => Request::PrivateAnswer {
                user: own(f.user)?,
                accept: f.accept?,
            },
            "private_ended" => Request::PrivateEnded { user: own(f.user)? },
            _ => return None,
        };
        Some(ClientFrame { id: f.id, request })
    }

    /// Decodes just the request id of a line that failed to decode, so the error reply can
    /// still echo it.
    pub fn peek_id(line: &[u8]) -> Option<u64> {
        let value: Value = serde_json::from_slice(line).ok()?;
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
        match fields::<Event>(map, &kind) {
            Ok(event) => Ok(ServerFrame::Event(event)),
            Err(DecodeError::Fields { detail, .. }) if detail.contains("unknown variant") => {
                Err(DecodeError::UnknownType(kind))
            }
            Err(e) => Err(e),
        }
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
            },
            Request::PrivateListen {
                port: 4000,
                host: None,
            },
            Request::StartPrivate { user: "c".into() },
            Request::PrivateAnswer {
                user: "d".into(),
                accept: true,
            },
            Request::PrivateEnded { user: "e".into() },
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
        let text = "Hey \"Dude\" \u{1b}[2J\n";
        assert_eq!(
            message_line("hans", text),
            ServerFrame::Event(Event::Message {
                from: "hans".into(),
                text: text.into(),
                offline: false,
            })
            .encode()
        );
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
    fn error_code_names() {
        assert_eq!(ErrorCode::InvalidUser.as_str(), "invalid_user");
        assert_eq!(ErrorCode::BadUtf8.as_str(), "bad_utf8");
        for (name, code) in ErrorCode::ALL {
            assert_eq!(code.as_str(), *name);
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
            let general = (|| {
                let (map, kind, id) = split_frame(line)?;
                if !Request::TYPES.contains(&kind.as_str()) {
                    return Err(DecodeError::UnknownType(kind));
                }
                let id = parse_id(id, &kind)?;
                Ok(ClientFrame {
                    id,
                    request: fields(map, &kind)?,
                })
            })();
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

    #[test]
    fn type_lists_match_variants() {
        for t in Request::TYPES {
            let line = format!("{{\"type\":\"{t}\"}}");
            // Each listed type must be known (errors can only be about fields).
            if let Err(e) = ClientFrame::decode(line.as_bytes()) {
                assert_eq!(e.code(), ErrorCode::BadRequest, "{t}");
            }
        }
    }
}
