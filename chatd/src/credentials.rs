//! `chatd hash-credentials`: rewrites the plain-text passwords of a credentials file as
//! argon2id hashes, atomically, keeping every other byte (comments, blank lines, malformed
//! lines, order, line endings) as it was.
//!
//! The new file is written next to the old one, fsynced, renamed over it, and the directory is
//! fsynced, so a crash leaves either the old file or the new one, never a mix. Reading and
//! serving accounts is `auth`'s job; this module only rewrites the file.

use std::path::{Path, PathBuf};

use crate::auth::secret::{self, parent_dir, sync_parent};
use crate::auth::AuthError;

/// A failed rewrite. The original file is unchanged whenever this is returned.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// Reading, writing, syncing or renaming failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] AuthError),
    /// The file changed while it was being rewritten (a registration by a running chatd),
    /// every time it was tried.
    #[error("{path} kept changing while it was rewritten; try again, or stop chatd first")]
    Busy {
        /// The credentials file.
        path: PathBuf,
    },
}

/// What a rewrite did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rewritten {
    /// Passwords that were plain text and are now hashed.
    pub hashed: usize,
    /// Accounts whose password was already a hash.
    pub already_hashed: usize,
}

/// How often the rewrite starts over when the file changes under it.
const ATTEMPTS: usize = 3;

/// Hashes every plain-text password in the credentials file at `path` and replaces the file
/// atomically. Does not touch the file when nothing is plain text.
///
/// A running chatd may append a registration meanwhile: the file is read again just before the
/// rename, and the rewrite starts over if it changed.
///
/// # Errors
/// [`CredentialsError`]; the original file is then unchanged.
pub fn hash_credentials(path: &Path) -> Result<Rewritten, CredentialsError> {
    let io = |source| CredentialsError::Io {
        path: path.to_path_buf(),
        source,
    };
    for _ in 0..ATTEMPTS {
        let original = std::fs::read(path).map_err(io)?;
        let text = String::from_utf8_lossy(&original);
        let (rewritten, report) = rewrite(&text)?;
        if report.hashed == 0 {
            return Ok(report);
        }
        let tmp = write_temp(path, rewritten.as_bytes())?;
        let unchanged = std::fs::read(path).is_ok_and(|now| now == original);
        if !unchanged {
            let _ = std::fs::remove_file(&tmp);
            continue;
        }
        if let Err(source) = std::fs::rename(&tmp, path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(source));
        }
        sync_dir(path)?;
        return Ok(report);
    }
    Err(CredentialsError::Busy {
        path: path.to_path_buf(),
    })
}

/// The file's text with plain-text passwords hashed. Lines are split after each `\n`, so every
/// line keeps its own ending (or none, for a last line without one).
fn rewrite(text: &str) -> Result<(String, Rewritten), AuthError> {
    let mut out = String::with_capacity(text.len() * 2);
    let mut report = Rewritten::default();
    for (raw, body, ending) in secret::lines_with_endings(text) {
        match secret::account_line(body) {
            Some((_, secret)) if secret::is_hash(secret) => {
                report.already_hashed += 1;
                out.push_str(raw);
            }
            // A damaged hash is kept as it is (chatd skips the line), never hashed as if it
            // were a password.
            Some((_, secret)) if secret::is_damaged_hash(secret) => out.push_str(raw),
            Some((user, secret)) => {
                let hash = secret::hash_password(secret)?;
                out.push_str(user);
                out.push(' ');
                out.push_str(&hash);
                out.push_str(ending);
                report.hashed += 1;
            }
            None => out.push_str(raw),
        }
    }
    Ok((out, report))
}

/// Writes `bytes` to a new file beside `path` with the same permissions, and fsyncs it
/// ([`crate::auth::rewrite::write_temp`]).
fn write_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf, CredentialsError> {
    let meta = std::fs::metadata(path).map_err(|source| CredentialsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    crate::auth::rewrite::write_temp(path, bytes, Some(&meta))
        .map_err(|(path, source)| CredentialsError::Io { path, source })
}

/// [`sync_parent`], with the directory named in the error.
fn sync_dir(path: &Path) -> Result<(), CredentialsError> {
    sync_parent(path).map_err(|source| CredentialsError::Io {
        path: parent_dir(path),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth;

    #[test]
    fn rewrite_keeps_comments_order_and_endings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.txt");
        let already = secret::hash_password("old").unwrap();
        let text =
            format!("# accounts\r\nhans falcon*solo\r\n\nbad line here\nrey {already}\nnoeol pw");
        std::fs::write(&path, &text).unwrap();
        let report = hash_credentials(&path).unwrap();
        assert_eq!(
            report,
            Rewritten {
                hashed: 2,
                already_hashed: 1
            }
        );
        let new = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = new.split_inclusive('\n').collect();
        assert_eq!(lines[0], "# accounts\r\n");
        assert!(lines[1].starts_with("hans $argon2id$") && lines[1].ends_with("\r\n"));
        assert_eq!(
            lines[2..5],
            ["\n", "bad line here\n", &format!("rey {already}\n")]
        );
        assert!(lines[5].starts_with("noeol $argon2id$") && !lines[5].ends_with('\n'));
        assert!(!new.contains("falcon*solo"));
        // Nothing left to hash: the file is not touched again.
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert_eq!(hash_credentials(&path).unwrap().hashed, 0);
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            before
        );
        // No temp file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // The hashes verify.
        let acc = std::sync::Arc::new(auth::Accounts::load(&path).unwrap());
        assert_eq!(acc.counts(), (3, 0));
        assert_eq!(
            smol::block_on(acc.verify("hans", "falcon*solo")),
            auth::Verdict::Ok
        );
    }
}
