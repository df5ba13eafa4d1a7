//! Accounts and login locks: the `credentials.txt` file (plain-text seed lines and argon2id
//! hashes), password checks, registration ([`accounts`]), the atomic rewrite of one account's
//! line ([`rewrite`]), the password format ([`secret`]), hashing on reused memory
//! ([`hashing`]), the three-strikes lockout ([`lockout`]) and the registrations-per-address
//! limit ([`registrations`]).
//!
//! Password hashing and checking are CPU- and memory-heavy, so they run in a fixed set of
//! slots on the blocking thread pool (`smol::unblock`), never on the executor's threads.
//! Passwords never reach a log line.

pub(crate) mod accounts;
pub(crate) mod hashing;
pub(crate) mod lockout;
pub(crate) mod registrations;
pub(crate) mod rewrite;
pub(crate) mod secret;

pub use accounts::{Accounts, Registered, Verdict};
pub use lockout::{Lockout, Strike};
pub use registrations::Registrations;
pub use secret::AuthError;
