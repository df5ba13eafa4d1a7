//! chatd, the chat server, as a library: [`server::bind`] loads accounts and binds the sockets,
//! [`server::Bound::serve`] serves on background threads ([`server::start`] does both),
//! [`server::Running`] waits for or triggers the graceful shutdown. `main.rs` only turns
//! arguments into a [`config::Config`]; [`daemon`] holds the process-level parts it uses
//! (logging, pid file, forking, signals, systemd notifications), and [`admin`] the Unix socket
//! that `chatctl` talks to.
//!
//! Layers, outermost first: `server` (accept loop, shutdown) → `connection` (one client's
//! reader and writer) → `hub` (routing, presence, private introductions) → `auth`
//! (credentials, lockout) and `store` (SQLite on its own thread); `credentials` is the offline
//! `hash-credentials` rewrite of the accounts file.

pub mod admin;
pub mod auth;
pub mod config;
pub mod connection;
pub mod credentials;
pub mod daemon;
pub mod hub;
pub mod server;
pub mod store;

pub use config::{Config, Overrides};
pub use server::{bind, start, Bound, Running, Shared, StartError, StopHandle};
