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
mod scan;
pub mod tls;

pub use codec::{encode_line, LineDecoder, LineError, DEFAULT_MAX_LINE};
pub use frames::{
    message_line, write_presence_batch, write_reply, write_sent, ClientFrame, DecodeError,
    ErrorCode, Event, Hello, Request, Response, ServerFrame, PROTOCOL_VERSION,
};

/// Validates a user name: 1-32 characters of ASCII letters, digits, `_`, `-` and `.`, not
/// starting with `-` (such a name would read as an option on a command line: `chatctl kick -h`).
pub fn valid_username(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The longest `host` a `private_listen` may advertise: the longest DNS name.
pub const MAX_HOST_LEN: usize = 253;

/// Validates the `host` of a `private_listen`: an IPv4 or IPv6 address (without brackets), or
/// a host name of at most [`MAX_HOST_LEN`] characters made of dot-separated labels of 1-63
/// ASCII letters, digits and `-`, none starting or ending with `-` (a final dot is allowed).
/// Anything else (spaces, control characters, escape sequences, a port) is refused, so what
/// peers are told to connect to is always an address.
pub fn valid_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    (1..=MAX_HOST_LEN).contains(&host.len())
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Validates a password: 1-1024 bytes of printable characters without spaces (so the
/// `username password` line of `credentials.txt` stays unambiguous): no white space, no
/// control character, and nothing [`invisible`] (format characters such as U+200B or U+202E,
/// which a user could not see or type again).
pub fn valid_password(password: &str) -> bool {
    (1..=1024).contains(&password.len())
        && password
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !invisible(c))
}

/// Whether `c` prints nothing visible: the Unicode general category Cf (format characters:
/// zero-width spaces and joiners, bidirectional overrides, the byte order mark, tags, ...,
/// as of Unicode 15.1), the other default-ignorable code points (fillers, variation
/// selectors), private-use code points and noncharacters.
pub fn invisible(c: char) -> bool {
    const RANGES: &[(u32, u32)] = &[
        // Cf
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x180E, 0x180E),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
        // Other default-ignorable code points (fillers, variation selectors, reserved tags).
        (0x034F, 0x034F),
        (0x115F, 0x1160),
        (0x17B4, 0x17B5),
        (0x180B, 0x180F),
        (0x3164, 0x3164),
        (0xFE00, 0xFE0F),
        (0xFFA0, 0xFFA0),
        (0xE0000, 0xE0FFF),
        // Private use.
        (0xE000, 0xF8FF),
        (0xF0000, 0x10FFFF),
        // Noncharacters in the Basic Multilingual Plane (the others are in the ranges above
        // or checked below).
        (0xFDD0, 0xFDEF),
    ];
    let c = u32::from(c);
    (c & 0xFFFE) == 0xFFFE || RANGES.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
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
        assert!(!valid_username("-h"));
        assert!(!valid_username("--all"));
        assert!(valid_username("a-"));
    }

    #[test]
    fn hosts() {
        for good in [
            "127.0.0.1",
            "::1",
            "fe80::1",
            "localhost",
            "chat.example.org",
            "chat.example.org.",
            "a-b.c0",
            &"a".repeat(63),
        ] {
            assert!(valid_host(good), "{good}");
        }
        let long = ["abc"; 64].join(".");
        for bad in [
            "",
            ".",
            "\u{1b}]0;pwned\u{7}\u{1b}[2J",
            "host name",
            "host:80",
            "[::1]",
            "-lead.example",
            "trail-.example",
            "a..b",
            "ünï.example",
            &"a".repeat(64),
            long.as_str(),
        ] {
            assert!(!valid_host(bad), "{bad:?}");
        }
    }

    #[test]
    fn passwords() {
        assert!(valid_password("falcon*solo"));
        assert!(valid_password("(jedimaster)"));
        assert!(valid_password(r#"~!@#$%^&*_-+=`|\(){}[]:;"'<>,.?/"#));
        assert!(!valid_password(""));
        assert!(!valid_password("two words"));
        assert!(!valid_password("tab\t"));
        for invisible in [
            "\u{200B}",
            "\u{202E}",
            "\u{FEFF}",
            "\u{2066}",
            "\u{E0041}",
            "\u{00AD}",
        ] {
            assert!(
                !valid_password(&format!("pass{invisible}word")),
                "{invisible:?}"
            );
        }
        assert!(!valid_password("pw\u{E000}"));
        assert!(!valid_password("pw\u{FFFF}"));
        assert!(!valid_password("pw\u{1FFFE}"));
        assert!(!valid_password("pw\u{1b}[2J"));
        // Printable letters of any script, and combining marks, are fine.
        assert!(valid_password("ünïcode-Ω-日本"));
        assert!(valid_password("e\u{301}"));
    }
}
