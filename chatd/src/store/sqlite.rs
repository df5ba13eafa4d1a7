//! [`SqliteStore`]: the store thread and its group commit.
//!
//! The connection is owned by one dedicated thread, so no store I/O ever runs on the executor's
//! threads. Callers send jobs over a channel; the thread runs every job waiting at that moment in
//! one transaction and answers each job only after that transaction committed (group commit),
//! so an answer means "durable" and many concurrent writers share one fsync. A job is queued
//! when its method is called, not when its future is first polled.

use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::Stream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{params, Connection, OptionalExtension};

use super::reader::{self, ReadJob, Reader};
use super::schema::{
    check, classify, create_data_dir, load_snapshot, lock_data_dir, migrate, owner_only_files,
    set_alive, DB_FILE,
};
use super::{Backlog, LockState, OfflineMessage, Snapshot, StoreError, StoreOutcome};
use crate::seams::Store;

/// Most jobs one transaction takes, so one slow batch cannot grow without bound.
const MAX_BATCH: usize = 512;

type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A job runs its writes and returns its reply and whether it succeeded (a failed job's
/// writes are rolled back to its savepoint, see `store_thread`).
type Job = Box<dyn FnOnce(&Connection) -> (Reply, bool) + Send>;

/// Handle to the store thread. Cheap to share behind an `Arc`.
pub struct SqliteStore {
    jobs: std::sync::Mutex<Option<mpsc::Sender<Job>>>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
    /// The data directory's lock, released by [`Store::close`].
    dir_lock: std::sync::Mutex<Option<File>>,
    /// The second connection, for reads.
    reader: Reader,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the store under `data_dir`, checks it, migrates it, closes
    /// login sessions left open by a crash at the last sign of life, and starts the store thread.
    ///
    /// Nothing is written to an existing file before it passed the checks: a damaged file, a
    /// foreign database or a newer schema is refused and left exactly as it was.
    ///
    /// # Errors
    /// [`StoreError`] when the directory or database cannot be opened, the file is damaged or
    /// not a chatd store, or the schema is newer than this program.
    pub fn open(data_dir: &Path) -> Result<(SqliteStore, Snapshot), StoreError> {
        create_data_dir(data_dir)?;
        // Absolute, so every message names the file unambiguously.
        let data_dir = &std::fs::canonicalize(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let dir_lock = lock_data_dir(data_dir)?;
        owner_only_files(data_dir)?;
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
        let reader = Reader::open(&path).map_err(|e| StoreError::DataDir {
            path: path.clone(),
            source: e,
        })?;
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("chatd-store".into())
            .spawn(move || store_thread(conn, rx))
            .map_err(|e| StoreError::DataDir {
                path: data_dir.to_path_buf(),
                source: e,
            })?;
        Ok((
            SqliteStore {
                jobs: std::sync::Mutex::new(Some(tx)),
                thread: std::sync::Mutex::new(Some(thread)),
                dir_lock: std::sync::Mutex::new(Some(dir_lock)),
                reader,
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
    pub(super) fn call<R, F>(&self, f: F) -> StoreJob<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    {
        let (tx, rx) = async_channel::bounded::<Result<R, StoreError>>(1);
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |committed: Result<(), StoreError>| {
                let out = match (result, committed) {
                    (Ok(r), Ok(())) => Ok(r),
                    (Err(e), _) => Err(StoreError::Sqlite(e)),
                    (Ok(_), Err(e)) => Err(e),
                };
                // The caller may have gone away; nothing to do then.
                let _ = tx.try_send(out);
            });
            (reply, ok)
        });
        StoreJob {
            rx: self.submit(job).ok().map(|()| Box::pin(rx)),
        }
    }

    /// Runs `f` on the reader thread once every job queued before this call has run (the
    /// writer thread hands it over after its batch, committed or not: on a full disk the
    /// writes fail and the read still answers).
    fn read_after_writes<R, F>(&self, f: F) -> StoreJob<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    {
        let (read, job) = read_job(f);
        let Some(reader) = self.reader.sender() else {
            return StoreJob { rx: None };
        };
        let handover: Job = Box::new(move |_| {
            let reply: Reply = Box::new(move |_committed| {
                // A closed reader drops the job, and its answer says "closed".
                let _ = reader.send(read);
            });
            // Writes nothing: nothing to roll back.
            (reply, true)
        });
        match self.submit(handover) {
            Ok(()) => job,
            Err(_) => StoreJob { rx: None },
        }
    }

    /// Runs `f` on the reader thread now, unordered with the writes.
    fn read_now<R, F>(&self, f: F) -> StoreJob<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    {
        let (read, job) = read_job(f);
        match self.reader.sender().map(|tx| tx.send(read)) {
            Some(Ok(())) => job,
            _ => StoreJob { rx: None },
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

    /// The offline messages waiting for `user`, oldest first (read on the reader thread,
    /// after every job queued before).
    ///
    /// # Errors
    /// [`StoreError`] on a read failure.
    pub fn offline_for(&self, user: &str) -> StoreJob<Vec<OfflineMessage>> {
        let user = user.to_owned();
        self.read_after_writes(move |c| reader::all(c, &user))
    }

    /// Makes every write of the store thread fail from now on, as on a full disk (the
    /// writer's connection becomes `query_only`, so even the commit's own bookkeeping fails):
    /// for tests of what must still work then.
    #[cfg(test)]
    pub(crate) fn fail_writes_for_tests(&self) {
        let job = self.call(|c| c.pragma_update(None, "query_only", true));
        // This job's own batch cannot commit any more.
        let _ = smol::block_on(job);
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
        // The writer's last batch may have handed reads over: finish them too.
        self.reader.close();
        // Only now may another chatd open the directory.
        drop(
            self.dir_lock
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
    }
}

impl Store for SqliteStore {
    type Job<T: Send + 'static> = StoreJob<T>;

    /// Stores a message for an offline recipient unless they already have `cap` waiting,
    /// with the time the server accepted it.
    ///
    /// # Errors
    /// [`StoreError`] if it could not be committed.
    fn store_offline(
        &self,
        recipient: &str,
        sender: &str,
        text: &str,
        cap: u64,
        sent_ms: i64,
        msg_id: u64,
    ) -> StoreJob<StoreOutcome> {
        let (recipient, sender, text) = (recipient.to_owned(), sender.to_owned(), text.to_owned());
        let msg_id = i64::try_from(msg_id).unwrap_or(i64::MAX);
        self.call(move |c| {
            let waiting: i64 = c
                .prepare_cached("SELECT waiting FROM offline_counts WHERE recipient = ?1")?
                .query_row([&recipient], |r| r.get(0))
                .optional()?
                .unwrap_or(0);
            if u64::try_from(waiting).unwrap_or(0) >= cap {
                return Ok(StoreOutcome::Full);
            }
            // Stored once per id: a message stored again (its connection ended before the
            // client acknowledged it) is already there.
            c.prepare_cached(
                "INSERT INTO offline (recipient, sender, text, sent_at, msg_id)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (msg_id) DO NOTHING",
            )?
            .execute(params![recipient, sender, text, sent_ms, msg_id])?;
            Ok(StoreOutcome::Stored)
        })
    }

    /// How many messages wait for `user` and the newest one's row, read after every job
    /// queued before; works when the store cannot write.
    ///
    /// # Errors
    /// [`StoreError`] on a read failure.
    fn backlog(&self, user: &str) -> StoreJob<Backlog> {
        let user = user.to_owned();
        self.read_after_writes(move |c| reader::backlog(c, &user))
    }

    /// The next chunk of `user`'s backlog: rows in `(after, upto]`, oldest first, about
    /// `max_bytes` of text (at least one message).
    ///
    /// # Errors
    /// [`StoreError`] on a read failure.
    fn backlog_chunk(
        &self,
        user: &str,
        after: i64,
        upto: i64,
        max_bytes: usize,
    ) -> StoreJob<Vec<OfflineMessage>> {
        let user = user.to_owned();
        self.read_now(move |c| reader::chunk(c, &user, after, upto, max_bytes))
    }

    /// Removes the messages with these ids stored for `recipient` (acknowledged by the
    /// recipient's client).
    ///
    /// # Errors
    /// [`StoreError`] if the deletion could not be committed (the messages may be shown again).
    fn delete_offline(&self, recipient: &str, msg_ids: Vec<u64>) -> StoreJob<()> {
        let recipient = recipient.to_owned();
        self.call(move |c| {
            let mut stmt =
                c.prepare_cached("DELETE FROM offline WHERE msg_id = ?1 AND recipient = ?2")?;
            for id in msg_ids {
                stmt.execute(params![i64::try_from(id).unwrap_or(i64::MAX), recipient])?;
            }
            Ok(())
        })
    }

    /// Records that `blocker` blocks (`on`) or no longer blocks `blocked`.
    ///
    /// # Errors
    /// [`StoreError`] if it could not be committed.
    fn set_block(&self, blocker: &str, blocked: &str, on: bool) -> StoreJob<()> {
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
    fn record_login(&self, user: &str, at_ms: i64) -> StoreJob<i64> {
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
    fn record_logout(&self, session: i64, at_ms: i64) -> StoreJob<()> {
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
    fn save_lock(&self, user: &str, state: Option<LockState>) -> StoreJob<()> {
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

    /// Removes what is kept about a deleted account, in one transaction with the batch.
    ///
    /// # Errors
    /// [`StoreError`] if it could not be committed.
    fn purge_user(&self, user: &str) -> StoreJob<()> {
        let user = user.to_owned();
        self.call(move |c| {
            for sql in [
                "DELETE FROM offline WHERE recipient = ?1",
                "DELETE FROM blocks WHERE blocker = ?1 OR blocked = ?1",
                "DELETE FROM sessions WHERE user = ?1",
                "DELETE FROM locks WHERE user = ?1",
            ] {
                c.prepare_cached(sql)?.execute([&user])?;
            }
            Ok(())
        })
    }

    /// Each user's latest login (ms).
    ///
    /// # Errors
    /// [`StoreError`] on a read failure.
    fn last_logins(&self) -> StoreJob<HashMap<String, i64>> {
        self.call(|c| {
            let mut stmt =
                c.prepare_cached("SELECT user, MAX(login_at) FROM sessions GROUP BY user")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// Notes that the server is alive now and saves the cumulative counters (absolute values,
    /// by name). After a crash, sessions left open are closed at the last sign of life: this
    /// heartbeat, or any later commit (every commit also notes the time).
    ///
    /// # Errors
    /// [`StoreError`] if it could not be committed.
    fn heartbeat(&self, counters: Vec<(&'static str, u64)>) -> StoreJob<()> {
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

    fn close(&self) {
        SqliteStore::close(self);
    }
}

/// A read job for the reader thread and the answer its caller awaits.
fn read_job<R, F>(f: F) -> (ReadJob, StoreJob<R>)
where
    R: Send + 'static,
    F: FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
{
    let (tx, rx) = async_channel::bounded::<Result<R, StoreError>>(1);
    let read: ReadJob = Box::new(move |conn| {
        // The caller may have gone away; nothing to do then.
        let _ = tx.try_send(f(conn).map_err(StoreError::Sqlite));
    });
    (
        read,
        StoreJob {
            rx: Some(Box::pin(rx)),
        },
    )
}

/// Where a job's answer arrives.
type Answers<T> = async_channel::Receiver<Result<T, StoreError>>;

/// A queued job's answer (see [`Store::Job`]).
pub struct StoreJob<T> {
    /// `None` when the job could not be queued (the store is closed).
    rx: Option<Pin<Box<Answers<T>>>>,
}

impl<T> Future for StoreJob<T> {
    type Output = Result<T, StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(rx) = self.rx.as_mut() else {
            return Poll::Ready(Err(StoreError::Closed));
        };
        match rx.as_mut().poll_next(cx) {
            Poll::Ready(Some(answer)) => Poll::Ready(answer),
            Poll::Ready(None) => Poll::Ready(Err(StoreError::Closed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
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
        let replies: Vec<Reply> = batch
            .into_iter()
            .map(|job| run_job(&conn, job, begun.is_ok()))
            .collect();
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

/// Runs one job of a batch inside its own savepoint: a job that fails part-way leaves none of
/// its writes in the batch's transaction, and the other jobs commit without them. When the
/// batch's transaction could not begin (`in_tx` false), every job's writes are rolled back
/// (the batch answers with that error), never committed statement by statement.
fn run_job(conn: &Connection, job: Job, in_tx: bool) -> Reply {
    let saved = conn.execute_batch("SAVEPOINT job");
    if let Err(e) = &saved {
        log::error!("store savepoint failed: {e}");
    }
    let (reply, ok) = job(conn);
    if saved.is_ok() {
        let undo = if ok && in_tx {
            conn.execute_batch("RELEASE job")
        } else {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")
        };
        if let Err(e) = undo {
            log::error!("store savepoint release failed: {e}");
        }
    }
    reply
}

fn clone_sqlite_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => {
            rusqlite::Error::SqliteFailure(*code, msg.clone())
        }
        _ => rusqlite::Error::InvalidQuery,
    }
}
