//! The accounts, loaded from the credentials file: lookups, password checks off the executor,
//! registration (appended and fsynced before it is answered), password changes and deletions
//! (the file rewritten atomically, see [`super::rewrite`]) and reload.
//!
//! Names are unique regardless of ASCII case: the map is keyed by the lower-case name and
//! keeps the name as registered for display. Every lookup ([`Accounts::canonical`]) takes any
//! case and gives the registered name, which is what the rest of the server uses; a file with
//! two names differing only in case is refused.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::rewrite::{rewrite_account, Edit};
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

/// One account in memory.
#[derive(Debug, Clone)]
struct Account {
    /// The name as registered.
    name: String,
    secret: Secret,
    /// Its line in the file (1-based), for error messages.
    line: usize,
}

/// The map key of a name: names are unique regardless of ASCII case. Borrowed when the name
/// is lower case already (the common case: no allocation on the hot path).
fn key(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// The accounts, loaded from the credentials file. Registration appends to it.
pub struct Accounts {
    path: PathBuf,
    /// By [`key`]. Held briefly to look up or insert; never across an `.await`.
    map: Mutex<HashMap<String, Account>>,
    /// Serializes writes to the file (appends and rewrites), so none interleave or get lost.
    append: Mutex<()>,
}

/// Parses credentials text: `username password` per line; blank lines and `#` comments are
/// skipped; malformed lines are reported by number (never with their content, which may hold a
/// password) and skipped. The same name twice: the later line wins (with a warning).
///
/// # Errors
/// [`AuthError::CaseDuplicate`] when two names differ only in case (`Hans` and `hans`): which
/// one is the account is not for chatd to guess.
fn parse_credentials(text: &str, path: &Path) -> Result<HashMap<String, Account>, AuthError> {
    let mut map: HashMap<String, Account> = HashMap::new();
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
                let account = Account {
                    name: user.to_string(),
                    secret: Secret::parse(secret),
                    line: n + 1,
                };
                match map.insert(key(user).into_owned(), account) {
                    Some(earlier) if earlier.name != user => {
                        return Err(AuthError::CaseDuplicate {
                            path: path.to_path_buf(),
                            first: earlier.line,
                            first_name: earlier.name,
                            second: n + 1,
                            second_name: user.to_string(),
                        })
                    }
                    Some(_) => log::warn!(
                        "{}:{}: user {user} appears again; the later line wins",
                        path.display(),
                        n + 1
                    ),
                    None => {}
                }
            }
            _ => log::warn!(
                "{}:{}: not a `username password` line; skipped",
                path.display(),
                n + 1
            ),
        }
    }
    Ok(map)
}

/// The lines that name a user but were skipped (a damaged hash, a malformed password), as
/// (line number, name). A reload must not take such an account as removed.
fn unreadable_lines(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .filter_map(|(n, line)| {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                return None;
            }
            match account_line(line) {
                Some((_, secret)) if !is_damaged_hash(secret) => None,
                _ => {
                    let name = line.split(' ').next().unwrap_or_default();
                    proto::valid_username(name).then_some((n + 1, name))
                }
            }
        })
        .collect()
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
        let map = parse_credentials(&text, path)?;
        Ok(Accounts {
            path: path.to_path_buf(),
            map: Mutex::new(map),
            append: Mutex::new(()),
        })
    }

    /// Re-reads the file, replacing the accounts in memory. Returns how many there are, and
    /// the accounts that are gone: no longer in the file, or now spelled in another case (a
    /// new account, not the old one renamed), by their old name.
    ///
    /// # Errors
    /// [`AuthError::Io`] when the file cannot be read, [`AuthError::CaseDuplicate`], and
    /// [`AuthError::Unreadable`] when an account would go only because its line cannot be
    /// read (a typo must not delete an account and its data); the old accounts stay.
    pub fn reload(&self) -> Result<(usize, Vec<String>), AuthError> {
        let _appending = self.append.lock().unwrap_or_else(|e| e.into_inner());
        let text = std::fs::read_to_string(&self.path).map_err(|source| AuthError::Io {
            path: self.path.clone(),
            source,
        })?;
        let new = parse_credentials(&text, &self.path)?;
        let n = new.len();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut gone: Vec<String> = map
            .iter()
            .filter(|(k, old)| !matches!(new.get(*k), Some(a) if a.name == old.name))
            .map(|(_, old)| old.name.clone())
            .collect();
        gone.sort();
        if !gone.is_empty() {
            for (line, name) in unreadable_lines(&text) {
                if let Some(user) = gone.iter().find(|g| g.eq_ignore_ascii_case(name)) {
                    return Err(AuthError::Unreadable {
                        path: self.path.clone(),
                        line,
                        user: user.clone(),
                    });
                }
            }
        }
        *map = new;
        Ok((n, gone))
    }

    /// The registered spelling of `user` (given in any case), if it has an account.
    pub fn canonical(&self, user: &str) -> Option<String> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&*key(user))
            .map(|a| a.name.clone())
    }

    /// [`Accounts::canonical`] of an owned name: `Ok` with the registered spelling (the same
    /// string, without allocating, when it is spelled so already), or `Err` giving the name
    /// back when there is no such account.
    ///
    /// # Errors
    /// The name itself, when no account has it.
    pub fn resolve(&self, user: String) -> Result<String, String> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&*key(&user)) {
            Some(account) if account.name == user => Ok(user),
            Some(account) => Ok(account.name.clone()),
            None => Err(user),
        }
    }

    /// Whether `user` (in any case) has an account.
    pub fn exists(&self, user: &str) -> bool {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&*key(user))
    }

    /// Every account name, as registered, sorted regardless of case.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|a| a.name.clone())
            .collect();
        v.sort_by_cached_key(|name| name.to_ascii_lowercase());
        v
    }

    /// Number of accounts, and how many of them still have plain-text passwords.
    pub fn counts(&self) -> (usize, usize) {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let plain = map
            .values()
            .filter(|a| matches!(a.secret, Secret::Plain(_)))
            .count();
        (map.len(), plain)
    }

    /// Checks `password` for `user` (any case) off the executor threads.
    pub async fn verify(self: &Arc<Self>, user: &str, password: &str) -> Verdict {
        let secret = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&*key(user))
            .map(|a| a.secret.clone());
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
    /// to disk before this returns. A name taken in any case is [`Registered::Exists`].
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
            let account = Account {
                name: user.clone(),
                secret: Secret::Hash(hash),
                line: 0,
            };
            me.map
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key(&user).into_owned(), account);
            Ok(Registered::Created)
        })
        .await
    }

    /// Sets the password of `user` (any case) to an argon2id hash of `password`: the file is
    /// rewritten atomically before this returns. Returns the registered name, `None` if there
    /// is no such account.
    ///
    /// # Errors
    /// [`AuthError`] when the hash or the write fails; the old password then stays.
    pub async fn set_password(
        self: &Arc<Self>,
        user: &str,
        password: &str,
    ) -> Result<Option<String>, AuthError> {
        let me = Arc::clone(self);
        let (user, password) = (user.to_string(), password.to_string());
        hashing(move || {
            let hash = hash_password(&password)?;
            let _writing = me.append.lock().unwrap_or_else(|e| e.into_inner());
            let Some(name) = me.canonical(&user) else {
                return Ok(None);
            };
            rewrite_account(&me.path, &name, &Edit::Password(&hash))?;
            if let Some(a) = me
                .map
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_mut(&*key(&name))
            {
                a.secret = Secret::Hash(hash);
            }
            Ok(Some(name))
        })
        .await
    }

    /// Deletes `user` (any case): its lines leave the file (rewritten atomically) and the
    /// account leaves memory. Returns the registered name, `None` if there is no such account.
    /// Runs on the blocking pool.
    ///
    /// # Errors
    /// [`AuthError`] when the write fails; the account then still exists.
    pub async fn delete(self: &Arc<Self>, user: &str) -> Result<Option<String>, AuthError> {
        let me = Arc::clone(self);
        let user = user.to_string();
        smol::unblock(move || {
            let _writing = me.append.lock().unwrap_or_else(|e| e.into_inner());
            let Some(name) = me.canonical(&user) else {
                return Ok(None);
            };
            rewrite_account(&me.path, &name, &Edit::Remove)?;
            me.map
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&*key(&name));
            Ok(Some(name))
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
    fn reload_reports_removed_accounts_and_refuses_to_lose_one_to_a_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.txt");
        std::fs::write(&path, "hans a\nyoda b\nluke c\nleia d\n").unwrap();
        let acc = Accounts::load(&path).unwrap();
        // yoda removed, luke now spelled Luke (a new account), hans in a bad line.
        std::fs::write(&path, "hans has space\nLuke c\nleia d\n").unwrap();
        let e = acc.reload().unwrap_err().to_string();
        assert!(
            e.contains("credentials.txt:1: the line of account hans cannot be read"),
            "{e}"
        );
        assert!(acc.exists("yoda"), "the old accounts stay");
        std::fs::write(&path, "hans a\n# comment\nLuke c\nleia d\n").unwrap();
        assert_eq!(
            acc.reload().unwrap(),
            (3, vec!["luke".to_string(), "yoda".to_string()])
        );
        assert_eq!(acc.canonical("LUKE").as_deref(), Some("Luke"));
        // Duplicates by case are refused, naming both lines.
        std::fs::write(&path, "hans a\nLuke c\nHANS x\n").unwrap();
        let e = acc.reload().unwrap_err().to_string();
        assert!(
            e.contains("credentials.txt:3: user HANS is user hans of line 1"),
            "{e}"
        );
        assert_eq!(acc.names(), ["hans", "leia", "Luke"]);
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
