//! `chatctl users`: every account, with whether it is online or locked and its last login.

use proto::admin::{Account, AdminRequest, AdminResponse};

use super::stdout_failed;
use crate::client::{unexpected, Failure, Session};
use crate::render;

/// Runs `users`.
///
/// # Errors
/// [`Failure`] from the exchange.
pub fn run(session: &Session) -> Result<(), Failure> {
    let response = session.call(&AdminRequest::Users)?;
    let mut out = std::io::stdout().lock();
    let written = match &response {
        _ if session.json => render::json_line(&mut out, &response),
        AdminResponse::Users { users } => print_table(&mut out, users),
        other => return Err(unexpected(other)),
    };
    written.map_err(stdout_failed)
}

fn print_table(out: &mut impl std::io::Write, users: &[Account]) -> std::io::Result<()> {
    if users.is_empty() {
        return writeln!(out, "no accounts");
    }
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.user.clone(),
                yes_no(u.online),
                yes_no(u.locked),
                u.last_login
                    .map_or_else(|| "never".into(), |t| format!("{} UTC", render::utc(t))),
            ]
        })
        .collect();
    render::table(out, &["USER", "ONLINE", "LOCKED", "LAST LOGIN"], &rows)
}
