//! `whoelse` and `whoelsesince`: the hub's views, for the requester.

use proto::Response;

use super::{Answer, Ctx, Failure, Session};

pub(super) async fn whoelse(s: &mut Session, cx: &Ctx<'_>) -> Result<Answer, Failure> {
    let users = cx.shared.hub.whoelse(s.user());
    Ok(Answer::Reply(Response::Users { users }))
}

pub(super) async fn since(s: &mut Session, cx: &Ctx<'_>, seconds: u64) -> Result<Answer, Failure> {
    let users = cx.shared.hub.whoelsesince(s.user(), seconds);
    Ok(Answer::Reply(Response::Users { users }))
}
