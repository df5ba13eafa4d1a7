//! Accounts and login locks: the `credentials.txt` file (plain-text seed lines and argon2id
//! hashes), password checks, registration ([`accounts`]), the password format and hashing
//! ([`secret`]), and the three-strikes lockout ([`lockout`]).
//!
//! Password hashing and checking are CPU-heavy, so they run on the blocking thread pool
//! (`smol::unblock`), never on the executor's threads. Passwords never reach a log line.

use std::path::PathBuf;

pub(crate) mod accounts;
pub(crate) mod lockout;
pub(crate) mod secret;

pub use accounts::{Accounts, Registered, Verdict};
pub use lockout::{Lockout, Strike};

/// An accounts-file failure.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The credentials file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Hashing failed (should not happen with valid parameters).
    #[error("password hashing failed: {0}")]
    Hash(String),
}
