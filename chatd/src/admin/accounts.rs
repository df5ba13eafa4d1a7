//! The admin requests that manage accounts: `users` (every account: online, locked, last
//! login), `user_add`, `user_del` and `user_passwd`. The accounts file, the hub and the store
//! do the work; this module checks the arguments and words the answers. Passwords arrive in
//! the request and never reach a log.

use proto::admin::{Account, AdminErrorCode, AdminResponse};

use crate::auth::Registered;
use crate::clock::Clock;
use crate::seams::Store;
use crate::state::{Shared, ACCOUNT_REMOVED};

/// `users`: every account, sorted by name.
pub(super) async fn users(shared: &Shared) -> AdminResponse {
    let last = match shared.store.last_logins().await {
        Ok(last) => last,
        Err(e) => {
            return AdminResponse::error(
                AdminErrorCode::Internal,
                format!("cannot read the login history: {e}"),
            )
        }
    };
    let now = shared.clock.now_ms();
    let users = shared
        .accounts
        .names()
        .into_iter()
        .map(|user| Account {
            online: shared.hub.is_online(&user),
            locked: shared.lockout.is_locked(&user, now),
            last_login: last
                .get(&user)
                .and_then(|&ms| u64::try_from(ms / 1000).ok()),
            user,
        })
        .collect();
    AdminResponse::Users { users }
}

/// `user_add`: a new account, as a registration would make it (but not subject to
/// `registration` or the per-address limit).
pub(super) async fn add(shared: &Shared, user: &str, password: &str) -> AdminResponse {
    if !proto::valid_username(user) {
        return AdminResponse::error(
            AdminErrorCode::InvalidUsername,
            format!("{user:?} is not a valid user name: use 1-32 letters, digits, '_', '-' or '.'"),
        );
    }
    if let Some(bad) = bad_password(password) {
        return bad;
    }
    match shared.accounts.register(user, password).await {
        Ok(Registered::Created) => {
            log::info!("admin: created account {user}");
            AdminResponse::ok(format!("account {user} created"))
        }
        Ok(Registered::Exists) => {
            let name = shared
                .accounts
                .canonical(user)
                .unwrap_or_else(|| user.to_string());
            AdminResponse::error(
                AdminErrorCode::UserExists,
                format!("an account named {name} exists (names are unique regardless of case)"),
            )
        }
        Err(e) => {
            log::error!("admin: cannot create account {user}: {e}");
            AdminResponse::error(
                AdminErrorCode::Internal,
                format!("cannot save the account: {e}"),
            )
        }
    }
}

/// `user_del`: the account leaves the file (rewritten atomically), its session is told and
/// closed, and everything kept about it goes.
pub(super) async fn del(shared: &Shared, user: &str) -> AdminResponse {
    let name = match shared.accounts.delete(user).await {
        Ok(Some(name)) => name,
        Ok(None) => return no_account(user),
        Err(e) => {
            log::error!("admin: cannot delete account {user}: {e}");
            return AdminResponse::error(
                AdminErrorCode::Internal,
                format!("cannot rewrite the credentials file; the account stays: {e}"),
            );
        }
    };
    let (online, purge) = shared.forget_account(&name, ACCOUNT_REMOVED);
    let online = if online {
        " (it was online: disconnected)"
    } else {
        ""
    };
    if let Err(e) = purge.await {
        log::error!("admin: deleted account {name}, but its stored data stays: {e}");
        return AdminResponse::error(
            AdminErrorCode::Internal,
            format!(
                "account {name} deleted{online}, but the store refused to forget its data: {e}"
            ),
        );
    }
    log::info!("admin: deleted account {name}{online}");
    AdminResponse::ok(format!("account {name} deleted{online}"))
}

/// `user_passwd`: a new password (the file rewritten atomically). Sessions stay logged in,
/// and a lock stays (`unlock` clears it).
pub(super) async fn passwd(shared: &Shared, user: &str, password: &str) -> AdminResponse {
    if let Some(bad) = bad_password(password) {
        return bad;
    }
    match shared.accounts.set_password(user, password).await {
        Ok(Some(name)) => {
            log::info!("admin: changed the password of {name}");
            AdminResponse::ok(format!("password of {name} changed"))
        }
        Ok(None) => no_account(user),
        Err(e) => {
            log::error!("admin: cannot change the password of {user}: {e}");
            AdminResponse::error(
                AdminErrorCode::Internal,
                format!("cannot rewrite the credentials file; the old password stays: {e}"),
            )
        }
    }
}

fn bad_password(password: &str) -> Option<AdminResponse> {
    (!proto::valid_password(password)).then(|| {
        AdminResponse::error(
            AdminErrorCode::InvalidPassword,
            "invalid password: use 1-1024 printable characters without spaces",
        )
    })
}

fn no_account(user: &str) -> AdminResponse {
    AdminResponse::error(
        AdminErrorCode::InvalidUser,
        format!("no account named {user:?}"),
    )
}
