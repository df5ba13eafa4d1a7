//! `chatctl who`: online users with address, login time, idle time and private sessions.

use proto::admin::{AdminRequest, AdminResponse, OnlineUser};

use super::stdout_failed;
use crate::client::{unexpected, Failure, Session};
use crate::render;

/// Runs `who`.
///
/// # Errors
/// [`Failure`] from the exchange.
pub fn run(session: &Session) -> Result<(), Failure> {
    let response = session.call(&AdminRequest::Who)?;
    let mut out = std::io::stdout().lock();
    let written = match &response {
        _ if session.json => render::json_line(&mut out, &response),
        AdminResponse::Who { users } => print_table(&mut out, users),
        other => return Err(unexpected(other)),
    };
    written.map_err(stdout_failed)
}

fn print_table(out: &mut impl std::io::Write, users: &[OnlineUser]) -> std::io::Result<()> {
    if users.is_empty() {
        return writeln!(out, "nobody is online");
    }
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.user.clone(),
                u.addr.clone(),
                format!("{} UTC", render::utc(u.since)),
                render::duration(u.idle),
                if u.private.is_empty() {
                    "-".into()
                } else {
                    u.private.join(",")
                },
            ]
        })
        .collect();
    render::table(out, &["USER", "ADDRESS", "SINCE", "IDLE", "PRIVATE"], &rows)
}
