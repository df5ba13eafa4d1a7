//! `chatctl kick USER [--reason TEXT]`: disconnects a user's session.

use proto::admin::AdminRequest;

use super::print_ok;
use crate::client::{Failure, Session};

/// Runs `kick`.
///
/// # Errors
/// [`Failure`] from the exchange (`not_online`, `invalid_user`, unreachable).
pub fn run(session: &Session, user: String, reason: Option<String>) -> Result<(), Failure> {
    let response = session.call(&AdminRequest::Kick { user, reason })?;
    print_ok(session, &response)
}
