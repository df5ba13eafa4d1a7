//! One module per subcommand, mirroring chatd's admin handlers: each builds its request, sends
//! it, and prints the answer as a table or as JSON.

pub mod kick;
mod password;
pub mod reload;
pub mod stats;
pub mod status;
pub mod unlock;
pub mod user_add;
pub mod user_del;
pub mod user_passwd;
pub mod users;
pub mod who;

pub(crate) use password::new_password;

use std::io::Write;

use proto::admin::AdminResponse;

use crate::client::{unexpected, Failure, Session};
use crate::render;

/// Prints an `ok` answer: its message for people, the JSON line for scripts.
pub(crate) fn print_ok(session: &Session, response: &AdminResponse) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let written = match response {
        _ if session.json => render::json_line(&mut out, response),
        AdminResponse::Ok { message } => writeln!(out, "{message}"),
        other => return Err(unexpected(other)),
    };
    written.map_err(stdout_failed)
}

/// Writing to stdout failed (a closed pipe, a full disk): the request itself went through,
/// but the caller did not get the answer.
pub(crate) fn stdout_failed(e: std::io::Error) -> Failure {
    Failure::Request {
        code: "output".into(),
        message: format!("cannot write the answer: {e}"),
    }
}
