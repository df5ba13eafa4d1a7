//! How a password is kept and checked: the `user password` line format, argon2id hashes
//! (never a damaged one taken as plain text), constant-time comparison of plain-text seed
//! passwords, the bounded hashing pool, and fsyncing the directory of a file just created or
//! renamed.

use std::fs::File;
use std::path::{Path, PathBuf};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

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
    /// Two account names differ only in case; names are unique regardless of case.
    #[error(
        "{path}:{second}: user {second_name} is user {first_name} of line {first} in another \
         case (names are unique regardless of case); remove or rename one of the two lines"
    )]
    CaseDuplicate {
        /// The credentials file.
        path: PathBuf,
        /// The earlier line.
        first: usize,
        /// The name on it.
        first_name: String,
        /// The later line.
        second: usize,
        /// The name on it.
        second_name: String,
    },
    /// A reload would drop an account only because its line cannot be read.
    #[error(
        "{path}:{line}: the line of account {user} cannot be read (a malformed password or a \
         damaged hash); a reload would delete the account and everything kept for it: fix the \
         line, or remove it to delete the account"
    )]
    Unreadable {
        /// The credentials file.
        path: PathBuf,
        /// The line.
        line: usize,
        /// The account.
        user: String,
    },
    /// Hashing failed (should not happen with valid parameters).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// How a password is kept.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Secret {
    /// A seed line's plain text.
    Plain(String),
    /// An argon2 PHC string.
    Hash(String),
}

/// Whether a credentials line's password field is an argon2 PHC hash (else it is plain text).
pub(crate) fn is_hash(field: &str) -> bool {
    field.starts_with("$argon2") && PasswordHash::new(field).is_ok()
}

/// Whether a password field looks like an argon2 hash but does not parse as one (a line cut
/// short by a crash during an append). Such a line is never taken as a plain-text password:
/// that would make the damaged hash text itself the password.
pub(crate) fn is_damaged_hash(field: &str) -> bool {
    field.starts_with("$argon2") && !is_hash(field)
}

/// Splits an account line (without its line ending) into user name and password field;
/// `None` for blank lines, `#` comments and malformed lines.
pub(crate) fn account_line(line: &str) -> Option<(&str, &str)> {
    if line.trim().is_empty() || line.starts_with('#') {
        return None;
    }
    line.split_once(' ')
        .filter(|(user, secret)| proto::valid_username(user) && proto::valid_password(secret))
}

impl Secret {
    pub(crate) fn parse(field: &str) -> Secret {
        if is_hash(field) {
            Secret::Hash(field.to_string())
        } else {
            Secret::Plain(field.to_string())
        }
    }

    pub(crate) fn check(&self, password: &str) -> bool {
        match self {
            Secret::Plain(p) => constant_time_eq(p.as_bytes(), password.as_bytes()),
            Secret::Hash(h) => PasswordHash::new(h).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            }),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// Hashes `password` as an argon2id PHC string.
///
/// # Errors
/// [`AuthError::Hash`] if argon2 refuses (never with the default parameters).
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Runs a password hash or check on the blocking thread pool, at most a few at a time: each
/// one takes argon2's 19 MiB and tens of milliseconds of CPU, so a crowd of hostile logins
/// queues here instead of exhausting memory.
pub(crate) async fn hashing<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    static PERMITS: std::sync::OnceLock<smol::lock::Semaphore> = std::sync::OnceLock::new();
    let permits = PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        smol::lock::Semaphore::new(cores.max(2))
    });
    let _permit = permits.acquire().await;
    smol::unblock(work).await
}

/// Spends as long as checking a hashed password does, for answers that need no check
/// (unknown or locked account), so timing does not tell them apart from a wrong password.
pub async fn equalize_timing(password: &str) {
    static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let password = password.to_string();
    hashing(move || {
        let dummy = DUMMY.get_or_init(|| hash_password("not-a-real-account").ok());
        if let Some(hash) = dummy {
            let _ = Secret::Hash(hash.clone()).check(&password);
        }
    })
    .await;
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Fsyncs the directory holding `path`, so a rename or a creation in it is durable.
///
/// # Errors
/// The I/O error from opening or syncing the directory.
pub(crate) fn sync_parent(path: &Path) -> std::io::Result<()> {
    File::open(parent_dir(path))?.sync_all()
}
