//! The three seams between chatd's logic and where its state lives (`design/cluster.md`,
//! section 3). Every cross-user decision goes through one of them:
//!
//! | trait | answers | one node (today) | cluster (later) |
//! |---|---|---|---|
//! | [`Store`] | all durable state; an answer means committed | [`SqliteStore`](crate::store::SqliteStore) | a PostgreSQL store |
//! | [`Directory`] | where a user is: [`Location`] | the hub's online map | online map + a cache fed by bus presence |
//! | [`Bus`] | node-to-node delivery | [`LocalBus`]: there is no other node | a Redis pub/sub task |
//!
//! Implementations are chosen once at start and called statically (no per-message virtual
//! call); futures are returned rather than awaited, so a job that must be ordered with a routing
//! decision is queued under the hub's lock and awaited after it is released. This module defines
//! the contracts only.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

/// Identifies one connection for its lifetime (on its node).
pub type ConnId = u64;

/// Everything durable. Each method queues its job when called, not when the future is first
/// polled, and the future resolves once the job is committed.
pub trait Store: Send + Sync {
    /// A job's answer: resolves once the job is committed.
    type Job<T: Send + 'static>: Future<Output = Result<T, StoreError>> + Send + 'static;

    /// Stores message `msg_id` for an offline recipient unless they already have `cap`
    /// waiting. `sent_ms` is when the server accepted it (shown to the recipient as its time).
    /// Idempotent: a message already stored under `msg_id` is not stored twice.
    fn store_offline(
        &self,
        recipient: &str,
        sender: &str,
        text: &str,
        cap: u64,
        sent_ms: i64,
        msg_id: u64,
    ) -> Self::Job<StoreOutcome>;
    /// How many messages wait for `user`, read after every job queued before; answers even
    /// when the store cannot write.
    fn backlog(&self, user: &str) -> Self::Job<Backlog>;
    /// The next chunk of `user`'s backlog: the messages after row `after` up to row `upto`,
    /// oldest first, about `max_bytes` of text (at least one).
    fn backlog_chunk(
        &self,
        user: &str,
        after: i64,
        upto: i64,
        max_bytes: usize,
    ) -> Self::Job<Vec<OfflineMessage>>;
    /// Removes the stored messages with these ids that the recipient's client acknowledged.
    fn delete_offline(&self, recipient: &str, msg_ids: Vec<u64>) -> Self::Job<()>;
    /// Records that `blocker` blocks (`on`) or no longer blocks `blocked`.
    fn set_block(&self, blocker: &str, blocked: &str, on: bool) -> Self::Job<()>;
    /// Records a login at `at_ms`; returns the session for [`Store::record_logout`].
    fn record_login(&self, user: &str, at_ms: i64) -> Self::Job<i64>;
    /// Records the end of a login session.
    fn record_logout(&self, session: i64, at_ms: i64) -> Self::Job<()>;
    /// Saves a user's login-failure state (`None` clears it).
    fn save_lock(&self, user: &str, state: Option<LockState>) -> Self::Job<()>;
    /// Removes everything kept about account `user` (deleted): the messages stored for it,
    /// its block lists in both directions, its login history and its lock. Messages it sent
    /// that wait for others stay theirs.
    fn purge_user(&self, user: &str) -> Self::Job<()>;
    /// Each user's latest login time (ms), from the login history.
    fn last_logins(&self) -> Self::Job<HashMap<String, i64>>;
    /// Notes that the server is alive and saves the cumulative counters (absolute values).
    fn heartbeat(&self, counters: Vec<(&'static str, u64)>) -> Self::Job<()>;
    /// Finishes queued jobs and closes; later calls fail with [`StoreError::Closed`].
    fn close(&self);
}

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
    /// Its row: the order of the backlog.
    pub id: i64,
    /// Its id on the wire, for the acknowledgement.
    pub msg_id: u64,
    /// Sender.
    pub from: String,
    /// Text.
    pub text: String,
    /// When the server accepted it (ms since the Unix epoch).
    pub sent_ms: i64,
}

/// A user's waiting messages at login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// How many.
    pub count: u64,
    /// The newest one's row (0 if none): the backlog is what is stored up to there.
    pub last: i64,
}

/// A persisted login lock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LockState {
    /// Consecutive wrong passwords.
    pub failures: u32,
    /// Locked until this time (ms since epoch); 0 if not locked.
    pub locked_until: i64,
}

/// Whether an offline message was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Committed.
    Stored,
    /// The recipient's queue is at its cap; nothing stored.
    Full,
}

/// A chatd node's name (`[cluster] node_id`).
pub type NodeId = Arc<str>;

/// Where a user is logged in.
// Only a cluster (design/cluster.md) builds this; one node never does.
#[allow(dead_code)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// On this node, on this connection.
    Local(ConnId),
    /// On another node, in this session.
    Remote {
        /// The node.
        node: NodeId,
        /// The session there.
        session: i64,
    },
    /// Nowhere.
    Offline,
}

/// Who is logged in where.
pub trait Directory {
    /// Where `user` is logged in.
    fn locate(&self, user: &str) -> Location;
}

/// What goes between nodes. Borrowed, so that announcing on a single node (where nothing is
/// sent) costs nothing.
// Read by a cluster's bus only; on one node nothing is sent.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy)]
pub enum BusMessage<'a> {
    /// A direct message for a session on the receiving node.
    Direct {
        /// Sender.
        from: &'a str,
        /// Recipient.
        to: &'a str,
        /// The recipient's session.
        session: i64,
        /// Text.
        text: &'a str,
    },
    /// A broadcast for every node's users.
    Broadcast {
        /// Sender.
        from: &'a str,
        /// Text.
        text: &'a str,
    },
    /// A user logged in or out.
    Presence {
        /// Who.
        user: &'a str,
        /// In or out.
        online: bool,
    },
    /// A block list changed.
    Block {
        /// Who blocks.
        blocker: &'a str,
        /// Whom.
        blocked: &'a str,
        /// Blocked or unblocked.
        on: bool,
    },
}

/// The receiving node's answer to a [`BusMessage::Direct`].
// Only a cluster (design/cluster.md) builds this; one node never does.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Queued for the recipient's connection.
    Live,
    /// The recipient had gone; the receiving node ran the offline path.
    Stored(StoreOutcome),
}

/// A bus request that got no answer.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Nobody listens for that node.
    #[error("node {0} is not reachable")]
    Unreachable(NodeId),
}

/// Node-to-node delivery.
pub trait Bus: Send + Sync {
    /// The answer to a request.
    type Answer: Future<Output = Result<Delivery, BusError>> + Send + 'static;

    /// Sends `msg` to `node` and waits for its answer. On an error the caller runs the offline
    /// path itself.
    fn request(&self, node: &NodeId, msg: BusMessage<'_>) -> Self::Answer;
    /// Tells every other node.
    fn publish_all(&self, msg: BusMessage<'_>);
}

/// The bus of a single node: there is nobody to tell.
#[derive(Debug, Default)]
pub struct LocalBus;

impl Bus for LocalBus {
    type Answer = std::future::Ready<Result<Delivery, BusError>>;

    fn request(&self, node: &NodeId, _msg: BusMessage<'_>) -> Self::Answer {
        std::future::ready(Err(BusError::Unreachable(Arc::clone(node))))
    }

    #[inline]
    fn publish_all(&self, _msg: BusMessage<'_>) {}
}
