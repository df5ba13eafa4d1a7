//! `chatctl status`: whether chatd runs and answers (exit 0, with its pid, version, uptime and
//! connections) or cannot be reached (exit 3, naming the socket, like every subcommand).

use std::io::Write;

use proto::admin::{AdminRequest, AdminResponse, Status};

use super::stdout_failed;
use crate::client::{unexpected, Failure, Session};
use crate::render;

/// Runs `status`.
///
/// # Errors
/// [`Failure`] from the exchange (unreachable: exit 3).
pub fn run(session: &Session) -> Result<(), Failure> {
    let response = session.call(&AdminRequest::Status)?;
    let mut out = std::io::stdout().lock();
    let written = match &response {
        _ if session.json => render::json_line(&mut out, &response),
        AdminResponse::Status(status) => print_status(&mut out, session, status),
        other => return Err(unexpected(other)),
    };
    written.map_err(stdout_failed)
}

fn print_status(out: &mut impl Write, session: &Session, s: &Status) -> std::io::Result<()> {
    writeln!(
        out,
        "chatd {} is running (pid {}), socket {}",
        s.version,
        s.pid,
        session.socket().display()
    )?;
    writeln!(
        out,
        "up {} (since {} UTC), {}, {} online",
        render::duration(s.uptime),
        render::utc(s.started),
        render::count(s.connections, "connection"),
        render::count(s.online, "user")
    )
}
