//! `ack`: the client has shown every message delivered on this connection up to `msg_id`.
//! They leave the connection's in-flight list, and the stored ones are deleted from the store
//! (queued now; an answer is not awaited: at worst a message is delivered again, never lost).
//! An id that is not in flight changes nothing. Not activity: the client sends it by itself.

use proto::Response;

use super::{Answer, Ctx, Failure, Session};
use crate::seams::Store;

pub(super) async fn run(s: &mut Session, cx: &Ctx<'_>, msg_id: u64) -> Result<Answer, Failure> {
    let stored = s.acks.lock().ack(msg_id);
    if !stored.is_empty() {
        drop(cx.shared.store.delete_offline(s.user(), stored));
    }
    Ok(Answer::Reply(Response::Ok))
}
