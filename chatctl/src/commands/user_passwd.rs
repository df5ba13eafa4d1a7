//! `chatctl user passwd NAME`: sets an account's password; it is read as
//! [`super::new_password`] says.

use proto::admin::AdminRequest;

use super::{new_password, print_ok};
use crate::client::{Failure, Session};

/// Runs `user passwd`.
///
/// # Errors
/// [`Failure`] from reading the password or the exchange (`invalid_user`,
/// `invalid_password`, unreachable).
pub fn run(session: &Session, user: String) -> Result<(), Failure> {
    let password = new_password(&format!("New password for {user}: "))?;
    let response = session.call(&AdminRequest::UserPasswd { user, password })?;
    print_ok(session, &response)
}
