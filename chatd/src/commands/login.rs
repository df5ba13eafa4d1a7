//! `login`: the user-name step. Answers at once whether a password or a new password comes
//! next, or why not (bad name, locked, already logged in, registration closed).

use proto::Response;

use super::{Answer, Ctx, Failure, Phase, Session};
use crate::clock::Clock;

pub(super) async fn run(s: &mut Session, cx: &Ctx<'_>, user: String) -> Result<Answer, Failure> {
    let shared = cx.shared;
    s.phase = Phase::Name;
    if !proto::valid_username(&user) {
        return Err(Failure::InvalidUsername);
    }
    if shared.lockout.is_locked(&user, shared.clock.now_ms()) {
        return Err(Failure::AccountLocked);
    }
    if shared.hub.is_online(&user) {
        return Err(Failure::AlreadyLoggedIn { user });
    }
    if shared.accounts.exists(&user) {
        s.phase = Phase::Password { user, new: false };
        Ok(Answer::Reply(Response::PasswordRequired))
    } else if shared.config().registration {
        s.phase = Phase::Password { user, new: true };
        Ok(Answer::Reply(Response::NewUser))
    } else {
        Err(Failure::RegistrationDisabled { user })
    }
}
