//! Starting and stopping the server: loading the accounts (and the TLS certificate) and binding
//! the TCP listeners (plain, and TLS when `[tls]` is configured) and the admin socket ([`bind`],
//! safe to fork after), then opening the store, the executor threads, the accept loops
//! ([`Bound::serve`]), and the graceful shutdown (stop accepting, tell every
//! client, let connections drain, close the store, remove the admin socket file).
//!
//! What every connection and the admin socket share is [`Shared`], in `state`; this module
//! only builds it. The clock and what a reload adds (systemd notifications) are passed in
//! ([`Bound::with_clock`], [`Bound::on_reload`]).

use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use async_channel::{Receiver, Sender};
use futures_lite::future;
use smol::{Async, Executor, Timer};

use crate::admin::{admin_loop, AdminError, AdminListener, SocketFile};
use crate::auth::{Accounts, AuthError, Lockout};
use crate::clock::AnyClock;
use crate::config::{Config, ConfigError, Overrides};
use crate::connection::connection_loop;
use crate::hub::Hub;
use crate::seams::Store;
use crate::state::{Parts, ReloadError, ReloadHook, Shared, StopHandle};
use crate::store::{SqliteStore, StoreError};
use crate::tls::{Certificate, Loaded};
use crate::transport::{Socket, TlsSocket};

/// How long connections get to finish after the shutdown notice.
const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// How often the store is told the server is alive (bounds the logout time recorded for
/// sessions cut by a crash).
const HEARTBEAT: Duration = Duration::from_secs(5);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The credentials file failed.
    #[error("credentials: {0}")]
    Accounts(#[from] AuthError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The admin socket could not be set up (or another chatd runs on it).
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// A thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
}

/// A running server.
pub struct Running {
    addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    stop: Sender<()>,
    main: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
    stop_workers: Sender<()>,
}

impl Running {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound TLS address, when `[tls]` is configured.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// The shared state (admin socket, tests).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// A handle that triggers the shutdown.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.stop.clone())
    }

    /// Waits until the server has shut down (after [`StopHandle::stop`]).
    pub fn wait(mut self) {
        if let Some(main) = self.main.take() {
            let _ = main.join();
        }
        self.stop_workers.close();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }

    /// Shuts down gracefully and waits for it.
    pub fn shutdown(self) {
        self.stop_handle().stop();
        self.wait();
    }
}

/// The first half of starting: accounts loaded, TCP port and admin socket bound, no thread
/// and no async reactor yet, so the process may still fork (daemon mode) before
/// [`Bound::serve`]. Bind errors surface here, while the terminal is still attached.
pub struct Bound {
    config: Config,
    overrides: Overrides,
    accounts: Arc<Accounts>,
    listener: TcpListener,
    local: SocketAddr,
    tls: Option<TlsBound>,
    admin: AdminListener,
    clock: AnyClock,
    reload_hook: Option<ReloadHook>,
}

/// The TLS listener, bound, and the certificate it starts with.
struct TlsBound {
    listener: TcpListener,
    local: SocketAddr,
    loaded: Loaded,
}

impl Bound {
    /// The bound TCP address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The bound TLS address, when `[tls]` is configured.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().map(|t| t.local)
    }

    /// The admin socket path.
    pub fn admin_socket(&self) -> &std::path::Path {
        self.admin.path()
    }

    /// Runs the server's logic on `clock` (a test's [`ManualClock`](crate::clock::ManualClock))
    /// instead of the system's.
    pub fn with_clock(mut self, clock: impl Into<AnyClock>) -> Bound {
        self.clock = clock.into();
        self
    }

    /// Has `chatctl reload` run `hook` (which should call [`Shared::reload`]) instead of a plain
    /// reload: the process adds its systemd notifications this way.
    pub fn on_reload(
        mut self,
        hook: impl Fn(&Shared) -> Result<String, ReloadError> + Send + Sync + 'static,
    ) -> Bound {
        self.reload_hook = Some(Arc::new(hook));
        self
    }

    /// The second half: opens the store, starts the executor threads and serves. Returns once
    /// everything runs, so a caller can announce readiness.
    ///
    /// # Errors
    /// [`StartError`] naming what failed; the admin socket file is removed then.
    pub fn serve(self) -> Result<Running, StartError> {
        let socket_file = self.admin.socket_file().clone();
        let result = self.serve_inner();
        if result.is_err() {
            socket_file.remove();
        }
        result
    }

    fn serve_inner(self) -> Result<Running, StartError> {
        let Bound {
            config,
            overrides,
            accounts,
            listener,
            local,
            tls,
            admin,
            clock,
            reload_hook,
        } = self;
        let addr = local;
        let listener = Async::new(listener).map_err(|source| StartError::Bind { addr, source })?;
        let (tls_listener, certificate, tls_local) = match tls {
            Some(t) => {
                let addr = t.local;
                let listener =
                    Async::new(t.listener).map_err(|source| StartError::Bind { addr, source })?;
                let fingerprint = t.loaded.fingerprint.clone();
                (
                    Some(listener),
                    Some(Certificate::new(t.loaded)),
                    Some((addr, fingerprint)),
                )
            }
            None => (None, None, None),
        };
        let (store, snapshot) = SqliteStore::open(&config.data_dir)?;
        let admin_path = admin.path().to_path_buf();
        let (admin, admin_file) = admin.into_async()?;
        let ex = Arc::new(Executor::new());
        let hub = Hub::new(
            snapshot.blocks,
            snapshot.last_seen,
            &snapshot.counters,
            clock.clone(),
        );
        hub.msg_ids_above(snapshot.max_msg_id);
        let shared = Arc::new(Shared::new(Parts {
            config,
            overrides,
            accounts,
            lockout: Lockout::new(snapshot.locks),
            store,
            hub,
            clock,
            ex: Arc::clone(&ex),
            tls: certificate,
            reload_hook,
        }));
        let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
        let (stop_workers, workers_rx) = async_channel::bounded::<()>(1);
        let threads = executor_threads(shared.config().threads);
        let mut workers = Vec::new();
        // The serving thread below is one of them.
        for i in 0..threads - 1 {
            let ex = Arc::clone(&ex);
            let rx = workers_rx.clone();
            workers.push(
                std::thread::Builder::new()
                    .name(format!("chatd-worker-{i}"))
                    .spawn(move || {
                        crate::runtime::drive(&ex, async {
                            let _ = rx.recv().await;
                        })
                    })
                    .map_err(StartError::Thread)?,
            );
        }
        let main_shared = Arc::clone(&shared);
        let main = std::thread::Builder::new()
            .name("chatd-main".into())
            .spawn(move || {
                let ex = Arc::clone(&main_shared.ex);
                let listeners = Listeners {
                    plain: listener,
                    tls: tls_listener,
                };
                // `serve` runs as a task of its own, not as the future `run` is given: that
                // future is polled again every time this thread wakes or has run a batch of
                // tasks, and each poll of an accept that had found nothing made it try
                // `accept4` again (EAGAIN). As a task it is polled only when its own
                // listeners, the admin socket or the stop signal wake it.
                let serving = ex.spawn(serve(main_shared, listeners, admin, admin_file, stop_rx));
                crate::runtime::drive(&ex, serving);
            })
            .map_err(StartError::Thread)?;
        log::info!("admin socket at {}", admin_path.display());
        log::info!("listening on {local}");
        if let Some((addr, fingerprint)) = &tls_local {
            log::info!("listening for TLS on {addr} (certificate SHA-256 {fingerprint})");
        }
        // Only now: a start-up that fails says why, not these.
        warn_plain_text(&shared);
        if tls_local.is_none() && !local.ip().is_loopback() {
            log::warn!(
                "serving {local} without TLS: passwords and messages cross the network in \
                 clear; bind = \"127.0.0.1\" for this machine only, or add a [tls] table \
                 (docs/OPERATING.md, \"Certificates\")"
            );
        }
        Ok(Running {
            addr: local,
            tls_addr: tls_local.map(|(addr, _)| addr),
            shared,
            stop: stop_tx,
            main: Some(main),
            workers,
            stop_workers,
        })
    }
}

/// Warns when accounts still have plain-text passwords (logged once the server serves).
fn warn_plain_text(shared: &Shared) {
    let (total, plain) = shared.accounts.counts();
    if plain > 0 {
        let (verb, noun) = if plain == 1 {
            ("has a", "password")
        } else {
            ("have", "passwords")
        };
        log::warn!(
            "{plain} of {total} accounts in {} {verb} plain-text {noun}; run `chatd hash-credentials` to hash them",
            shared.config().credentials.display()
        );
    }
}

/// Loads accounts and binds the TCP port and the admin socket, without starting any thread.
/// The admin socket is set up first, so a second chatd on the same files is told that chatd
/// is already running rather than that the port is busy.
///
/// # Errors
/// [`StartError`] naming what failed.
pub fn bind(config: Config, overrides: Overrides) -> Result<Bound, StartError> {
    let accounts = Arc::new(Accounts::load(&config.credentials)?);
    let loaded = config.tls.as_ref().map(crate::tls::load).transpose()?;
    let admin = AdminListener::bind(&config.admin_socket)?;
    let listen = |addr: SocketAddr| {
        TcpListener::bind(addr)
            .and_then(|l| Ok((l.local_addr()?, l)))
            .map_err(|source| StartError::Bind { addr, source })
    };
    let bound = listen(SocketAddr::new(config.bind, config.port)).and_then(|(local, listener)| {
        let tls = match (&config.tls, loaded) {
            (Some(t), Some(loaded)) => {
                let (local, listener) = listen(SocketAddr::new(t.bind, t.port))?;
                Some(TlsBound {
                    listener,
                    local,
                    loaded,
                })
            }
            _ => None,
        };
        Ok((local, listener, tls))
    });
    let (local, listener, tls) = match bound {
        Ok(v) => v,
        Err(e) => {
            admin.remove_file();
            return Err(e);
        }
    };
    Ok(Bound {
        config,
        overrides,
        accounts,
        listener,
        local,
        tls,
        admin,
        clock: AnyClock::System,
        reload_hook: None,
    })
}

/// Loads accounts, binds, opens the store and starts serving on background threads
/// ([`bind`] then [`Bound::serve`]). Returns once the port is bound, so a caller can announce
/// readiness.
///
/// # Errors
/// [`StartError`] naming what failed.
pub fn start(config: Config, overrides: Overrides) -> Result<Running, StartError> {
    bind(config, overrides)?.serve()
}

/// [`start`] with the server's logic on `clock` (tests: a [`ManualClock`](crate::clock::ManualClock)).
///
/// # Errors
/// [`StartError`] naming what failed.
pub fn start_with_clock(
    config: Config,
    overrides: Overrides,
    clock: impl Into<AnyClock>,
) -> Result<Running, StartError> {
    bind(config, overrides)?.with_clock(clock).serve()
}

/// The listening sockets.
struct Listeners {
    plain: Async<TcpListener>,
    tls: Option<Async<TcpListener>>,
}

/// The accept loops plus the shutdown sequence.
async fn serve(
    shared: Arc<Shared>,
    listeners: Listeners,
    admin: Async<UnixListener>,
    admin_file: SocketFile,
    stop: Receiver<()>,
) {
    let (alive_tx, alive_rx) = async_channel::bounded::<()>(1);
    let heartbeat = shared.ex.spawn({
        let shared = Arc::clone(&shared);
        async move {
            loop {
                Timer::after(HEARTBEAT).await;
                if let Err(e) = shared.store.heartbeat(shared.hub.counters.to_save()).await {
                    log::error!("store heartbeat failed: {e}");
                }
            }
        }
    });
    let presence = shared.ex.spawn({
        let shared = Arc::clone(&shared);
        async move { shared.hub.presence_rounds(crate::runtime::idle).await }
    });
    let tls_accept = async {
        match &listeners.tls {
            Some(listener) => accept_loop(&shared, listener, &alive_tx, true).await,
            None => future::pending().await,
        }
    };
    future::or(
        future::or(
            future::or(
                accept_loop(&shared, &listeners.plain, &alive_tx, false),
                tls_accept,
            ),
            admin_loop(Arc::clone(&shared), &admin),
        ),
        async {
            let _ = stop.recv().await;
        },
    )
    .await;
    log::info!(
        "shutting down: telling {} connections",
        shared.hub.connection_count()
    );
    drop(listeners);
    shared.hub.shutdown();
    drop(alive_tx);
    let drained = future::or(
        async {
            let _ = alive_rx.recv().await;
            true
        },
        async {
            Timer::after(DRAIN_GRACE).await;
            false
        },
    )
    .await;
    if !drained {
        log::warn!(
            "{} connections did not finish in time; closing them",
            shared.hub.connection_count()
        );
    }
    heartbeat.cancel().await;
    presence.cancel().await;
    let _ = shared.store.heartbeat(shared.hub.counters.to_save()).await;
    let store_owner = Arc::clone(&shared);
    smol::unblock(move || Store::close(&store_owner.store)).await;
    // Last: while the file exists a new chatd is refused, so it must outlive the drain.
    drop(admin);
    admin_file.remove();
    log::info!("shutdown complete");
}

/// Accepts connections on `listener`, TLS ones when `tls` (each handshake with the certificate
/// in force when it was accepted).
async fn accept_loop(
    shared: &Arc<Shared>,
    listener: &Async<TcpListener>,
    alive: &Sender<()>,
    tls: bool,
) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let _ = stream.get_ref().set_nodelay(true);
                let socket = match (tls, &shared.tls) {
                    (false, _) => Socket::Tcp(stream),
                    (true, Some(certificate)) => {
                        match rustls::ServerConnection::new(certificate.config()) {
                            Ok(conn) => Socket::Tls(Box::new(TlsSocket::new(stream, conn))),
                            Err(e) => {
                                log::error!("cannot start TLS with {addr}: {e}");
                                continue;
                            }
                        }
                    }
                    (true, None) => continue,
                };
                let task = connection_loop(Arc::clone(shared), socket, addr, alive.clone());
                // Detached: each connection holds a clone of `alive`, and shutdown waits for
                // every clone to drop, so no connection outlives the server unnoticed.
                shared.ex.spawn(task).detach();
            }
            Err(e) => {
                log::error!("accept failed: {e}");
                // Out of file descriptors and the like: back off instead of spinning.
                Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
}

/// How many threads run the executor: `configured`, or for 0 one per core but one, at least
/// one. On two cores one executor thread measured clearly faster for messaging (no cross-thread
/// wake-ups; see docs/BENCHMARKS.md), while the store thread, password hashing and the kernel
/// use the other core.
fn executor_threads(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .max(1)
}
