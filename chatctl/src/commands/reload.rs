//! `chatctl reload`: chatd re-reads config.toml and credentials.txt, as on SIGHUP. A refused
//! config comes back as `reload_failed` with chatd's reason (exit 1).

use proto::admin::AdminRequest;

use super::print_ok;
use crate::client::{Failure, Session};

/// Runs `reload`.
///
/// # Errors
/// [`Failure`] from the exchange (`reload_failed`, unreachable).
pub fn run(session: &Session) -> Result<(), Failure> {
    let response = session.call(&AdminRequest::Reload)?;
    print_ok(session, &response)
}
