//! `login`: the user-name step. Answers at once whether a password or a new password comes
//! next, or why not (bad name, locked, already logged in, registration closed or over this
//! address's limit). A name is taken in any case and continues as registered.

use proto::Response;

use super::{Answer, Ctx, Failure, Phase, Session};
use crate::clock::Clock;

pub(super) async fn run(s: &mut Session, cx: &Ctx<'_>, user: String) -> Result<Answer, Failure> {
    let shared = cx.shared;
    s.phase = Phase::Name;
    if !proto::valid_username(&user) {
        return Err(Failure::InvalidUsername);
    }
    let (user, known) = match shared.accounts.resolve(user) {
        Ok(name) => (name, true),
        Err(typed) => (typed, false),
    };
    if shared.lockout.is_locked(&user, shared.clock.now_ms()) {
        log::warn!("login refused: {user} is locked addr={}", s.addr.ip());
        return Err(Failure::AccountLocked);
    }
    if shared.hub.is_online(&user) {
        return Err(Failure::AlreadyLoggedIn { user });
    }
    let cfg = shared.config();
    if known {
        s.phase = Phase::Password { user, new: false };
        Ok(Answer::Reply(Response::PasswordRequired))
    } else if !cfg.registration {
        Err(Failure::RegistrationDisabled { user })
    } else if !shared.registrations.allows(
        s.addr.ip(),
        shared.clock.now_ms(),
        cfg.limits.registrations_per_hour_for(s.addr.ip()),
    ) {
        log::warn!(
            "registration refused: too many new accounts addr={}",
            s.addr.ip()
        );
        Err(Failure::RegistrationLimited)
    } else {
        s.phase = Phase::Password { user, new: true };
        Ok(Answer::Reply(Response::NewUser))
    }
}
