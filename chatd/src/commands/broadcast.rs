//! `broadcast`: rate-limited like `message`, then to every online user the hub lets it reach.

use proto::Response;

use super::{Answer, Ctx, Failure, Session};
use crate::clock::Clock;

pub(super) async fn run(s: &mut Session, cx: &Ctx<'_>, text: String) -> Result<Answer, Failure> {
    let shared = cx.shared;
    let cfg = shared.config();
    let limits = &cfg.limits;
    if !s.rate.allow(
        shared.clock.coarse(),
        limits.message_rate,
        limits.message_burst,
    ) {
        return Err(Failure::RateLimited);
    }
    let (delivered, skipped) = shared.hub.broadcast(s.user(), &text);
    Ok(Answer::Reply(Response::Broadcasted { delivered, skipped }))
}
