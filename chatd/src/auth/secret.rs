//! How a password is kept and checked: the `user password` line format, argon2id hashes
//! (never a damaged one taken as plain text), constant-time comparison of plain-text seed
//! passwords (after one argon2 check, for equal timing), and fsyncing the directory of a file just created or
//! renamed.

use std::fs::File;
use std::path::{Path, PathBuf};

use argon2::password_hash::PasswordHash;

pub use super::hashing::{equalize_timing, hash_password};
use super::hashing::{spend_one_check, verify_with, Memory};

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

/// Whether a credentials line's password field is an argon2 PHC hash (else it is plain text):
/// it parses, with a salt and an output.
pub(crate) fn is_hash(field: &str) -> bool {
    field.starts_with("$argon2")
        && PasswordHash::new(field).is_ok_and(|h| h.salt.is_some() && h.hash.is_some())
}

/// Whether a password field looks like an argon2 hash but is not one: the start of one
/// (`$`, `$arg`, ...) or one that does not parse (a line cut short by an interrupted append).
/// Such a line is never taken as a plain-text password: that would make the damaged hash text
/// itself the password.
pub(crate) fn is_damaged_hash(field: &str) -> bool {
    (field.starts_with("$argon2") && !is_hash(field)) || "$argon2".starts_with(field)
}

/// Whether the last line of a file, which has no line ending, is what a registration cut short
/// leaves. chatd appends `user $argon2id$...` lines, each with its line end in the same write,
/// so a cut after the space leaves an empty field, the start of `$argon2id$`, or an `$argon2`
/// string that does not parse or whose output is shorter than the 32 bytes chatd writes. A
/// whole hash (as `hash-credentials` writes for a seed file's last line) and a plain-text
/// password (a hand-written seed file without a final line end, even one starting with `$`)
/// are accounts.
pub(crate) fn is_torn_registration(last_line: &str) -> bool {
    last_line.split_once(' ').is_some_and(|(_, field)| {
        field.is_empty()
            || "$argon2id$".starts_with(field)
            || (field.starts_with("$argon2")
                && !PasswordHash::new(field)
                    .is_ok_and(|h| h.salt.is_some() && h.hash.is_some_and(|out| out.len() == 32)))
    })
}

/// The lines of a credentials file's `text` for a rewrite that keeps every other byte: each as
/// `(raw, body, ending)`, where `raw` is the whole line, `body` it without its ending and
/// `ending` its own `\n` or `\r\n` (empty for a last line without one).
pub(crate) fn lines_with_endings(text: &str) -> impl Iterator<Item = (&str, &str, &str)> {
    text.split_inclusive('\n').map(|raw| {
        let body = raw.trim_end_matches('\n');
        let body = body.strip_suffix('\r').unwrap_or(body);
        (raw, body, &raw[body.len()..])
    })
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

    /// Whether `password` is right, in a hashing slot's `memory`. A plain-text password costs
    /// one argon2 check too, so a wrong password takes as long for a plain-text account as for
    /// a hashed one and timing does not tell them apart.
    pub(crate) fn check(&self, memory: &mut Memory, password: &str) -> bool {
        match self {
            Secret::Plain(p) => {
                spend_one_check(memory, password);
                constant_time_eq(p.as_bytes(), password.as_bytes())
            }
            Secret::Hash(h) => verify_with(memory, h, password),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::hashing::{hash_password, spend_one_check};

    /// Every check costs one argon2 computation, whatever the account and the password: a wrong
    /// password does not tell a plain-text account from a hashed one, nor from no account.
    #[test]
    fn every_check_costs_one_argon2_computation() {
        let mut memory = Memory::new();
        let hashed = Secret::parse(&hash_password("falcon*solo").unwrap());
        let plain = Secret::parse("falcon*solo");
        assert!(matches!(plain, Secret::Plain(_)));
        for (secret, password, right) in [
            (&plain, "falcon*solo", true),
            (&plain, "wrong", false),
            (&hashed, "falcon*solo", true),
            (&hashed, "wrong", false),
        ] {
            let before = memory.runs;
            assert_eq!(secret.check(&mut memory, password), right);
            assert_eq!(memory.runs - before, 1, "{secret:?} {password}");
        }
        let before = memory.runs;
        spend_one_check(&mut memory, "anything");
        assert_eq!(memory.runs - before, 1);
    }
}
