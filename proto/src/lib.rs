//! # The chat wire protocol
//!
//! The only home of the types that cross a socket between `chatd`, `chat` and `chatctl`.
//! Any language that can read lines and JSON can speak it; `docs/PROTOCOL.md` walks through it
//! with a full exchange.
//!
//! ## Framing
//!
//! ```text
//!   one frame = one JSON object, UTF-8, terminated by "\n" ("\r\n" accepted)
//!   +--------------------------------------------------------+----+
//!   | {"id":7,"type":"message","to":"yoda","text":"Hey Dude"} | \n |
//!   +--------------------------------------------------------+----+
//!   at most max_line_bytes (default 65536) before the newline
//! ```
//!
//! ## Conversation
//!
//! ```text
//!   server                                   client
//!   {"type":"hello","protocol":1,...}   -->
//!                                       <--  {"id":1,"type":"login","user":"hans"}
//!   {"id":1,"type":"password_required"} -->
//!                                       <--  {"id":2,"type":"password","password":"falcon*solo"}
//!   {"id":2,"type":"welcome",...}       -->
//!   {"type":"message","from":"yoda",..} -->  (events, no id, at any time)
//! ```
//!
//! * [`frames`]: [`Request`], [`Response`], [`Event`], [`Hello`], [`ErrorCode`].
//! * [`codec`]: the bounded line decoder and the encoder.
//! * [`admin`]: the admin socket's request and response types.
//! * [`client`]: the one blocking client (connect, greeting, requests with ids, replies, events).
//! * [`peer`]: the handshake between two clients in a private session.
//! * [`tls`]: the byte stream the blocking clients use (TCP or TLS), fingerprints, pinning.

pub mod admin;
pub mod client;
pub mod codec;
pub mod frames;
mod macros;
pub mod peer;
pub mod tls;

pub use codec::{encode_line, LineDecoder, LineError, DEFAULT_MAX_LINE};
pub use frames::{
    message_line, write_reply, ClientFrame, DecodeError, ErrorCode, Event, Hello, Request,
    Response, ServerFrame, PROTOCOL_VERSION,
};

/// Validates a user name: 1-32 characters of ASCII letters, digits, `_`, `-` and `.`.
pub fn valid_username(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Validates a password: 1-1024 bytes of printable characters without spaces (so the
/// `username password` line of `credentials.txt` stays unambiguous).
pub fn valid_password(password: &str) -> bool {
    (1..=1024).contains(&password.len())
        && password
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(valid_username("hans"));
        assert!(valid_username("r2-d2.x_y"));
        assert!(!valid_username(""));
        assert!(!valid_username("has space"));
        assert!(!valid_username("ünïcode"));
        assert!(!valid_username(&"a".repeat(33)));
    }

    #[test]
    fn passwords() {
        assert!(valid_password("falcon*solo"));
        assert!(valid_password("(jedimaster)"));
        assert!(valid_password(r#"~!@#$%^&*_-+=`|\(){}[]:;"'<>,.?/"#));
        assert!(!valid_password(""));
        assert!(!valid_password("two words"));
        assert!(!valid_password("tab\t"));
    }
}
