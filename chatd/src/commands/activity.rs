//! `activity`: the client tells the server its user is active (private messages, which the
//! server never sees, count for the inactivity timeout). The table does the work.

use proto::Response;

use super::{Answer, Ctx, Failure, Session};

pub(super) async fn run(_: &mut Session, _: &Ctx<'_>) -> Result<Answer, Failure> {
    Ok(Answer::Reply(Response::Ok))
}
