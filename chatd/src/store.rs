//! Durable state: offline messages, block lists, login history, login locks and the cumulative
//! server counters, in one SQLite database (`chat.db`, WAL mode, `synchronous=FULL`) under the
//! data directory. `docs/STORAGE.md` describes the schema, the guarantees and the figures.
//!
//! The connection is owned by one dedicated thread, so no store I/O ever runs on the executor's
//! threads. Callers send jobs over a channel; the thread runs every job waiting at that moment in
//! one transaction and answers each job only after that transaction committed (group commit),
//! so an answer means "durable" and many concurrent writers share one fsync.
//!
//! Opening is careful: a file that is not a chatd store, is damaged, or was written by a newer
//! chatd is refused before anything writes to it; older schemas are migrated in place.
//!
//! This module does not know about users being online or about the wire protocol.

use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

/// Current schema version, kept in SQLite's `user_version`.
pub const SCHEMA_VERSION: i64 = 2;

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "chat.db";

/// The lock file's name inside the data directory.
const LOCK_FILE: &str = "chatd.lock";

/// Migrations: entry `i` brings a store from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the initial schema.
    "CREATE TABLE offline (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         recipient TEXT NOT NULL,
         sender TEXT NOT NULL,
         text TEXT NOT NULL,
         sent_at INTEGER NOT NULL
     );
     CREATE INDEX offline_by_recipient ON offline (recipient, id);
     CREATE TABLE blocks (
         blocker TEXT NOT NULL,
         blocked TEXT NOT NULL,
         PRIMARY KEY (blocker, blocked)
     ) WITHOUT ROWID;
     CREATE TABLE sessions (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         user TEXT NOT NULL,
         login_at INTEGER NOT NULL,
         logout_at INTEGER
     );
     CREATE INDEX sessions_by_user ON sessions (user, logout_at);
     CREATE TABLE locks (
         user TEXT PRIMARY KEY,
         failures INTEGER NOT NULL,
         locked_until INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE meta (
         key TEXT PRIMARY KEY,
         value INTEGER NOT NULL
     ) WITHOUT ROWID;",
    // 1 -> 2: how many offline messages wait per recipient, so the retention cap is one lookup
    // instead of counting the queue on every store; kept by triggers and filled from the
    // messages already waiting. And the cumulative server counters for `chatctl stats`.
    "CREATE TABLE offline_counts (
         recipient TEXT PRIMARY KEY,
         waiting INTEGER NOT NULL
     ) WITHOUT ROWID;
     INSERT INTO offline_counts (recipient, waiting)
         SELECT recipient, COUNT(*) FROM offline GROUP BY recipient;
     CREATE TRIGGER offline_counted AFTER INSERT ON offline BEGIN
         INSERT INTO offline_counts (recipient, waiting) VALUES (NEW.recipient, 1)
             ON CONFLICT (recipient) DO UPDATE SET waiting = waiting + 1;
     END;
     CREATE TRIGGER offline_uncounted AFTER DELETE ON offline BEGIN
         UPDATE offline_counts SET waiting = waiting - 1 WHERE recipient = OLD.recipient;
         DELETE FROM offline_counts WHERE recipient = OLD.recipient AND waiting <= 0;
     END;
     CREATE TABLE counters (
         name TEXT PRIMARY KEY,
         value INTEGER NOT NULL
     ) WITHOUT ROWID;",
];

/// Closed login sessions older than this are pruned at start, except each user's latest
/// (which is all `whoelsesince` needs), so the login history cannot grow without bound.
const SESSION_RETENTION_MS: i64 = 30 * 24 * 3600 * 1000;

/// Most jobs one transaction takes, so one slow batch cannot grow without bound.
const MAX_BATCH: usize = 512;

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

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
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

type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Reply + Send>;

/// Handle to the store thread. Cheap to share behind an `Arc`.
pub struct Store {
    jobs: std::sync::Mutex<Option<mpsc::Sender<Job>>>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
    /// The data directory's lock, released by [`Store::close`].
    dir_lock: std::sync::Mutex<Option<File>>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store under `data_dir`, checks it, migrates it, closes
    /// login sessions left open by a crash at the last sign of life, and starts the store thread.
    ///
    /// Nothing is written to an existing file before it passed the checks: a damaged file, a
    /// foreign database or a newer schema is refused and left exactly as it was.
    ///
    /// # Errors
    /// [`StoreError`] when the directory or database cannot be opened, the file is damaged or
    /// not a chatd store, or the schema is newer than this program.
    pub fn open(data_dir: &Path) -> Result<(Store, Snapshot), StoreError> {
        create_data_dir(data_dir)?;
        // Absolute, so every message names the file unambiguously.
        let data_dir = &std::fs::canonicalize(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let dir_lock = lock_data_dir(data_dir)?;
        let path = data_dir.join(DB_FILE);
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(|e| classify(e, &path))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        check(&conn, &path)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        migrate(&mut conn, &path)?;
        let snapshot = load_snapshot(&conn).map_err(open_err)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("chatd-store".into())
            .spawn(move || store_thread(conn, rx))
            .map_err(|e| StoreError::DataDir {
                path: data_dir.to_path_buf(),
                source: e,
            })?;
        Ok((
            Store {
                jobs: std::sync::Mutex::new(Some(tx)),
                thread: std::sync::Mutex::new(Some(thread)),
                dir_lock: std::sync::Mutex::new(Some(dir_lock)),
                path,
            },
            snapshot,
        ))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues `f` to run on the store thread inside the next batch's transaction. The job is
    /// queued when this is called, not when the future is first polled, so jobs queued under
    /// one lock run in that order; the future resolves once the transaction has committed.
    fn call<R, F>(&self, f: F) -> impl Future<Output = Result<R, StoreError>>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    {
        let (tx, rx) = async_channel::bounded::<Result<R, StoreError>>(1);
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            Box::new(move |committed: Result<(), StoreError>| {
                let out = match (result, committed) {
                    (Ok(r), Ok(())) => Ok(r),
                    (Err(e), _) => Err(StoreError::Sqlite(e)),
                    (Ok(_), Err(e)) => Err(e),
                };
                // The caller may have gone away; nothing to do then.
                let _ = tx.try_send(out);
            })
        });
        let submitted = self.submit(job);
        async move {
            submitted?;
            rx.recv().await.map_err(|_| StoreError::Closed)?
        }
    }

    fn submit(&self, job: Job) -> Result<(), StoreError> {
        // Held only to clone or take the sender; never across an await.
        let guard = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(tx) => tx.send(job).map_err(|_| StoreError::Closed),
            None => Err(StoreError::Closed),
        }
    }

    /// Stores a message for an offline recipient unless they already have `cap` waiting.
    ///
    /// # Errors
    /// [`StoreError`] if it could not be committed.
    pub fn store_offline(
        &self,
        recipient: &str,
        sender: &str,
        text: &str,
        cap: u64,
    ) -> impl Future<Output = Result<StoreOutcome, StoreError>> {
        let (recipient, sender, text) = (recipient.to_owned(), sender.to_owned(), text.to_owned());
        self.call(move |c| {
            let waiting: i64 = c
                .prepare_cached("SELECT waiting FROM offline_counts WHERE recipient = ?1")?
                .query_row([&recipient], |r| r.get(0))
                .optional()?
                .unwrap_or(0);
            if u64::try_from(waiting).unwrap_or(0) >= cap {
                return Ok(StoreOutcome::Full);
            }
            c.prepare_cached(
                "INSERT INTO offline (recipient, sender, text, sent_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![recipient, sender, text, now_ms()])?;
            Ok(StoreOutcome::Stored)
        })
    }

    /// The offline messages waiting for `user`, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] on a read failure.
    pub fn offline_for(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Vec<OfflineMessage>, StoreError>> {
        let user = user.to_owned();
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, sender, text FROM offline WHERE recipient = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([&user], |r| {
                Ok(OfflineMessage {
                    id: r.get(0)?,
                    from: r.get(1)?,
                    text: r.get(2)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Removes delivered offline messages.
    ///
    /// # Errors
    /// [`StoreError`] if the deletion could not be committed (the messages may be shown again).
    pub fn delete_offline(&self, ids: Vec<i64>) -> impl Future<Output = Result<(), StoreError>> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached("DELETE FROM offline WHERE id = ?1")?;
            for id in ids {
                stmt.execute([id])?;
            }
            Ok(())
        })
    }

    /// Records that `blocker` blocks (`on`) or no longer blocks `blocked`.
    ///
    /// # Errors
    /// [`StoreError`] if it could not be committed.
    pub fn set_block(
        &self,
        blocker: &str,
        blocked: &str,
        on: bool,
    ) -> impl Future<Output = Result<(), StoreError>> {
        let (a, b) = (blocker.to_owned(), blocked.to_owned());
        self.call(move |c| {
            let sql = if on {
                "INSERT OR IGNORE INTO blocks (blocker, blocked) VALUES (?1, ?2)"
            } else {
                "DELETE FROM blocks WHERE blocker = ?1 AND blocked = ?2"
            };
            c.prepare_cached(sql)?.execute([a, b])?;
            Ok(())
        })
    }

    /// Records a login; returns the session row for [`Store::record_logout`].
    ///
    /// # Errors
    /// [`StoreError`] if it could not be committed.
    pub fn record_login(
        &self,
        user: &str,
        at_ms: i64,
    ) -> impl Future<Output = Result<i64, StoreError>> {
        let user = user.to_owned();
        self.call(move |c| {
            c.prepare_cached("INSERT INTO sessions (user, login_at) VALUES (?1, ?2)")?
                .execute(params![user, at_ms])?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Records the end of a login session.
    ///
    /// # Errors
    /// [`StoreError`] if it could not be committed.
    pub fn record_logout(
        &self,
        session: i64,
        at_ms: i64,
    ) -> impl Future<Output = Result<(), StoreError>> {
        self.call(move |c| {
            c.prepare_cached("UPDATE sessions SET logout_at = ?2 WHERE id = ?1")?
                .execute(params![session, at_ms])?;
            Ok(())
        })
    }

    /// Saves a user's login-failure state (`None` clears it).
    ///
    /// # Errors
    /// [`StoreError`] if it could not be committed.
    pub fn save_lock(
        &self,
        user: &str,
        state: Option<LockState>,
    ) -> impl Future<Output = Result<(), StoreError>> {
        let user = user.to_owned();
        self.call(move |c| {
            match state {
                Some(s) => c
                    .prepare_cached(
                        "INSERT INTO locks (user, failures, locked_until) VALUES (?1, ?2, ?3)
                         ON CONFLICT (user) DO UPDATE SET failures = ?2, locked_until = ?3",
                    )?
                    .execute(params![user, s.failures, s.locked_until])?,
                None => c
                    .prepare_cached("DELETE FROM locks WHERE user = ?1")?
                    .execute([user])?,
            };
            Ok(())
        })
    }

    /// Notes that the server is alive now and saves the cumulative counters (absolute values,
    /// by name). After a crash, sessions left open are closed at the last sign of life: this
    /// heartbeat, or any later commit (every commit also notes the time).
    ///
    /// # Errors
    /// [`StoreError`] if it could not be committed.
    pub fn heartbeat(
        &self,
        counters: Vec<(&'static str, u64)>,
    ) -> impl Future<Output = Result<(), StoreError>> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "INSERT INTO counters (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = ?2",
            )?;
            for (name, value) in counters {
                stmt.execute(params![name, i64::try_from(value).unwrap_or(i64::MAX)])?;
            }
            Ok(())
        })
    }

    /// Finishes queued jobs, stops the thread and closes the database. Later calls fail with
    /// [`StoreError::Closed`].
    pub fn close(&self) {
        let sender = self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(sender);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
        // Only now may another chatd open the directory.
        drop(
            self.dir_lock
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

fn set_alive(c: &Connection) -> rusqlite::Result<usize> {
    c.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('alive', ?1)
         ON CONFLICT (key) DO UPDATE SET value = ?1",
    )?
    .execute([now_ms()])
}

/// Creates the data directory (owner-only: it holds everyone's messages) if it is missing.
fn create_data_dir(data_dir: &Path) -> Result<(), StoreError> {
    if data_dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(data_dir)
        .map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })
}

/// Takes an exclusive advisory lock (`flock`) on `data_dir/chatd.lock`, held while the store
/// is open. A second chatd on the same directory would otherwise close the first one's live
/// login sessions as if it had crashed. The kernel drops the lock when the process dies, so a
/// crash never leaves it behind.
fn lock_data_dir(data_dir: &Path) -> Result<File, StoreError> {
    let path = data_dir.join(LOCK_FILE);
    let io = |source| StoreError::DataDir {
        path: path.clone(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    // SAFETY: flock only reads the descriptor, which `file` owns and keeps open.
    let rc = unsafe {
        libc::flock(
            std::os::fd::AsRawFd::as_raw_fd(&file),
            libc::LOCK_EX | libc::LOCK_NB,
        )
    };
    if rc == 0 {
        return Ok(file);
    }
    let err = std::io::Error::last_os_error();
    if err.kind() == std::io::ErrorKind::WouldBlock {
        Err(StoreError::InUse {
            path: data_dir.to_path_buf(),
        })
    } else {
        Err(io(err))
    }
}

/// Turns SQLite's "this is not a database" and "malformed" answers into [`StoreError::Corrupt`].
fn classify(e: rusqlite::Error, path: &Path) -> StoreError {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::NotADatabase | C::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
        _ => StoreError::Open {
            path: path.to_path_buf(),
            source: e,
        },
    }
}

/// Read-only checks before anything may write: readable and intact (`quick_check`), a chatd
/// store (or empty), and not newer than this program.
fn check(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| classify(e, path))?;
    let verdict: String = conn
        .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
        .map_err(|e| classify(e, path))?;
    if verdict != "ok" {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: verdict,
        });
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == 0 {
        let tables: i64 = conn
            .query_row("SELECT COUNT(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(|e| classify(e, path))?;
        if tables > 0 {
            return Err(StoreError::Foreign {
                path: path.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Applies the migrations the store lacks, each in its own transaction with its version bump,
/// so a crash during a migration leaves the previous version intact.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(open_err)?;
    let from = usize::try_from(version).unwrap_or(0);
    for (v, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        let tx = conn.transaction().map_err(open_err)?;
        tx.execute_batch(sql).map_err(open_err)?;
        tx.pragma_update(None, "user_version", v as i64 + 1)
            .map_err(open_err)?;
        tx.commit().map_err(open_err)?;
        if from > 0 {
            log::info!(
                "store {} migrated from schema version {} to {}",
                path.display(),
                v,
                v + 1
            );
        }
    }
    Ok(())
}

fn load_snapshot(conn: &Connection) -> rusqlite::Result<Snapshot> {
    // Sessions a crash left open end at the last sign of life.
    let alive: Option<i64> = conn
        .query_row("SELECT value FROM meta WHERE key = 'alive'", [], |r| {
            r.get(0)
        })
        .optional()?;
    conn.execute(
        "UPDATE sessions SET logout_at = MAX(login_at, COALESCE(?1, login_at)) WHERE logout_at IS NULL",
        [alive],
    )?;
    set_alive(conn)?;
    conn.execute(
        "DELETE FROM sessions WHERE logout_at < ?1
             AND id NOT IN (SELECT MAX(id) FROM sessions GROUP BY user)",
        [now_ms() - SESSION_RETENTION_MS],
    )?;
    let mut snap = Snapshot::default();
    let mut stmt = conn.prepare("SELECT blocker, blocked FROM blocks")?;
    for row in stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))? {
        snap.blocks.push(row?);
    }
    let mut stmt = conn.prepare("SELECT user, MAX(logout_at) FROM sessions GROUP BY user")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (user, at) = row?;
        snap.last_seen.insert(user, at);
    }
    let mut stmt = conn.prepare("SELECT user, failures, locked_until FROM locks")?;
    for row in stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            LockState {
                failures: r.get(1)?,
                locked_until: r.get(2)?,
            },
        ))
    })? {
        let (user, lock) = row?;
        snap.locks.insert(user, lock);
    }
    let mut stmt = conn.prepare("SELECT name, value FROM counters")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (name, value) = row?;
        snap.counters
            .insert(name, u64::try_from(value).unwrap_or(0));
    }
    Ok(snap)
}

fn store_thread(conn: Connection, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let begun = conn.execute_batch("BEGIN IMMEDIATE");
        let replies: Vec<Reply> = batch.into_iter().map(|job| job(&conn)).collect();
        // Every commit is a sign of life: a crash is dated no earlier than the last one.
        let committed = begun
            .and_then(|()| set_alive(&conn).map(drop))
            .and_then(|()| conn.execute_batch("COMMIT"))
            .map_err(StoreError::Sqlite);
        if let Err(e) = &committed {
            log::error!("store commit failed: {e}");
            let _ = conn.execute_batch("ROLLBACK");
        }
        for reply in replies {
            reply(match &committed {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Sqlite(match e {
                    StoreError::Sqlite(inner) => clone_sqlite_error(inner),
                    _ => rusqlite::Error::InvalidQuery,
                })),
            });
        }
    }
    log::debug!("store thread finished");
}

fn clone_sqlite_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => {
            rusqlite::Error::SqliteFailure(*code, msg.clone())
        }
        _ => rusqlite::Error::InvalidQuery,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_messages_survive_reopen_in_order() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (store, _) = Store::open(dir.path()).unwrap();
            smol::block_on(async {
                for i in 0..5 {
                    let r = store
                        .store_offline("yoda", "hans", &format!("m{i}"), 3)
                        .await
                        .unwrap();
                    assert_eq!(r == StoreOutcome::Stored, i < 3);
                }
                store.set_block("yoda", "vader", true).await.unwrap();
                let s = store.record_login("luke", 1000).await.unwrap();
                store.record_logout(s, 2000).await.unwrap();
                store.record_login("leia", 3000).await.unwrap();
            });
        }
        let (store, snap) = Store::open(dir.path()).unwrap();
        assert_eq!(snap.blocks, vec![("yoda".into(), "vader".into())]);
        assert_eq!(snap.last_seen.get("luke"), Some(&2000));
        assert!(snap.last_seen.get("leia").is_some_and(|&t| t >= 3000));
        let msgs = smol::block_on(store.offline_for("yoda")).unwrap();
        let texts: Vec<_> = msgs.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["m0", "m1", "m2"]);
        smol::block_on(store.delete_offline(vec![msgs[0].id])).unwrap();
        assert_eq!(smol::block_on(store.offline_for("yoda")).unwrap().len(), 2);
    }

    #[test]
    fn cap_counts_follow_stores_and_deletions_and_counters_persist() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (store, snap) = Store::open(dir.path()).unwrap();
            assert!(snap.counters.is_empty());
            smol::block_on(async {
                let mut ids = Vec::new();
                for i in 0..3 {
                    assert_eq!(
                        store
                            .store_offline("yoda", "hans", &format!("m{i}"), 3)
                            .await
                            .unwrap(),
                        StoreOutcome::Stored
                    );
                }
                assert_eq!(
                    store.store_offline("yoda", "hans", "m3", 3).await.unwrap(),
                    StoreOutcome::Full
                );
                // Another recipient has its own cap.
                assert_eq!(
                    store.store_offline("luke", "hans", "x", 3).await.unwrap(),
                    StoreOutcome::Stored
                );
                for m in store.offline_for("yoda").await.unwrap() {
                    ids.push(m.id);
                }
                store.delete_offline(ids[..2].to_vec()).await.unwrap();
                for i in 4..6 {
                    assert_eq!(
                        store
                            .store_offline("yoda", "hans", &format!("m{i}"), 3)
                            .await
                            .unwrap(),
                        StoreOutcome::Stored
                    );
                }
                assert_eq!(
                    store.store_offline("yoda", "hans", "m6", 3).await.unwrap(),
                    StoreOutcome::Full
                );
                store
                    .heartbeat(vec![("logins", 7), ("messages_stored", 42)])
                    .await
                    .unwrap();
            });
        }
        let (store, snap) = Store::open(dir.path()).unwrap();
        assert_eq!(snap.counters.get("logins"), Some(&7));
        assert_eq!(snap.counters.get("messages_stored"), Some(&42));
        let texts: Vec<String> = smol::block_on(store.offline_for("yoda"))
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert_eq!(texts, ["m2", "m4", "m5"]);
    }

    #[test]
    fn refuses_a_damaged_file_without_touching_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let junk: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &junk).unwrap();
        let err = Store::open(dir.path()).err().unwrap();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), junk);
    }

    #[test]
    fn refuses_a_database_of_another_program() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY);")
            .unwrap();
        drop(conn);
        let before = std::fs::read(&path).unwrap();
        let err = Store::open(dir.path()).err().unwrap();
        assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn one_store_per_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).err().unwrap();
        assert!(matches!(err, StoreError::InUse { .. }), "{err}");
        store.close();
        let (_again, _) = Store::open(dir.path()).unwrap();
    }

    #[test]
    fn refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("chat.db")).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        let err = Store::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("newer than this chatd supports"), "{err}");
    }
}
