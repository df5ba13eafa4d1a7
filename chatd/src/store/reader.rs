//! The store's reader: a second SQLite connection, owned by its own thread (`chatd-store-read`),
//! for the reads that may be long (a login's backlog, streamed in chunks) or must work when
//! writing does not (a full disk: the writer's commits fail, reads still answer). In WAL mode it
//! reads while the writer commits, so a large backlog never holds up the group commit.
//!
//! It owns no writes and no ordering: a read that must see every job queued before it is sent
//! here by the writer thread once that batch has run (see `SqliteStore::read_after_writes`).

use std::path::Path;
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;

use rusqlite::{params, Connection};

use super::{Backlog, OfflineMessage};

/// A read, with its answer channel inside.
pub(super) type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Handle to the reader thread.
pub(super) struct Reader {
    jobs: Mutex<Option<mpsc::Sender<ReadJob>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Reader {
    /// Opens a second connection to the (already checked and migrated) database at `path`
    /// and starts the reader thread.
    pub(super) fn open(path: &Path) -> std::io::Result<Reader> {
        let conn = Connection::open(path).map_err(std::io::Error::other)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(std::io::Error::other)?;
        let (tx, rx) = mpsc::channel::<ReadJob>();
        let thread = std::thread::Builder::new()
            .name("chatd-store-read".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job(&conn);
                }
            })?;
        Ok(Reader {
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// A sender for read jobs (`None` once closed).
    pub(super) fn sender(&self) -> Option<mpsc::Sender<ReadJob>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Finishes the queued reads and stops the thread.
    pub(super) fn close(&self) {
        drop(self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take());
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

/// How many messages wait for `user`, and the row of the newest.
pub(super) fn backlog(c: &Connection, user: &str) -> rusqlite::Result<Backlog> {
    c.prepare_cached("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM offline WHERE recipient = ?1")?
        .query_row([user], |r| {
            Ok(Backlog {
                count: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                last: r.get(1)?,
            })
        })
}

/// The messages for `user` with rows in `(after, upto]`, oldest first, at least one and then
/// as many as fit in `max_bytes` of sender and text.
pub(super) fn chunk(
    c: &Connection,
    user: &str,
    after: i64,
    upto: i64,
    max_bytes: usize,
) -> rusqlite::Result<Vec<OfflineMessage>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, msg_id, sender, text, sent_at FROM offline
         WHERE recipient = ?1 AND id > ?2 AND id <= ?3 ORDER BY id",
    )?;
    let mut rows = stmt.query(params![user, after, upto])?;
    let mut out = Vec::new();
    let mut bytes = 0usize;
    // Rows are stepped lazily: stopping here reads no further.
    while bytes < max_bytes {
        let Some(r) = rows.next()? else { break };
        let m = message(r)?;
        bytes += m.from.len() + m.text.len();
        out.push(m);
    }
    Ok(out)
}

/// Every message waiting for `user`, oldest first.
pub(super) fn all(c: &Connection, user: &str) -> rusqlite::Result<Vec<OfflineMessage>> {
    chunk(c, user, 0, i64::MAX, usize::MAX)
}

fn message(r: &rusqlite::Row<'_>) -> rusqlite::Result<OfflineMessage> {
    Ok(OfflineMessage {
        id: r.get(0)?,
        msg_id: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
        from: r.get(2)?,
        text: r.get(3)?,
        sent_ms: r.get(4)?,
    })
}
