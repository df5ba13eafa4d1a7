//! `message`: checks (not to self, a known user, the rate limit), then the hub routes it live,
//! to another node, or to the store; a node that cannot be reached means the store.

use proto::Response;

use super::{Answer, Ctx, Failure, Session};
use crate::clock::Clock;
use crate::hub::{RouteError, Routed};
use crate::seams::{Delivery, Store};
use crate::store::StoreOutcome;

pub(super) async fn run(
    s: &mut Session,
    cx: &Ctx<'_>,
    to: String,
    text: String,
) -> Result<Answer, Failure> {
    let shared = cx.shared;
    let from = match &s.phase {
        super::Phase::In { user, .. } => user.as_str(),
        _ => "",
    };
    // Any case reaches the account; from here on it is the name as registered.
    let Ok(to) = shared.accounts.resolve(to) else {
        return Err(Failure::InvalidUser);
    };
    if to == from {
        return Err(Failure::CannotMessageSelf);
    }
    let cfg = shared.config();
    let limits = &cfg.limits;
    if !s.rate.allow(
        shared.clock.coarse(),
        limits.message_rate,
        limits.message_burst,
    ) {
        shared.hub.count_refused();
        return Err(Failure::RateLimited);
    }
    let cap = limits.max_offline_per_user;
    // The message's time, live or stored: when the server accepted it (a message counts as
    // activity, so dispatch has read the clock for it already).
    let at = cx.at_ms.unwrap_or_else(|| shared.clock.now_ms());
    let outcome = match shared.hub.message(from, &to, &text, &shared.store, cap, at) {
        Ok(Routed::Live) => return Ok(Answer::Reply(Response::Sent { stored: false })),
        Ok(Routed::Offline(job)) => job.await,
        Ok(Routed::Remote(answer)) => match answer.await {
            Ok(Delivery::Live) => return Ok(Answer::Reply(Response::Sent { stored: false })),
            Ok(Delivery::Stored(outcome)) => Ok(outcome),
            Err(e) => {
                log::warn!("{e}; storing the message for {to}");
                let msg_id = shared.hub.msg_id();
                Store::store_offline(&shared.store, &to, from, &text, cap, at, msg_id).await
            }
        },
        Err(RouteError::BlockedByRecipient) => return Err(Failure::BlockedByRecipient),
    };
    match outcome {
        Ok(outcome) => {
            shared.hub.count_offline(outcome);
            match outcome {
                StoreOutcome::Stored => Ok(Answer::Reply(Response::Sent { stored: true })),
                StoreOutcome::Full => Err(Failure::OfflineQueueFull { to }),
            }
        }
        Err(e) => {
            log::error!("cannot store a message for {to}: {e}");
            Err(Failure::NotStored)
        }
    }
}
