//! Durable state: offline messages, block lists, login history, login locks and the cumulative
//! server counters. The types here are what every store speaks; [`SqliteStore`] keeps them in
//! one SQLite database (`chat.db`, WAL mode, `synchronous=FULL`) under the data directory, and
//! implements the [`Store`](crate::seams::Store) seam. `docs/STORAGE.md` describes the schema,
//! the guarantees and the figures.
//!
//! This module does not know about users being online or about the wire protocol.

use std::collections::HashMap;

mod reader;
mod schema;
mod sqlite;
#[cfg(test)]
mod tests;

pub use crate::seams::{Backlog, LockState, OfflineMessage, Store, StoreError, StoreOutcome};
pub use schema::SCHEMA_VERSION;
pub use sqlite::{SqliteStore, StoreJob};

/// What the server needs in memory at start.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// `(blocker, blocked)` pairs.
    pub blocks: Vec<(String, String)>,
    /// Each user's latest logout time (ms).
    pub last_seen: HashMap<String, i64>,
    /// Lock state per user.
    pub locks: HashMap<String, LockState>,
    /// Cumulative server counters by name, as last saved by [`Store::heartbeat`].
    pub counters: HashMap<String, u64>,
    /// The highest `msg_id` of a stored message (0 if none): new ids start above it.
    pub max_msg_id: u64,
}
