//! `block` and `unblock`: committed to the store first, then applied in the hub.

use proto::Response;

use super::{Answer, Ctx, Failure, Session};
use crate::seams::Store;

pub(super) async fn block(s: &mut Session, cx: &Ctx<'_>, user: String) -> Result<Answer, Failure> {
    set(s, cx, user, true).await
}

pub(super) async fn unblock(
    s: &mut Session,
    cx: &Ctx<'_>,
    user: String,
) -> Result<Answer, Failure> {
    set(s, cx, user, false).await
}

async fn set(s: &Session, cx: &Ctx<'_>, target: String, on: bool) -> Result<Answer, Failure> {
    let shared = cx.shared;
    let me = s.user();
    // Any case names the account; the lists keep the name as registered.
    let Ok(target) = shared.accounts.resolve(target) else {
        return Err(Failure::InvalidUser);
    };
    if target == me {
        return Err(if on {
            Failure::CannotBlockSelf
        } else {
            Failure::CannotUnblockSelf
        });
    }
    if !shared.accounts.exists(me) {
        // This account was deleted while its session was closing: nothing may be kept for it.
        return Err(Failure::NotSaved);
    }
    if !on && !shared.hub.blocks(me, &target) {
        return Err(Failure::NotBlocked { user: target });
    }
    if let Err(e) = shared.store.set_block(me, &target, on).await {
        log::error!("cannot save a block-list change of {me}: {e}");
        return Err(Failure::NotSaved);
    }
    shared.hub.set_block(me, &target, on);
    Ok(Answer::Reply(Response::Ok))
}
