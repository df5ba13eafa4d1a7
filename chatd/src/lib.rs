//! chatd, the chat server, as a library: [`bind`] loads accounts and binds the sockets,
//! [`Bound::serve`] serves on background threads ([`start`] does both), [`Running`] waits for
//! or triggers the graceful shutdown. `main.rs` only turns arguments into a [`Config`];
//! [`daemon`] holds the process-level parts it uses (logging, pid file, forking, signals,
//! systemd notifications), [`credentials`] the offline `hash-credentials` rewrite, and
//! [`tls`] the certificate (loaded, reloaded, and made by `gen-cert`).
//!
//! Layers, outermost first (docs/ARCHITECTURE.md draws them): `server` (accept loop,
//! shutdown) → `connection` (one client's life) over `transport` (bytes and bounded lines,
//! TCP or TLS)
//! → `frontend` (JSON lines ⇄ requests and answers) → `commands` (one module per command,
//! the table, the error wording) → `hub` (presence, routing, private brokering, views) →
//! the seams of `seams` (`Store`, `Directory`, `Bus`), with `store` (SQLite) and `auth`
//! (accounts, lockout) below; `state` holds what they share, `clock` the time they read.

mod admin;
mod auth;
pub mod clock;
pub mod config;
mod connection;
pub mod credentials;
pub mod daemon;
mod files;
mod frontend;
mod hub;
mod runtime;
mod seams;
mod server;
mod spares;
mod state;
pub mod store;
pub mod tls;
mod transport;

mod commands;

pub use clock::ManualClock;
pub use config::{Config, Overrides, TlsConfig};
pub use server::{bind, start, start_with_clock, Bound, Running, StartError};
pub use state::{ReloadError, Shared, StopHandle};
