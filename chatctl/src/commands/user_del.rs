//! `chatctl user del NAME`: deletes an account and everything kept about it (its session is
//! disconnected; stored messages, block lists and login history go).

use proto::admin::AdminRequest;

use super::print_ok;
use crate::client::{Failure, Session};

/// Runs `user del`.
///
/// # Errors
/// [`Failure`] from the exchange (`invalid_user`, unreachable).
pub fn run(session: &Session, user: String) -> Result<(), Failure> {
    let response = session.call(&AdminRequest::UserDel { user })?;
    print_ok(session, &response)
}
