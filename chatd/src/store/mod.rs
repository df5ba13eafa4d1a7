//! Durable state: offline messages, block lists, login history, login locks and the cumulative
//! server counters. The types here are what every store speaks; [`SqliteStore`] keeps them in
//! one SQLite database (`chat.db`, WAL mode, `synchronous=FULL`) under the data directory, and
//! implements the [`Store`](crate::seams::Store) seam. `docs/STORAGE.md` describes the schema,
//! the guarantees and the figures.
//!
//! This module does not know about users being online or about the wire protocol.

use std::collections::HashMap;
use std::path::PathBuf;

mod schema;
mod sqlite;
#[cfg(test)]
mod tests;

pub use schema::SCHEMA_VERSION;
pub use sqlite::{SqliteStore, StoreJob};

/// The SQLite store under the name `chatd/examples/bench_offline.rs` uses.
pub type Store = SqliteStore;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or migrated.
    #[error("cannot open the store {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's reason.
        source: rusqlite::Error,
    },
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is damaged, or is not an SQLite database at all.
    #[error(
        "the store {path} is damaged or is not a chatd store ({detail}); chatd has not modified it. \
         Restore it from a backup, or move it away to start with an empty store"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite found.
        detail: String,
    },
    /// An SQLite database that some other program made (version 0, but it has tables).
    #[error(
        "{path} is an SQLite database but not a chatd store (it has tables and no chatd schema \
         version); chatd has not modified it. Point data_dir elsewhere or move the file away"
    )]
    Foreign {
        /// The database file.
        path: PathBuf,
    },
    /// Another chatd has this data directory open.
    #[error("the data directory {path} is in use by another running chatd")]
    InUse {
        /// The data directory.
        path: PathBuf,
    },
    /// The database was written by a newer chatd.
    #[error(
        "the store {path} has schema version {found}, newer than this chatd supports ({supported}); \
         refusing to touch it"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// Ours.
        supported: i64,
    },
    /// A statement failed.
    #[error("store error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The store thread has stopped.
    #[error("the store is closed")]
    Closed,
}

/// A stored offline message.
#[derive(Debug, Clone, PartialEq)]
pub struct OfflineMessage {
    /// Row id, for deletion once delivered.
    pub id: i64,
    /// Sender.
    pub from: String,
    /// Text.
    pub text: String,
}

/// A persisted login lock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LockState {
    /// Consecutive wrong passwords.
    pub failures: u32,
    /// Locked until this time (ms since epoch); 0 if not locked.
    pub locked_until: i64,
}

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
}

/// Whether an offline message was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Committed.
    Stored,
    /// The recipient's queue is at its cap; nothing stored.
    Full,
}
