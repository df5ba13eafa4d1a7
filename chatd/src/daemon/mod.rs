//! The process around the server: logging setup (stderr, a log file, or journald's priority
//! prefixes), the pid file, forking into the background with a start-up report back to the
//! terminal, systemd notifications, and the signal thread (SIGTERM/SIGINT shut down, SIGHUP
//! reloads). It does not decide *what* a reload or a shutdown does: that is
//! [`Shared::reload`] and [`StopHandle::stop`].
//!
//! Daemon mode, step by step:
//!
//! ```text
//!   chatd (terminal)                         daemon (detached)
//!   lock the pid file, bind the sockets
//!   fork ── setsid, fork ───────────────────> chdir /, stdio to /dev/null or the log file
//!   wait on the start-up pipe                  write the pid, open the store, serve
//!   <──────────────────── "ok" or the error ── report
//!   exit 0 (or 1 with the error)               ... SIGTERM: drain, remove pid file, exit 0
//! ```

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sd_notify::NotifyState;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::state::{ReloadError, Shared, StopHandle};

mod fork;

pub use fork::{daemonize, Forked, PidFile, Readiness, StartupReport};

/// How long a graceful shutdown may take before the process gives up waiting and exits
/// non-zero (the drain itself is bounded by the server at a few seconds; this is the backstop
/// should the store hang on a dying disk).
pub const SHUTDOWN_LIMIT: Duration = Duration::from_secs(20);

/// A failure of the process-level machinery.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The pid file is locked by a running chatd.
    #[error("chatd is already running (pid {pid}, pid file {path})")]
    PidFileHeld {
        /// The pid file.
        path: PathBuf,
        /// What it says.
        pid: String,
    },
    /// The pid file could not be opened, locked or written.
    #[error("pid file {path}: {source}")]
    PidFile {
        /// The pid file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The log file could not be opened or put in place of stderr.
    #[error("log file {path}: {source}")]
    LogFile {
        /// The log file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Forking failed.
    #[error("cannot daemonize: {0}")]
    Fork(String),
    /// Signal handlers or the signal thread could not be set up.
    #[error("cannot handle signals: {0}")]
    Signals(std::io::Error),
}

/// Sets up `log` with a `RUST_LOG`-style filter (default `info`), one line per event: to
/// `log_file` when given (from the first line on, so a daemon's log file tells its whole
/// story), else to stderr. Under systemd (stderr is the journal, per `JOURNAL_STREAM`) lines
/// carry a `<N>` syslog priority and no timestamp, since journald adds its own; elsewhere they
/// carry a UTC timestamp and the level.
pub fn init_logging(log_file: Option<File>) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    let to_stderr = log_file.is_none();
    if to_stderr && stderr_is_journal() {
        builder.format(|buf, record| {
            let priority = match record.level() {
                log::Level::Error => 3,
                log::Level::Warn => 4,
                log::Level::Info => 6,
                log::Level::Debug | log::Level::Trace => 7,
            };
            writeln!(buf, "<{priority}>{}: {}", record.target(), record.args())
        });
    } else {
        builder.format_timestamp_secs();
    }
    if let Some(file) = log_file {
        builder.target(env_logger::Target::Pipe(Box::new(file)));
    }
    // Colour only for a person watching a terminal.
    if !to_stderr || !std::io::stderr().is_terminal() {
        builder.write_style(env_logger::WriteStyle::Never);
    }
    builder.init();
}

/// Whether stderr is connected to the journal (systemd sets `JOURNAL_STREAM=dev:inode`).
fn stderr_is_journal() -> bool {
    let Ok(expected) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    expected == format!("{}:{}", meta.dev(), meta.ino())
}

/// Opens (creating, mode 0640) `path` for appending log lines.
///
/// # Errors
/// [`DaemonError::LogFile`].
pub fn open_log_file(path: &Path) -> Result<File, DaemonError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .map_err(|source| DaemonError::LogFile {
            path: path.to_path_buf(),
            source,
        })
}

/// Points file descriptor 2 at `log`, so log lines and any panic message land there.
///
/// # Errors
/// [`DaemonError::LogFile`] if `dup2` fails.
pub fn redirect_stderr(log: &File, path: &Path) -> Result<(), DaemonError> {
    // SAFETY: dup2 on two descriptors this process owns; fd 2 is replaced atomically.
    let rc = unsafe { libc::dup2(log.as_raw_fd(), libc::STDERR_FILENO) };
    if rc < 0 {
        return Err(DaemonError::LogFile {
            path: path.to_path_buf(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Sends `states` to systemd when run as a `Type=notify` service; a no-op elsewhere.
pub fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        log::debug!("sd_notify failed: {e}");
    }
}

/// Tells systemd the server is ready (after it listens).
pub fn notify_ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Serializes reloads: SIGHUP and `chatctl reload` may arrive together.
static RELOAD: Mutex<()> = Mutex::new(());

/// Reloads config and credentials ([`Shared::reload`]), telling systemd (`RELOADING=1`, then
/// `READY=1`) and logging a refusal. Shared by SIGHUP and `chatctl reload`.
///
/// # Errors
/// Why the reload was refused (the old configuration stays in force), or which credential
/// lines were skipped.
pub fn reload(shared: &Shared) -> Result<String, ReloadError> {
    let _one_at_a_time = RELOAD.lock().unwrap_or_else(|e| e.into_inner());
    let mut states = vec![NotifyState::Reloading];
    // systemd's Type=notify-reload wants the time with RELOADING=1; plain Type=notify ignores it.
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    notify(&states);
    let result = shared.reload();
    match &result {
        Ok(_) => notify(&[NotifyState::Ready, NotifyState::Status("reloaded")]),
        Err(ReloadError::Skipped(_)) => notify(&[
            NotifyState::Ready,
            NotifyState::Status("reloaded; credential lines skipped"),
        ]),
        Err(ReloadError::Refused(e)) => {
            log::error!("reload failed, keeping the old configuration: {e}");
            notify(&[
                NotifyState::Ready,
                NotifyState::Status("reload failed; old configuration in force"),
            ]);
        }
    }
    result
}

/// Installs the handlers for SIGINT, SIGTERM and SIGHUP. Call it before announcing readiness,
/// so a signal sent as soon as chatd is up is never lost to the default action.
///
/// # Errors
/// [`DaemonError::Signals`].
pub fn install_signals() -> Result<Signals, DaemonError> {
    Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(DaemonError::Signals)
}

/// Handle to the signal thread.
pub struct SignalThread {
    handle: signal_hook::iterator::Handle,
}

impl SignalThread {
    /// Stops the thread (once the server has shut down).
    pub fn close(self) {
        self.handle.close();
    }
}

/// Runs the signal thread: SIGHUP reloads; the first SIGTERM or SIGINT starts the graceful
/// shutdown (and tells systemd `STOPPING=1`); a second one, or a shutdown still running after
/// [`SHUTDOWN_LIMIT`], calls `give_up` with the reason (the binary exits non-zero there).
///
/// # Errors
/// [`DaemonError::Signals`] if the thread cannot start.
pub fn spawn_signal_thread(
    mut signals: Signals,
    stop: StopHandle,
    shared: Arc<Shared>,
    give_up: fn(&str),
) -> Result<SignalThread, DaemonError> {
    let handle = signals.handle();
    std::thread::Builder::new()
        .name("chatd-signals".into())
        .spawn(move || {
            let mut stopping = false;
            for sig in signals.forever() {
                match sig {
                    SIGHUP => {
                        log::info!("SIGHUP: reloading the configuration and the credentials");
                        let _ = reload(&shared);
                    }
                    _ if stopping => give_up("second stop signal: exiting without waiting"),
                    _ => {
                        stopping = true;
                        let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                        log::info!("{name}: shutting down");
                        notify(&[NotifyState::Stopping, NotifyState::Status("shutting down")]);
                        stop.stop();
                        let watchdog = std::thread::Builder::new()
                            .name("chatd-shutdown-watchdog".into())
                            .spawn(move || {
                                std::thread::sleep(SHUTDOWN_LIMIT);
                                give_up("shutdown did not finish in time: exiting without waiting");
                            });
                        if let Err(e) = watchdog {
                            log::warn!("no shutdown watchdog: {e}");
                        }
                    }
                }
            }
        })
        .map_err(DaemonError::Signals)?;
    Ok(SignalThread { handle })
}
