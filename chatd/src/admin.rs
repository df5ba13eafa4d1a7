//! The admin socket: a Unix socket at `admin_socket` where `chatctl` sends one
//! [`AdminRequest`] line and reads one [`AdminResponse`] line. This module owns the socket file
//! (refusing to start next to a live chatd, replacing a stale file, owner-only permissions,
//! removal at shutdown) and one handler per request (those managing accounts in [`accounts`]).
//! It does not own the state it reports on:
//! the hub, the lockout and the reload logic live in their own modules, and a reload runs the
//! hook the process passed in.

mod accounts;

use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use proto::admin::{AdminErrorCode, AdminRequest, AdminResponse, Status};
use proto::{encode_line, LineDecoder};
use smol::{Async, Timer};

use crate::clock::Clock;
use crate::seams::Store;
use crate::state::{ReloadError, Shared};

/// Longest request line accepted; requests are tiny, so anything longer is not `chatctl`.
const MAX_REQUEST: usize = 64 * 1024;
/// How long one admin connection may take from accept to answer; a client that connects and
/// says nothing must not hold a task forever.
const ADMIN_DEADLINE: Duration = Duration::from_secs(10);

/// Why the admin socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Another chatd answers on the socket.
    #[error("chatd is already running: {path} accepts connections (stop that chatd first, or set another admin_socket)")]
    AlreadyRunning {
        /// The socket path.
        path: PathBuf,
    },
    /// Something that is not a socket sits at the path; it is not ours to delete.
    #[error("admin socket {path} exists and is not a socket; refusing to replace it")]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// Binding, removing the stale file or restricting permissions failed.
    #[error("admin socket {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The bound admin socket, remembering which file it created so that shutdown never deletes a
/// socket some later chatd put at the same path.
#[derive(Debug)]
pub struct AdminListener {
    listener: UnixListener,
    file: SocketFile,
}

impl AdminListener {
    /// Binds `path` with owner-only permissions (0600). An existing socket file is probed:
    /// if a process accepts on it, chatd is already running and this fails; if nobody does,
    /// the file is stale and is replaced.
    ///
    /// # Errors
    /// [`AdminError`] naming the path and the reason.
    pub fn bind(path: &Path) -> Result<AdminListener, AdminError> {
        let io = |source| AdminError::Io {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
                Ok(_) => {
                    return Err(AdminError::AlreadyRunning {
                        path: path.to_path_buf(),
                    })
                }
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    log::info!("replacing stale admin socket {}", path.display());
                    std::fs::remove_file(path).map_err(io)?;
                }
                Err(e) => return Err(io(e)),
            },
            Ok(_) => {
                return Err(AdminError::NotASocket {
                    path: path.to_path_buf(),
                })
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let listener = UnixListener::bind(path).map_err(io)?;
        // The socket grants the power to kick users and reload the server: owner only. A
        // connect between bind and chmod needs write access under the umask's mode, which is
        // the owner's alone with the usual umasks (and the systemd unit's RuntimeDirectory is
        // private on top).
        let restrict = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .and_then(|()| std::fs::symlink_metadata(path));
        let meta = match restrict {
            Ok(meta) => meta,
            Err(e) => {
                let _ = std::fs::remove_file(path);
                return Err(io(e));
            }
        };
        Ok(AdminListener {
            listener,
            file: SocketFile {
                path: path.to_path_buf(),
                identity: (meta.dev(), meta.ino()),
            },
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Removes the socket file if it is still the one this process created (a start-up that
    /// fails after binding).
    pub fn remove_file(&self) {
        self.file.remove();
    }

    /// The socket file, for removal by whoever ends up owning the cleanup.
    pub fn socket_file(&self) -> &SocketFile {
        &self.file
    }

    /// Registers the listener with the async reactor. Called after any fork, since the reactor
    /// owns a thread and an epoll descriptor that must belong to the serving process.
    ///
    /// # Errors
    /// The I/O error from the reactor.
    pub fn into_async(self) -> Result<(Async<UnixListener>, SocketFile), AdminError> {
        let listener = Async::new(self.listener).map_err(|source| AdminError::Io {
            path: self.file.path.clone(),
            source,
        })?;
        Ok((listener, self.file))
    }
}

/// The socket file left behind once the listener moved into the reactor; removed at shutdown.
#[derive(Debug, Clone)]
pub struct SocketFile {
    path: PathBuf,
    /// (device, inode) of the socket file this process created.
    identity: (u64, u64),
}

impl SocketFile {
    /// Removes the socket file if it is still the one this process created.
    pub fn remove(&self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if (meta.dev(), meta.ino()) == self.identity => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    log::warn!("cannot remove admin socket {}: {e}", self.path.display());
                }
            }
            // Gone already, or replaced by a later chatd: not ours to delete.
            _ => {}
        }
    }
}

/// Accepts admin connections until the future is dropped (at shutdown).
pub(crate) async fn admin_loop(shared: Arc<Shared>, listener: &Async<UnixListener>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let conn_shared = Arc::clone(&shared);
                // Detached: every admin connection ends within ADMIN_DEADLINE, and at shutdown
                // the executor drops whatever is left with it.
                shared
                    .ex
                    .spawn(async move {
                        let shared = conn_shared;
                        let done = future::or(admin_connection(&shared, stream), async {
                            Timer::after(ADMIN_DEADLINE).await;
                            log::warn!("admin connection gave no request in time; closed");
                        });
                        done.await;
                    })
                    .detach();
            }
            Err(e) => {
                log::error!("admin socket accept failed: {e}");
                // Out of file descriptors and the like: back off instead of spinning.
                Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads one request, answers it, closes.
async fn admin_connection(shared: &Arc<Shared>, mut stream: Async<UnixStream>) {
    let response = match read_request(&mut stream).await {
        Ok(Some(request)) => handle(shared, request).await,
        Ok(None) => return,
        Err(response) => response,
    };
    let line = encode_line(&response);
    if let Err(e) = stream.write_all(line.as_bytes()).await {
        log::debug!("admin client went away before the answer: {e}");
        return;
    }
    let _ = stream.flush().await;
}

/// The request line, `None` if the client closed without one, or the error to answer with.
async fn read_request(
    stream: &mut Async<UnixStream>,
) -> Result<Option<AdminRequest>, AdminResponse> {
    let mut decoder = LineDecoder::new(MAX_REQUEST);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(line) = decoder.next_line() {
            let line =
                line.map_err(|e| AdminResponse::error(AdminErrorCode::BadRequest, e.to_string()))?;
            return serde_json::from_slice(line).map(Some).map_err(|e| {
                AdminResponse::error(
                    AdminErrorCode::BadRequest,
                    format!("not an admin request: {e}"),
                )
            });
        }
        match stream.read(&mut chunk).await {
            // A last line without its newline (`printf '{"type":"who"}' | socat ...`) still
            // counts; nothing at all means the client gave up.
            Ok(0) if decoder.pending() > 0 => decoder.feed(b"\n"),
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => decoder.feed(&chunk[..n]),
        }
    }
}

/// Dispatches one request to its handler.
async fn handle(shared: &Arc<Shared>, request: AdminRequest) -> AdminResponse {
    match request {
        AdminRequest::Who => who(shared),
        AdminRequest::Kick { user, reason } => kick(shared, &user, reason),
        AdminRequest::Stats => stats(shared),
        AdminRequest::Unlock { user } => unlock(shared, &user).await,
        AdminRequest::Reload => reload(shared).await,
        AdminRequest::Users => accounts::users(shared).await,
        AdminRequest::UserAdd { user, password } => accounts::add(shared, &user, &password).await,
        AdminRequest::UserDel { user } => accounts::del(shared, &user).await,
        AdminRequest::UserPasswd { user, password } => {
            accounts::passwd(shared, &user, &password).await
        }
        AdminRequest::Status => status(shared),
    }
}

/// `status`: which chatd this is (version, pid) and since when, with the connection counts.
fn status(shared: &Shared) -> AdminResponse {
    let stats = shared.hub.stats();
    let now = crate::clock::wall_ms().max(0) as u64 / 1000;
    AdminResponse::Status(Status {
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        started: now.saturating_sub(stats.uptime),
        uptime: stats.uptime,
        connections: stats.connections,
        online: stats.online,
    })
}

/// `who`: online users, sorted by name.
fn who(shared: &Shared) -> AdminResponse {
    AdminResponse::Who {
        users: shared.hub.who(),
    }
}

/// `kick`: the user gets a `kicked` event and the connection closes; the hub's disconnect path
/// then tells the others and ends the user's private sessions.
fn kick(shared: &Shared, user: &str, reason: Option<String>) -> AdminResponse {
    // Any case names the account.
    let name = shared.accounts.canonical(user);
    let user = name.as_deref().unwrap_or(user);
    if shared.hub.kick(user, reason) {
        log::info!("admin: kicked {user}");
        AdminResponse::ok(format!("{user} was disconnected"))
    } else if shared.accounts.exists(user) {
        AdminResponse::error(AdminErrorCode::NotOnline, format!("{user} is not online"))
    } else {
        AdminResponse::error(
            AdminErrorCode::InvalidUser,
            format!("no account named {user:?}"),
        )
    }
}

/// `stats`: the hub's counters plus the accounts locked right now.
fn stats(shared: &Shared) -> AdminResponse {
    let mut stats = shared.hub.stats();
    stats.locked_accounts = shared.lockout.locked_count(shared.clock.now_ms()) as u64;
    AdminResponse::Stats(stats)
}

/// `unlock`: forgets the user's failures and lock, in memory and in the store (so a restart
/// does not bring the lock back).
async fn unlock(shared: &Shared, user: &str) -> AdminResponse {
    let name = shared.accounts.canonical(user);
    let user = name.as_deref().unwrap_or(user);
    let had_state = shared.lockout.has_state(user);
    let was_locked = shared.lockout.clear(user, shared.clock.now_ms());
    if had_state {
        if let Err(e) = shared.store.save_lock(user, None).await {
            log::error!("admin: unlocking {user}: the store refused: {e}");
            return AdminResponse::error(
                AdminErrorCode::Internal,
                format!(
                    "{user} is unlocked until chatd restarts: the store refused the change: {e}"
                ),
            );
        }
    }
    if was_locked {
        log::info!("admin: unlocked {user}");
        AdminResponse::ok(format!("{user} is unlocked"))
    } else if shared.accounts.exists(user) {
        AdminResponse::error(AdminErrorCode::NotLocked, format!("{user} is not locked"))
    } else {
        AdminResponse::error(
            AdminErrorCode::InvalidUser,
            format!("no account named {user:?}"),
        )
    }
}

/// `reload`: as SIGHUP. File reads happen on the blocking pool, off the executor.
async fn reload(shared: &Arc<Shared>) -> AdminResponse {
    log::info!("admin: reloading the configuration and the credentials");
    let shared = Arc::clone(shared);
    match smol::unblock(move || shared.run_reload()).await {
        Ok(message) => AdminResponse::ok(message),
        Err(ReloadError::Skipped(message)) => {
            AdminResponse::error(AdminErrorCode::CredentialsSkipped, message)
        }
        Err(ReloadError::Refused(reason)) => AdminResponse::error(
            AdminErrorCode::ReloadFailed,
            format!("reload failed, the old configuration stays in force: {reason}"),
        ),
    }
}
