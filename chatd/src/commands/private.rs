//! The private-messaging requests: `private_listen` (where this client accepts peers: the
//! host it advertises must be a host name or an IP address, and the fingerprint of its
//! listener's certificate is given when it serves TLS),
//! `startprivate` (ask the target, with an expiry), the target's answer, and the end of a
//! session. The hub brokers; the messages themselves go between the clients.

use proto::Response;

use super::{Answer, Ctx, Failure, Session};
use crate::seams::ConnId;

pub(super) async fn listen(
    s: &mut Session,
    cx: &Ctx<'_>,
    port: u16,
    host: Option<String>,
    fingerprint: Option<String>,
) -> Result<Answer, Failure> {
    if host.as_deref().is_some_and(|h| !proto::valid_host(h)) {
        return Err(Failure::InvalidHost);
    }
    let id: ConnId = s.id;
    if let Some(fp) = &fingerprint {
        if !proto::tls::is_fingerprint(fp) {
            return Err(Failure::BadFingerprint);
        }
    }
    let fingerprint = fingerprint.map(|fp| fp.to_ascii_lowercase());
    cx.shared
        .hub
        .set_private_listen(id, host, port, fingerprint);
    Ok(Answer::Reply(Response::Ok))
}

pub(super) async fn start(s: &mut Session, cx: &Ctx<'_>, user: String) -> Result<Answer, Failure> {
    let shared = cx.shared;
    let me = s.user();
    let Ok(user) = shared.accounts.resolve(user) else {
        return Err(Failure::InvalidUser);
    };
    if user == me {
        return Err(Failure::CannotPrivateSelf);
    }
    let serial = shared
        .hub
        .start_private(me, &user)
        .map_err(|error| Failure::Private {
            error,
            user: user.clone(),
        })?;
    let wait = shared.config().private_request_timeout;
    let (me, owner) = (me.to_string(), std::sync::Arc::clone(shared));
    // Detached: the timer holds only an Arc and ends by itself after `wait`; expiring an
    // answered request is a no-op.
    shared
        .ex
        .spawn(async move {
            owner.clock.sleep(wait).await;
            owner.hub.expire_private(&me, &user, serial);
        })
        .detach();
    Ok(Answer::Reply(Response::Ok))
}

pub(super) async fn answer(
    s: &mut Session,
    cx: &Ctx<'_>,
    user: String,
    accept: bool,
) -> Result<Answer, Failure> {
    let user = cx
        .shared
        .accounts
        .resolve(user)
        .unwrap_or_else(|typed| typed);
    match cx.shared.hub.answer_private(s.user(), &user, accept) {
        Ok(()) => Ok(Answer::Reply(Response::Ok)),
        Err(error) => Err(Failure::Private { error, user }),
    }
}

pub(super) async fn ended(s: &mut Session, cx: &Ctx<'_>, user: String) -> Result<Answer, Failure> {
    let user = cx
        .shared
        .accounts
        .resolve(user)
        .unwrap_or_else(|typed| typed);
    cx.shared.hub.end_private(s.user(), &user);
    Ok(Answer::Reply(Response::Ok))
}
