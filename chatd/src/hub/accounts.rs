//! An account leaving the hub (deleted by the operator, or gone from the credentials file at a
//! reload): its session is told why and closed, the others see it log out, its private
//! sessions end, and what the hub keeps about it (block lists in both directions, its last
//! logout for `whoelsesince`) is forgotten. The store's copy is purged by a job queued under
//! the same lock, so it is ordered after any offline message already routed to the account.

use proto::Event;

use super::{event_line, Hub, Outgoing};
use crate::seams::Store;

impl Hub {
    /// Removes account `user` (its registered name) from the hub, as above, telling its
    /// session `reason`. Returns whether it was online, and the store's purge job.
    pub(crate) fn remove_account<S: Store>(
        &self,
        user: &str,
        reason: &str,
        store: &S,
    ) -> (bool, S::Job<()>) {
        let mut st = self.lock();
        let conn = st.presence.online.get(user).copied();
        if let Some(id) = conn {
            let line = event_line(&Event::Kicked {
                reason: Some(reason.to_string()),
            });
            if let Some(c) = st.conns.get_mut(&id) {
                // Its connection's later end logs nobody out: that is done here, now.
                c.user = None;
                // Frames held during a login are for an account that no longer exists.
                c.held = None;
                let _ = c.out.push(&self.counters, Outgoing::Frame(line));
                let _ = c.out.push(&self.counters, Outgoing::Close);
            }
            self.logout(&mut st, id, user);
            self.end_all_private(&mut st, user);
        }
        st.presence.last_seen.remove(user);
        st.blocks.forget(user);
        let purge = store.purge_user(user);
        drop(st);
        (conn.is_some(), purge)
    }
}
