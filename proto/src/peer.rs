//! Frames between two `chat` clients in a private session. The server introduces them with
//! [`crate::Event::PrivateStart`]; the requester connects to the target's listener and both speak
//! these lines (same framing as the client protocol):
//!
//! ```json
//! > {"type":"auth","user":"hans","token":"5f0c..."}
//! < {"type":"auth_ok","user":"luke"}
//! > {"type":"text","text":"hey dude"}
//! < {"type":"stop"}
//! ```
//!
//! The listener drops any connection whose first frame is not an `auth` with a token it was
//! told to expect; a token is good for one connection only.

use serde::{Deserialize, Serialize};

/// One frame on a peer connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PeerFrame {
    /// First frame from the connecting side.
    Auth {
        /// The connecting user.
        user: String,
        /// The token from `private_start`.
        token: String,
    },
    /// The listening side accepted the token.
    AuthOk {
        /// The listening user.
        user: String,
    },
    /// A private message.
    Text {
        /// The text.
        text: String,
    },
    /// `stopprivate`: the sender ends the session.
    Stop,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_round_trip() {
        let f = PeerFrame::Auth {
            user: "hans".into(),
            token: "abc".into(),
        };
        let line = serde_json::to_string(&f).unwrap();
        assert_eq!(line, r#"{"type":"auth","user":"hans","token":"abc"}"#);
        assert_eq!(serde_json::from_str::<PeerFrame>(&line).unwrap(), f);
    }
}
