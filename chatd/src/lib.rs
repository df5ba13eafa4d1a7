//! chatd, the chat server, as a library: [`server::start`] binds and serves on background
//! threads, [`server::Running`] waits for or triggers the graceful shutdown. `main.rs` only
//! turns arguments into a [`config::Config`] and handles signals.
//!
//! Layers, outermost first: `server` (accept loop, shutdown) → `connection` (one client's
//! reader and writer) → `hub` (routing, presence, private introductions) → `auth`
//! (credentials, lockout) and `store` (SQLite on its own thread); `credentials` is the offline
//! `hash-credentials` rewrite of the accounts file.

pub mod auth;
pub mod config;
pub mod connection;
pub mod credentials;
pub mod hub;
pub mod server;
pub mod store;

pub use config::{Config, Overrides};
pub use server::{start, Running, Shared, StartError, StopHandle};
