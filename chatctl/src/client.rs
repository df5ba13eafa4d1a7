//! One admin exchange with chatd: connect to the Unix socket, send one request line, read one
//! response line. Also the [`Failure`] type every subcommand returns.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use proto::admin::{AdminRequest, AdminResponse, MAX_ADMIN_LINE};

/// How long chatd may take to answer (a reload re-reads two files; everything else is
/// immediate).
const ANSWER_DEADLINE: Duration = Duration::from_secs(15);

/// Why a subcommand did not succeed; decides the exit status.
#[derive(Debug)]
pub enum Failure {
    /// chatd refused the request (exit 1). `code` is chatd's error code.
    Request {
        /// Machine-readable code (snake_case).
        code: String,
        /// For humans.
        message: String,
    },
    /// The invocation cannot work (exit 2).
    Usage(String),
    /// chatd cannot be reached or did not answer (exit 3).
    Unreachable(String),
}

/// Where to send requests and how to print answers.
pub struct Session {
    socket: PathBuf,
    /// `--json`.
    pub json: bool,
}

impl Session {
    /// A session with chatd at `socket`.
    pub fn new(socket: PathBuf, json: bool) -> Session {
        Session { socket, json }
    }

    /// The admin socket's path.
    pub fn socket(&self) -> &std::path::Path {
        &self.socket
    }

    /// Sends `request` and returns chatd's answer, turning an error answer into
    /// [`Failure::Request`].
    ///
    /// # Errors
    /// [`Failure::Unreachable`] naming the socket; [`Failure::Request`] for an error answer.
    pub fn call(&self, request: &AdminRequest) -> Result<AdminResponse, Failure> {
        let response = self.exchange(request)?;
        if let AdminResponse::Error { code, message } = response {
            let code = serde_json::to_value(code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "error".into());
            return Err(Failure::Request { code, message });
        }
        Ok(response)
    }

    fn exchange(&self, request: &AdminRequest) -> Result<AdminResponse, Failure> {
        let at = self.socket.display();
        let mut stream = UnixStream::connect(&self.socket).map_err(|e| {
            let hint = match e.kind() {
                ErrorKind::NotFound | ErrorKind::ConnectionRefused => " (is chatd running?)",
                ErrorKind::PermissionDenied => " (the socket is owner-only: run as chatd's user)",
                _ => "",
            };
            Failure::Unreachable(format!("cannot reach chatd at {at}: {e}{hint}"))
        })?;
        let lost = |e: std::io::Error| {
            let what = if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
                format!("no answer within {}s", ANSWER_DEADLINE.as_secs())
            } else {
                e.to_string()
            };
            Failure::Unreachable(format!("chatd at {at} did not answer: {what}"))
        };
        stream
            .set_read_timeout(Some(ANSWER_DEADLINE))
            .and_then(|()| stream.set_write_timeout(Some(ANSWER_DEADLINE)))
            .map_err(lost)?;
        let line = proto::encode_line(request);
        stream.write_all(line.as_bytes()).map_err(lost)?;
        // Half-close: chatd reads one line anyway; this only tells it nothing else follows.
        let _ = stream.shutdown(Shutdown::Write);
        let mut answer = Vec::new();
        BufReader::new(stream.take(MAX_ADMIN_LINE as u64 + 2))
            .read_until(b'\n', &mut answer)
            .map_err(lost)?;
        if answer.is_empty() {
            return Err(Failure::Unreachable(format!(
                "chatd at {at} closed the connection without answering (shutting down?)"
            )));
        }
        serde_json::from_slice(&answer).map_err(|e| {
            Failure::Unreachable(format!(
                "chatd at {at} sent an answer this chatctl does not understand: {e}"
            ))
        })
    }
}

/// A reply of the wrong kind for the request: a chatd speaking another protocol revision.
pub fn unexpected(response: &AdminResponse) -> Failure {
    Failure::Request {
        code: "unexpected_answer".into(),
        message: format!("chatd gave an unexpected answer: {response:?}"),
    }
}
