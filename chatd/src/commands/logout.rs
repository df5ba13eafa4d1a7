//! `logout`: acknowledged, then the connection closes (the hub tells the others when it goes).

use proto::Response;

use super::{Answer, Ctx, Failure, Session};

pub(super) async fn run(_: &mut Session, _: &Ctx<'_>) -> Result<Answer, Failure> {
    Ok(Answer::Close(Response::Ok))
}
