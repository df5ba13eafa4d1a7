//! `change_password` (the client's `passwd`): the old password is checked like a login's (a
//! wrong one counts toward the three-strikes lockout, and the third locks the account for new
//! logins; this session stays), the new one must be a valid password, and the credentials
//! file is rewritten atomically with its hash before the answer.

use proto::Response;

use super::password::strike;
use super::{Answer, Ctx, Failure, Session};
use crate::auth::{Strike, Verdict};
use crate::clock::Clock;
use crate::seams::Store;

pub(super) async fn run(
    s: &mut Session,
    cx: &Ctx<'_>,
    old: String,
    new: String,
) -> Result<Answer, Failure> {
    let shared = cx.shared;
    let user = s.user().to_string();
    let ip = s.addr.ip();
    if !proto::valid_password(&new) {
        return Err(Failure::InvalidPasswordFormat);
    }
    if shared.lockout.is_locked(&user, shared.clock.now_ms()) {
        crate::auth::secret::equalize_timing(&old).await;
        log::warn!("password change refused: {user} is locked addr={ip}");
        return Err(Failure::AccountLocked);
    }
    match shared.accounts.verify(&user, &old).await {
        Verdict::Ok => {}
        Verdict::Unknown => return Err(Failure::InvalidUser),
        Verdict::Wrong => {
            return Err(match strike(shared, &user, ip).await {
                Strike::Retry => Failure::WrongOldPassword,
                Strike::Locked => Failure::LockedNow,
            })
        }
    }
    match shared.accounts.set_password(&user, &new).await {
        Ok(Some(_)) => {}
        // Deleted meanwhile.
        Ok(None) => return Err(Failure::InvalidUser),
        Err(e) => {
            log::error!("cannot change the password of {user}: {e}");
            return Err(Failure::NotSaved);
        }
    }
    // The right old password is a successful login as far as the failure count goes.
    if shared.lockout.has_state(&user) {
        shared.lockout.clear(&user, shared.clock.now_ms());
        if let Err(e) = shared.store.save_lock(&user, None).await {
            log::error!("cannot clear the login failures of {user}: {e}");
        }
    }
    log::info!("{user} changed their password addr={ip}");
    Ok(Answer::Reply(Response::Ok))
}
