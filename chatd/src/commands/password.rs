//! `password`: registration of a new name or the password check, the three-strikes lockout,
//! and going online (the welcome, then the offline backlog, then whatever arrived meanwhile).

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use proto::Response;

use super::{Answer, Ctx, Failure, Phase, Session};
use crate::auth::{Registered, Strike, Verdict};
use crate::clock::Clock;
use crate::hub::{LoginError, Outgoing};
use crate::seams::Store;
use crate::state::Shared;

pub(super) async fn run(
    s: &mut Session,
    cx: &Ctx<'_>,
    password: String,
) -> Result<Answer, Failure> {
    let Phase::Password { user, new } = &s.phase else {
        return Err(Failure::PasswordBeforeName);
    };
    let (user, new) = (user.clone(), *new);
    let shared = cx.shared;
    let ip = s.addr.ip();
    if new {
        if !proto::valid_password(&password) {
            return Err(Failure::InvalidPasswordFormat);
        }
        let limit = shared.config().limits.registrations_per_hour_for(ip);
        if !shared.registrations.take(ip, shared.clock.now_ms(), limit) {
            log::warn!("registration refused: too many new accounts addr={ip}");
            s.phase = Phase::Name;
            return Err(Failure::RegistrationLimited);
        }
        match shared.accounts.register(&user, &password).await {
            Ok(Registered::Created) => {
                log::info!("new account {user} addr={ip}");
                return enter(s, cx, user).await;
            }
            // Someone registered the name meanwhile: treat this as a login attempt.
            Ok(Registered::Exists) => {}
            Err(e) => {
                log::error!("cannot register {user}: {e}");
                return Err(Failure::NotRegistered);
            }
        }
    }
    if shared.lockout.is_locked(&user, shared.clock.now_ms()) {
        // Locked while this connection was at the password prompt.
        crate::auth::secret::equalize_timing(&password).await;
        log::warn!("login refused: {user} is locked addr={ip}");
        s.phase = Phase::Name;
        return Err(Failure::AccountLocked);
    }
    match shared.accounts.verify(&user, &password).await {
        Verdict::Ok => {
            if shared.lockout.has_state(&user) {
                shared.lockout.clear(&user, shared.clock.now_ms());
                if let Err(e) = shared.store.save_lock(&user, None).await {
                    log::error!("cannot clear the login failures of {user}: {e}");
                }
            }
            enter(s, cx, user).await
        }
        Verdict::Wrong | Verdict::Unknown => match strike(shared, &user, ip).await {
            Strike::Retry => Err(Failure::WrongPassword),
            Strike::Locked => {
                s.phase = Phase::Name;
                Err(Failure::LockedNow)
            }
        },
    }
}

/// Counts a wrong password for `user` from `ip` (a login, or the old password of `passwd`):
/// the failure counters, the lockout (persisted), and the log line an operator's fail2ban
/// acts on.
pub(super) async fn strike(shared: &Shared, user: &str, ip: IpAddr) -> Strike {
    shared
        .hub
        .counters
        .failed_logins
        .fetch_add(1, Ordering::Relaxed);
    let block = shared.config().block_duration;
    let (strike, state) = shared.lockout.fail(user, shared.clock.now_ms(), block);
    if let Err(e) = shared.store.save_lock(user, Some(state)).await {
        log::error!("cannot save the login failures of {user}: {e}");
    }
    match strike {
        Strike::Retry => log::info!("wrong password for {user} addr={ip}"),
        Strike::Locked => log::warn!(
            "{user} locked for {}s after failed logins addr={ip}",
            block.as_secs()
        ),
    }
    strike
}

/// The password was right (or the account was just created): go online.
async fn enter(s: &mut Session, cx: &Ctx<'_>, user: String) -> Result<Answer, Failure> {
    let shared = cx.shared;
    let load = match shared.hub.begin_login(s.id, &user, &shared.store) {
        Ok(load) => load,
        Err(error) => {
            s.phase = Phase::Name;
            return Err(match error {
                LoginError::AlreadyLoggedIn => Failure::AlreadyLoggedIn { user },
                LoginError::ConnectionGone => Failure::LoginInterrupted,
            });
        }
    };
    s.phase = Phase::In {
        user: user.clone(),
        session: None,
    };
    s.last_valid = shared.clock.now();
    let session = shared.store.record_login(&user, shared.clock.now_ms());
    let backlog = match load.await {
        Ok(b) => Some(b),
        Err(e) => {
            log::error!("cannot read the offline messages of {user}: {e}");
            None
        }
    };
    let session = match session.await {
        Ok(row) => Some(row),
        Err(e) => {
            log::error!("cannot record the login of {user}: {e}");
            None
        }
    };
    let welcome = Outgoing::Reply {
        id: cx.reply_to,
        response: Box::new(Response::Welcome {
            user: user.clone(),
            offline: backlog.map_or(0, |b| b.count),
        }),
    };
    shared
        .hub
        .finish_login(s.id, welcome, backlog, &shared.store);
    log::info!("{user} logged in addr={}", s.addr.ip());
    s.phase = Phase::In { user, session };
    Ok(Answer::Queued)
}
