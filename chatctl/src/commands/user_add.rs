//! `chatctl user add NAME`: creates an account; the password is read as
//! [`super::new_password`] says.

use proto::admin::AdminRequest;

use super::{new_password, print_ok};
use crate::client::{Failure, Session};

/// Runs `user add`.
///
/// # Errors
/// [`Failure`] from reading the password or the exchange (`user_exists`,
/// `invalid_username`, `invalid_password`, unreachable).
pub fn run(session: &Session, user: String) -> Result<(), Failure> {
    let password = new_password(&format!("Password for {user}: "))?;
    let response = session.call(&AdminRequest::UserAdd { user, password })?;
    print_ok(session, &response)
}
