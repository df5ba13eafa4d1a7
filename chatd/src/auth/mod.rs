//! Accounts and login locks: the `credentials.txt` file (plain-text seed lines and argon2id
//! hashes), password checks, registration ([`accounts`]), the password format and hashing
//! ([`secret`]), and the three-strikes lockout ([`lockout`]).
//!
//! Password hashing and checking are CPU-heavy, so they run on the blocking thread pool
//! (`smol::unblock`), never on the executor's threads. Passwords never reach a log line.

pub(crate) mod accounts;
pub(crate) mod lockout;
pub(crate) mod secret;

pub use accounts::{Accounts, Registered, Verdict};
pub use lockout::{Lockout, Strike};
pub use secret::AuthError;
