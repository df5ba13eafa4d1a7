//! `chatctl stats`: the server's counters.

use proto::admin::{AdminRequest, AdminResponse, Stats};

use super::stdout_failed;
use crate::client::{unexpected, Failure, Session};
use crate::render;

/// Runs `stats`.
///
/// # Errors
/// [`Failure`] from the exchange.
pub fn run(session: &Session) -> Result<(), Failure> {
    let response = session.call(&AdminRequest::Stats)?;
    let mut out = std::io::stdout().lock();
    let written = match &response {
        _ if session.json => render::json_line(&mut out, &response),
        AdminResponse::Stats(stats) => print_stats(&mut out, stats),
        other => return Err(unexpected(other)),
    };
    written.map_err(stdout_failed)
}

fn print_stats(out: &mut impl std::io::Write, s: &Stats) -> std::io::Result<()> {
    let rows = [
        ("uptime", render::duration(s.uptime)),
        (
            "connections",
            format!("{} (peak {})", s.connections, s.peak_connections),
        ),
        ("users online", s.online.to_string()),
        ("logins", s.logins.to_string()),
        ("failed logins", s.failed_logins.to_string()),
        ("locked accounts", s.locked_accounts.to_string()),
        ("messages delivered", s.messages_delivered.to_string()),
        ("messages stored", s.messages_stored.to_string()),
        ("messages dropped", s.messages_dropped.to_string()),
        (
            "slow consumers dropped",
            s.slow_consumers_dropped.to_string(),
        ),
    ];
    for (name, value) in rows {
        writeln!(out, "{name:<24}{value}")?;
    }
    Ok(())
}
