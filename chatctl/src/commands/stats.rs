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
    let now = [
        ("uptime", render::duration(s.uptime)),
        (
            "connections",
            format!(
                "{} (peak {} since start)",
                s.connections, s.peak_connections
            ),
        ),
        ("users online", s.online.to_string()),
        ("locked accounts", s.locked_accounts.to_string()),
    ];
    for (name, value) in now {
        writeln!(out, "{name:<24}{value}")?;
    }
    let (start, total) = (&s.since_start, s);
    let counters = [
        ("logins", start.logins, total.logins),
        ("failed logins", start.failed_logins, total.failed_logins),
        (
            "messages delivered",
            start.messages_delivered,
            total.messages_delivered,
        ),
        (
            "messages stored",
            start.messages_stored,
            total.messages_stored,
        ),
        (
            "messages dropped",
            start.messages_dropped,
            total.messages_dropped,
        ),
        (
            "slow consumers dropped",
            start.slow_consumers_dropped,
            total.slow_consumers_dropped,
        ),
    ];
    writeln!(out)?;
    let rows: Vec<Vec<String>> = counters
        .iter()
        .map(|(name, start, total)| vec![name.to_string(), start.to_string(), total.to_string()])
        .collect();
    render::table(
        out,
        &["COUNTER", "SINCE START", "SINCE STORE CREATED"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::admin::Counts;

    #[test]
    fn both_columns_are_shown() {
        let s = Stats {
            uptime: 3725,
            connections: 2,
            peak_connections: 7,
            online: 2,
            locked_accounts: 1,
            logins: 230,
            failed_logins: 12,
            messages_delivered: 5012,
            messages_stored: 80,
            messages_dropped: 7,
            slow_consumers_dropped: 1,
            since_start: Counts {
                logins: 14,
                failed_logins: 3,
                messages_delivered: 112,
                messages_stored: 9,
                messages_dropped: 2,
                slow_consumers_dropped: 0,
            },
        };
        let mut out = Vec::new();
        print_stats(&mut out, &s).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\
uptime                  1h02m05s
connections             2 (peak 7 since start)
users online            2
locked accounts         1

COUNTER                 SINCE START  SINCE STORE CREATED
logins                  14           230
failed logins           3            12
messages delivered      112          5012
messages stored         9            80
messages dropped        2            7
slow consumers dropped  0            1
"
        );
    }
}
