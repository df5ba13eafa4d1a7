//! The session's one queue: [`Input`] is everything the session waits for, from every thread
//! (the server connection's reader, the input thread, private links), and [`Ask`] is what the
//! session asks the input thread to read.
//!
//! It only defines the messages and how the other threads' outputs become them; it reads
//! nothing and decides nothing ([`crate::session`] does).

use std::sync::mpsc::Sender;

use proto::client::Incoming;

use crate::diag::report;
use crate::p2p::{PeerInput, PeerSink};

/// Everything the session waits for, from every thread, in one queue.
// `EndOfInput` is the end of what the user types, not a kind of `Input`.
#[allow(clippy::enum_variant_names)]
pub enum Input {
    /// A frame from the server.
    Frame(proto::ServerFrame),
    /// The connection ended (closed, broke, or the server sent an over-long line).
    Disconnected,
    /// A line the user typed (or the next line of a script), without its newline.
    Line(String),
    /// Ctrl-C at a prompt: the line was discarded.
    Interrupted,
    /// Ctrl-D, or the end of the script.
    EndOfInput,
    /// The command line being edited was set aside at the session's request (to ask a
    /// question first); this is what had been typed of it.
    Suspended(String),
    /// Something happened on a private (peer-to-peer) link.
    Peer(PeerInput),
}

/// What the session asks the input thread to read.
#[derive(Debug, Clone)]
pub enum Ask {
    /// A command line (the line editor, with completion and history).
    Command {
        /// The prompt (`hans> `).
        prompt: String,
        /// Text already on the line, cursor at its end (a line that was set aside).
        initial: String,
    },
    /// A user name (the line editor, no history).
    Username,
    /// A password, never echoed nor kept, after this prompt.
    Secret(String),
    /// An answer to a question (the private-messaging consent), after this prompt; no
    /// completion, no history.
    Answer(String),
}

/// The sink for the server connection's reader thread: frames and the end of the connection
/// go to `inbox`. Lines that are no frame this client knows are skipped; only junk is noted on
/// stderr (a newer server may send event types this client does not know).
pub fn server_sink(inbox: Sender<Input>) -> impl FnMut(Incoming) -> bool + Send + 'static {
    move |incoming| {
        let input = match incoming {
            Incoming::Frame(frame) => Input::Frame(frame),
            Incoming::Skipped(proto::DecodeError::UnknownType(_)) => return true,
            Incoming::Skipped(e) => {
                report!("ignoring a frame from the server: {e}");
                return true;
            }
            Incoming::Closed(_) => Input::Disconnected,
        };
        inbox.send(input).is_ok()
    }
}

/// The sink for private links: everything goes to `inbox` as [`Input::Peer`].
pub fn peer_sink(inbox: &Sender<Input>) -> PeerSink {
    let inbox = inbox.clone();
    PeerSink::new(move |input| inbox.send(Input::Peer(input)).is_ok())
}
