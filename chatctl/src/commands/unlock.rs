//! `chatctl unlock USER`: clears a login lock before `block_duration` runs out.

use proto::admin::AdminRequest;

use super::print_ok;
use crate::client::{Failure, Session};

/// Runs `unlock`.
///
/// # Errors
/// [`Failure`] from the exchange (`not_locked`, `invalid_user`, unreachable).
pub fn run(session: &Session, user: String) -> Result<(), Failure> {
    let response = session.call(&AdminRequest::Unlock { user })?;
    print_ok(session, &response)
}
