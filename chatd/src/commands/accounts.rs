//! `accounts`: every account name (as registered, sorted regardless of case), so a client can
//! complete user names (offline users included: they are who offline messages are for). Not
//! activity: a client refreshes the list on its own, and that must not keep an idle user
//! logged in.

use proto::Response;

use super::{Answer, Ctx, Failure, Session};

pub(super) async fn run(_s: &mut Session, cx: &Ctx<'_>) -> Result<Answer, Failure> {
    let users = cx.shared.accounts.names();
    Ok(Answer::Reply(Response::Users { users }))
}
