//! Accounts and login locks: the `credentials.txt` file (plain-text seed lines and argon2id
//! hashes), password checks, registration ([`accounts`]), the password format ([`secret`]),
//! hashing on reused memory ([`hashing`]), and the three-strikes lockout ([`lockout`]).
//!
//! Password hashing and checking are CPU- and memory-heavy, so they run in a fixed set of
//! slots on the blocking thread pool (`smol::unblock`), never on the executor's threads.
//! Passwords never reach a log line.

pub(crate) mod accounts;
pub(crate) mod hashing;
pub(crate) mod lockout;
pub(crate) mod secret;

pub use accounts::{Accounts, Registered, Verdict};
pub use lockout::{Lockout, Strike};
pub use secret::AuthError;
