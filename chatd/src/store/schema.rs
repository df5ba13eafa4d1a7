//! The SQLite schema and everything done before the store thread starts: creating and locking
//! the data directory, refusing a damaged, foreign or newer file without writing to it,
//! migrations, and the snapshot the server loads at start.

use std::fs::File;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use super::{LockState, Snapshot, StoreError};
use crate::clock::wall_ms;
use crate::files;

/// Current schema version, kept in SQLite's `user_version`.
pub const SCHEMA_VERSION: i64 = 3;

/// The database file's name inside the data directory.
pub(crate) const DB_FILE: &str = "chat.db";

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
    // 2 -> 3: each offline message keeps the id it carries on the wire (`msg_id`), so a
    // message stored again (its connection ended before the client acknowledged it) is stored
    // once, and an acknowledgement deletes it by that id. Messages already waiting take their
    // row id, which is below any id a server hands out (those start above the clock).
    "ALTER TABLE offline ADD COLUMN msg_id INTEGER;
     UPDATE offline SET msg_id = id;
     CREATE UNIQUE INDEX offline_by_msg_id ON offline (msg_id);",
];

/// Closed login sessions older than this are pruned at start, except each user's latest
/// (which is all `whoelsesince` needs), so the login history cannot grow without bound.
const SESSION_RETENTION_MS: i64 = 30 * 24 * 3600 * 1000;

pub(super) fn set_alive(c: &Connection) -> rusqlite::Result<usize> {
    c.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('alive', ?1)
         ON CONFLICT (key) DO UPDATE SET value = ?1",
    )?
    .execute([wall_ms()])
}

/// Creates the data directory (owner-only: it holds everyone's messages) if it is missing.
pub(super) fn create_data_dir(data_dir: &Path) -> Result<(), StoreError> {
    let io = |source| StoreError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    };
    if data_dir.is_dir() {
        files::tighten(data_dir).map_err(io)?;
        return Ok(());
    }
    files::create_dir_owner_only(data_dir).map_err(io)
}

/// Makes the store's files owner-only whatever the umask: creates an absent database file
/// empty with mode 0600 before SQLite opens it (SQLite gives its `-wal` and `-shm` files the
/// database file's mode), and tightens existing ones that are open to others (logged).
pub(super) fn owner_only_files(data_dir: &Path) -> Result<(), StoreError> {
    let db = data_dir.join(DB_FILE);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::DataDir { path, source }
    };
    files::owner_only_options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&db)
        .map_err(io(&db))?;
    for suffix in ["", "-wal", "-shm"] {
        let path = data_dir.join(format!("{DB_FILE}{suffix}"));
        files::tighten(&path).map_err(io(&path))?;
    }
    let lock = data_dir.join(LOCK_FILE);
    files::tighten(&lock).map_err(io(&lock))?;
    Ok(())
}

/// Takes an exclusive advisory lock (`flock`) on `data_dir/chatd.lock`, held while the store
/// is open. A second chatd on the same directory would otherwise close the first one's live
/// login sessions as if it had crashed. The kernel drops the lock when the process dies, so a
/// crash never leaves it behind.
pub(super) fn lock_data_dir(data_dir: &Path) -> Result<File, StoreError> {
    let path = data_dir.join(LOCK_FILE);
    let io = |source| StoreError::DataDir {
        path: path.clone(),
        source,
    };
    let file = files::owner_only_options()
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
pub(super) fn classify(e: rusqlite::Error, path: &Path) -> StoreError {
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
pub(super) fn check(conn: &Connection, path: &Path) -> Result<(), StoreError> {
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
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
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

pub(super) fn load_snapshot(conn: &Connection) -> rusqlite::Result<Snapshot> {
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
        [wall_ms() - SESSION_RETENTION_MS],
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
    snap.max_msg_id = conn
        .query_row("SELECT COALESCE(MAX(msg_id), 0) FROM offline", [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|v| u64::try_from(v).unwrap_or(0))?;
    let mut stmt = conn.prepare("SELECT name, value FROM counters")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (name, value) = row?;
        snap.counters
            .insert(name, u64::try_from(value).unwrap_or(0));
    }
    Ok(snap)
}
