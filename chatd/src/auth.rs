//! Accounts and login locks: the `credentials.txt` file (plain-text seed lines and argon2id
//! hashes), password checks, registration, and the three-strikes lockout.
//!
//! Password hashing and checking are CPU-heavy, so they run on the blocking thread pool
//! (`smol::unblock`), never on the executor's threads. Passwords never reach a log line.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::store::LockState;

/// Wrong passwords in a row that lock an account.
pub const MAX_FAILURES: u32 = 3;

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

/// How a password is kept.
#[derive(Debug, Clone, PartialEq)]
enum Secret {
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
    fn parse(field: &str) -> Secret {
        if is_hash(field) {
            Secret::Hash(field.to_string())
        } else {
            Secret::Plain(field.to_string())
        }
    }

    fn check(&self, password: &str) -> bool {
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
async fn hashing<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
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

/// Result of a password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Right password.
    Ok,
    /// Wrong password.
    Wrong,
    /// No such account.
    Unknown,
}

/// Result of a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// Created and flushed to disk.
    Created,
    /// Someone registered the name first.
    Exists,
}

/// The accounts, loaded from the credentials file. Registration appends to it.
pub struct Accounts {
    path: PathBuf,
    /// Held briefly to look up or insert; never across an `.await`.
    map: Mutex<HashMap<String, Secret>>,
    /// Serializes appends to the file, so two registrations never interleave bytes.
    append: Mutex<()>,
}

/// Parses credentials text: `username password` per line; blank lines and `#` comments are
/// skipped; malformed lines are reported by number (never with their content, which may hold a
/// password) and skipped.
fn parse_credentials(text: &str, path: &Path) -> HashMap<String, Secret> {
    let mut map = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        match account_line(line) {
            Some((user, secret)) if is_damaged_hash(secret) => log::warn!(
                "{}:{}: the password hash of {user} is damaged (an interrupted write?); \
                 line skipped, the account must be registered again",
                path.display(),
                n + 1
            ),
            Some((user, secret)) => {
                if map
                    .insert(user.to_string(), Secret::parse(secret))
                    .is_some()
                {
                    log::warn!(
                        "{}:{}: user {user} appears again; the later line wins",
                        path.display(),
                        n + 1
                    );
                }
            }
            _ => log::warn!(
                "{}:{}: not a `username password` line; skipped",
                path.display(),
                n + 1
            ),
        }
    }
    map
}

impl Accounts {
    /// Loads the credentials file; a missing file is created empty.
    ///
    /// # Errors
    /// [`AuthError::Io`] when the file cannot be read or created.
    pub fn load(path: &Path) -> Result<Accounts, AuthError> {
        let io = |source| AuthError::Io {
            path: path.to_path_buf(),
            source,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(io)?;
                // The new file's name must be durable too, or fsynced appends could vanish
                // with it after a crash.
                crate::credentials::sync_parent(path).map_err(io)?;
                String::new()
            }
            Err(e) => return Err(io(e)),
        };
        let map = parse_credentials(&text, path);
        Ok(Accounts {
            path: path.to_path_buf(),
            map: Mutex::new(map),
            append: Mutex::new(()),
        })
    }

    /// Re-reads the file, replacing the accounts in memory. Returns how many there are.
    ///
    /// # Errors
    /// [`AuthError::Io`] when the file cannot be read; the old accounts stay.
    pub fn reload(&self) -> Result<usize, AuthError> {
        let _appending = self.append.lock().unwrap_or_else(|e| e.into_inner());
        let text = std::fs::read_to_string(&self.path).map_err(|source| AuthError::Io {
            path: self.path.clone(),
            source,
        })?;
        let map = parse_credentials(&text, &self.path);
        let n = map.len();
        *self.map.lock().unwrap_or_else(|e| e.into_inner()) = map;
        Ok(n)
    }

    /// The credentials file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `user` has an account.
    pub fn exists(&self, user: &str) -> bool {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(user)
    }

    /// Number of accounts, and how many of them still have plain-text passwords.
    pub fn counts(&self) -> (usize, usize) {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let plain = map
            .values()
            .filter(|s| matches!(s, Secret::Plain(_)))
            .count();
        (map.len(), plain)
    }

    /// All account names (for tab completion, admin listings).
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<_> = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Checks `password` for `user` off the executor threads.
    pub async fn verify(self: &Arc<Self>, user: &str, password: &str) -> Verdict {
        let secret = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .cloned();
        let Some(secret) = secret else {
            equalize_timing(password).await;
            return Verdict::Unknown;
        };
        let password = password.to_string();
        let ok = match secret {
            Secret::Plain(_) => secret.check(&password),
            Secret::Hash(_) => hashing(move || secret.check(&password)).await,
        };
        if ok {
            Verdict::Ok
        } else {
            Verdict::Wrong
        }
    }

    /// Creates `user` with an argon2id hash of `password`, appended to the file and flushed
    /// to disk before this returns.
    ///
    /// # Errors
    /// [`AuthError`] when the hash or the write fails; the account then does not exist.
    pub async fn register(
        self: &Arc<Self>,
        user: &str,
        password: &str,
    ) -> Result<Registered, AuthError> {
        if self.exists(user) {
            return Ok(Registered::Exists);
        }
        let me = Arc::clone(self);
        let (user, password) = (user.to_string(), password.to_string());
        hashing(move || {
            let hash = hash_password(&password)?;
            let _appending = me.append.lock().unwrap_or_else(|e| e.into_inner());
            if me.exists(&user) {
                return Ok(Registered::Exists);
            }
            me.append_line(&format!("{user} {hash}"))?;
            me.map
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(user, Secret::Hash(hash));
            Ok(Registered::Created)
        })
        .await
    }

    /// Appends one line (adding a newline before it if the file does not end in one) and fsyncs.
    fn append_line(&self, line: &str) -> Result<(), AuthError> {
        let io = |source| AuthError::Io {
            path: self.path.clone(),
            source,
        };
        let needs_newline = match std::fs::read(&self.path) {
            Ok(bytes) => !bytes.is_empty() && !bytes.ends_with(b"\n"),
            Err(_) => false,
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        let mut out = String::with_capacity(line.len() + 2);
        if needs_newline {
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
        f.write_all(out.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)
    }
}

/// Consecutive-failure counting and locks, per user name, across connections.
pub struct Lockout {
    /// Held briefly; never across an `.await`.
    map: Mutex<HashMap<String, LockState>>,
}

/// What a wrong password did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strike {
    /// Try again.
    Retry,
    /// This one locked the account.
    Locked,
}

impl Lockout {
    /// Starts from the persisted state.
    pub fn new(initial: HashMap<String, LockState>) -> Self {
        Lockout {
            map: Mutex::new(initial),
        }
    }

    /// Whether `user` is locked at `now_ms`.
    pub fn is_locked(&self, user: &str, now_ms: i64) -> bool {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .is_some_and(|s| s.locked_until > now_ms)
    }

    /// Counts a wrong password; returns what it did and the state to persist.
    pub fn fail(&self, user: &str, now_ms: i64, block: Duration) -> (Strike, LockState) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let state = map.entry(user.to_string()).or_insert(LockState {
            failures: 0,
            locked_until: 0,
        });
        if state.locked_until != 0 && state.locked_until <= now_ms {
            // An expired lock starts a fresh count.
            *state = LockState {
                failures: 0,
                locked_until: 0,
            };
        }
        state.failures += 1;
        if state.failures >= MAX_FAILURES {
            state.failures = 0;
            state.locked_until = now_ms + block.as_millis() as i64;
            (Strike::Locked, *state)
        } else {
            (Strike::Retry, *state)
        }
    }

    /// Forgets `user`'s failures (successful login, or an admin unlock). Returns whether the
    /// account was locked.
    pub fn clear(&self, user: &str, now_ms: i64) -> bool {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(user)
            .is_some_and(|s| s.locked_until > now_ms)
    }

    /// Whether `user` has state worth clearing.
    pub fn has_state(&self, user: &str) -> bool {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(user)
    }

    /// Accounts locked at `now_ms`.
    pub fn locked_count(&self, now_ms: i64) -> usize {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|s| s.locked_until > now_ms)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_file_and_registration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.txt");
        std::fs::write(
            &path,
            "# accounts\nhans falcon*solo\nobiwan (jedimaster)\nbad line here\nnoeol pw",
        )
        .unwrap();
        let acc = Arc::new(Accounts::load(&path).unwrap());
        assert_eq!(acc.counts(), (3, 3));
        smol::block_on(async {
            assert_eq!(acc.verify("hans", "falcon*solo").await, Verdict::Ok);
            assert_eq!(acc.verify("obiwan", "(jedimaster)").await, Verdict::Ok);
            assert_eq!(acc.verify("hans", "falcon").await, Verdict::Wrong);
            assert_eq!(acc.verify("nobody", "x").await, Verdict::Unknown);
            assert_eq!(
                acc.register("rey", "p@ss").await.unwrap(),
                Registered::Created
            );
            assert_eq!(
                acc.register("rey", "other").await.unwrap(),
                Registered::Exists
            );
            assert_eq!(acc.verify("rey", "p@ss").await, Verdict::Ok);
        });
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("noeol pw\nrey $argon2id$"), "{text}");
        assert!(!text.contains("p@ss"));
        let again = Arc::new(Accounts::load(&path).unwrap());
        assert_eq!(smol::block_on(again.verify("rey", "p@ss")), Verdict::Ok);
    }

    #[test]
    fn a_damaged_hash_is_never_a_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.txt");
        let hash = hash_password("p@ss").unwrap();
        // Cut inside the parameters, as an interrupted append could.
        let cut = &hash[..hash.find(",p=").unwrap() + 2];
        std::fs::write(&path, format!("hans falcon*solo\nrey {cut}")).unwrap();
        let acc = Arc::new(Accounts::load(&path).unwrap());
        assert!(!acc.exists("rey"));
        assert_eq!(smol::block_on(acc.verify("rey", cut)), Verdict::Unknown);
        // The next registration starts on a line of its own.
        smol::block_on(acc.register("rey", "n3w")).unwrap();
        let again = Arc::new(Accounts::load(&path).unwrap());
        assert_eq!(smol::block_on(again.verify("rey", "n3w")), Verdict::Ok);
    }

    #[test]
    fn three_strikes() {
        let l = Lockout::new(HashMap::new());
        let d = Duration::from_secs(60);
        assert_eq!(l.fail("hans", 0, d).0, Strike::Retry);
        assert_eq!(l.fail("hans", 0, d).0, Strike::Retry);
        assert_eq!(l.fail("hans", 0, d).0, Strike::Locked);
        assert!(l.is_locked("hans", 59_999));
        assert!(!l.is_locked("hans", 60_000));
        assert_eq!(l.fail("hans", 60_001, d).0, Strike::Retry);
    }
}
