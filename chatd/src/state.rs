//! The server's shared state ([`Shared`]): the configuration in force (and its reload, TLS
//! certificate included), the accounts, the lockout, the store, the hub, the clock and the
//! executor. It sits below every
//! layer that uses it (connections, commands, the admin socket, the process around the server),
//! so none of them imports the accept loop. What the process adds around a reload (telling
//! systemd) is passed in as a [`ReloadHook`], never called upward.

use std::sync::{Arc, RwLock};

use smol::Executor;

use crate::auth::{Accounts, Lockout, Registrations};
use crate::clock::AnyClock;
use crate::config::{Config, Overrides};
use crate::hub::Hub;
use crate::store::SqliteStore;
use crate::tls::Certificate;

/// What runs a reload: [`Shared::reload`] plus whatever the process adds around it.
pub type ReloadHook = Arc<dyn Fn(&Shared) -> Result<String, ReloadError> + Send + Sync>;

/// Why a reload did not fully work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    /// The config (or the credentials file) was refused; the old one stays in force.
    #[error("{0}")]
    Refused(String),
    /// The reload was applied, but lines of the credentials file are not accounts (each is
    /// logged with its reason).
    #[error("{0}")]
    Skipped(String),
}

/// State shared by every connection and the admin socket.
pub struct Shared {
    /// Replaced whole on reload; read with [`Shared::config`].
    config: RwLock<Arc<Config>>,
    /// Command-line overrides, re-applied on reload.
    overrides: Overrides,
    /// Accounts.
    pub(crate) accounts: Arc<Accounts>,
    /// Login failures and locks.
    pub(crate) lockout: Lockout,
    /// Recent registrations per address (`limits.registrations_per_ip_per_hour`).
    pub(crate) registrations: Registrations,
    /// Durable state (the [`Store`](crate::seams::Store) chosen at start).
    pub(crate) store: SqliteStore,
    /// Routing.
    pub hub: Hub,
    /// Time for the server's logic.
    pub(crate) clock: AnyClock,
    /// The executor every task runs on.
    pub(crate) ex: Arc<Executor<'static>>,
    /// The TLS certificate in force, when a TLS listener runs.
    pub(crate) tls: Option<Certificate>,
    /// Runs `chatctl reload`.
    reload_hook: Option<ReloadHook>,
}

/// Everything [`Shared`] is made of.
pub(crate) struct Parts {
    pub config: Config,
    pub overrides: Overrides,
    pub accounts: Arc<Accounts>,
    pub lockout: Lockout,
    pub store: SqliteStore,
    pub hub: Hub,
    pub clock: AnyClock,
    pub ex: Arc<Executor<'static>>,
    pub tls: Option<Certificate>,
    pub reload_hook: Option<ReloadHook>,
}

impl Shared {
    pub(crate) fn new(p: Parts) -> Shared {
        Shared {
            config: RwLock::new(Arc::new(p.config)),
            overrides: p.overrides,
            accounts: p.accounts,
            lockout: p.lockout,
            registrations: Registrations::default(),
            store: p.store,
            hub: p.hub,
            clock: p.clock,
            ex: p.ex,
            tls: p.tls,
            reload_hook: p.reload_hook,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Reloads as `chatctl reload` does: through the hook the process passed in, else
    /// [`Shared::reload`] alone.
    ///
    /// # Errors
    /// Why the reload was refused, or which credential lines were skipped.
    pub(crate) fn run_reload(&self) -> Result<String, ReloadError> {
        match &self.reload_hook {
            Some(hook) => hook(self),
            None => self.reload(),
        }
    }

    /// Re-reads the config file (re-applying the command-line overrides), the TLS certificate
    /// and key, and the credentials file. Timeouts, block duration, limits and registration
    /// take effect at once for every session, a new certificate for every new handshake (open
    /// sessions keep theirs); the listening addresses, data directory and admin socket need a
    /// restart. A certificate that cannot be loaded refuses the whole reload.
    ///
    /// # Errors
    /// [`ReloadError::Refused`] saying why (the old config stays in force), or
    /// [`ReloadError::Skipped`] when the reload was applied but credential lines were skipped.
    pub fn reload(&self) -> Result<String, ReloadError> {
        let refused = |e: &dyn std::fmt::Display| ReloadError::Refused(e.to_string());
        let old = self.config();
        let mut new = match &old.source {
            Some(path) => Config::from_file(path).map_err(|e| refused(&e))?,
            None => Config::default(),
        };
        new.apply(&self.overrides).map_err(|e| refused(&e))?;
        let mut notes = Vec::new();
        if (new.bind, new.port) != (old.bind, old.port) {
            notes.push("the listening address");
        }
        if new.data_dir != old.data_dir {
            notes.push("data_dir");
        }
        if new.admin_socket != old.admin_socket {
            notes.push("admin_socket");
        }
        if new.credentials != old.credentials {
            notes.push("credentials");
        }
        if new.threads != old.threads {
            notes.push("threads");
        }
        let certificate = match (&old.tls, &mut new.tls, &self.tls) {
            (Some(was), Some(now), Some(_)) => {
                if (now.bind, now.port) != (was.bind, was.port) {
                    notes.push("the TLS listening address");
                    now.bind = was.bind;
                    now.port = was.port;
                }
                Some(crate::tls::load(now).map_err(|e| refused(&e))?)
            }
            (was, now, _) => {
                if was.is_some() != now.is_some() {
                    notes.push("[tls]");
                }
                // Without a TLS listener there is nothing to load, and one is started only
                // at start: keep the table as it was.
                new.tls = old.tls.clone();
                None
            }
        };
        // Keep what needs a restart as it is.
        new.bind = old.bind;
        new.port = old.port;
        new.data_dir = old.data_dir.clone();
        new.admin_socket = old.admin_socket.clone();
        new.credentials = old.credentials.clone();
        new.threads = old.threads;
        let accounts = self.accounts.reload().map_err(|e| refused(&e))?;
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
        self.hub.reloaded();
        // Accounts removed from the file by hand leave nothing behind, as `chatctl user del`.
        // A reload runs off the executor (signal thread, blocking pool), so it may wait here.
        for user in &accounts.gone {
            let (online, purge) = self.forget_account(user, ACCOUNT_REMOVED);
            match smol::block_on(purge) {
                Ok(()) => log::info!(
                    "account {user} is no longer in the credentials file: removed{}",
                    if online {
                        " (it was online: disconnected)"
                    } else {
                        ""
                    }
                ),
                Err(e) => log::error!("account {user} removed, but its stored data stays: {e}"),
            }
        }
        let mut msg = format!("reloaded configuration and {} accounts", accounts.accounts);
        if let (Some(loaded), Some(tls)) = (certificate, &self.tls) {
            let changed = loaded.fingerprint != tls.fingerprint();
            msg.push_str(&format!(
                "; TLS certificate {} (SHA-256 {})",
                if changed { "replaced" } else { "unchanged" },
                loaded.fingerprint
            ));
            tls.replace(loaded);
        }
        if !accounts.gone.is_empty() {
            msg.push_str(&format!("; removed {}", accounts.gone.join(", ")));
        }
        if !notes.is_empty() {
            msg.push_str(&format!(
                "; changes to {} take effect after a restart",
                notes.join(", ")
            ));
        }
        if !accounts.skipped.is_empty() {
            let lines: Vec<String> = accounts.skipped.iter().map(|n| n.to_string()).collect();
            msg.push_str(&format!(
                "; {} line{} of {} skipped (not accounts, see the log): {}",
                lines.len(),
                if lines.len() == 1 { "" } else { "s" },
                old.credentials.display(),
                lines.join(", ")
            ));
            log::warn!("{msg}");
            return Err(ReloadError::Skipped(msg));
        }
        log::info!("{msg}");
        Ok(msg)
    }
}

/// The `kicked` reason a deleted account's session is given.
pub(crate) const ACCOUNT_REMOVED: &str = "Your account has been deleted";

impl Shared {
    /// Forgets account `user` (its registered name, already gone from the accounts) in
    /// memory: its session is disconnected with `reason`, its lock and the hub's block lists
    /// and history go. Returns whether it was online, and the job purging the store.
    pub(crate) fn forget_account(
        &self,
        user: &str,
        reason: &str,
    ) -> (bool, crate::store::StoreJob<()>) {
        self.lockout.clear(user, 0);
        self.hub.remove_account(user, reason, &self.store)
    }
}

/// Triggers a graceful shutdown from anywhere (a signal thread, the admin socket).
#[derive(Clone)]
pub struct StopHandle(pub(crate) async_channel::Sender<()>);

impl StopHandle {
    /// Starts the shutdown; returns at once. Calling it twice is harmless.
    pub fn stop(&self) {
        self.0.close();
    }
}
