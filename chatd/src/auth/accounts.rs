//! The accounts, loaded from the credentials file: lookups, password checks off the executor,
//! registration (appended and fsynced before it is answered) and reload.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::secret::{
    account_line, equalize_timing, hash_password, hashing, is_damaged_hash, sync_parent, AuthError,
    Secret,
};

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
                sync_parent(path).map_err(io)?;
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

    /// Whether `user` has an account.
    pub fn exists(&self, user: &str) -> bool {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(user)
    }

    /// Every account name, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        names.sort_unstable();
        names
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
}
