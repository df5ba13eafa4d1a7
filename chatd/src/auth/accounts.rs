//! The accounts, loaded from the credentials file: lookups, password checks off the executor,
//! registration, password changes and deletions (the file rewritten atomically, see
//! [`super::rewrite`]) and reload. A registration's line is in the file whole and durable, or
//! not at all ([`append_line`]); at load, what a registration cut short could have left is not
//! an account.
//!
//! Names are unique regardless of ASCII case: the map is keyed by the lower-case name and
//! keeps the name as registered for display. Every lookup ([`Accounts::canonical`]) takes any
//! case and gives the registered name, which is what the rest of the server uses; a file with
//! two names differing only in case is refused.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::hashing::{hash_with, hashing, spend_one_check};
use super::rewrite::{rewrite_account, Edit};
use super::secret::{
    account_line, is_damaged_hash, is_torn_registration, sync_parent, AuthError, Secret,
};
use crate::files;

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

/// What a reload found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// Accounts now in force.
    pub accounts: usize,
    /// Line numbers (1-based) of the lines that are not accounts (malformed, damaged, torn);
    /// each is logged with its reason.
    pub skipped: Vec<usize>,
    /// The accounts that are gone: no longer in the file, or now spelled in another case (a
    /// new account, not the old one renamed), by their old name, sorted.
    pub gone: Vec<String>,
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

/// The credentials file as read: its accounts and the lines that are not accounts.
struct Parsed {
    /// By [`key`].
    map: HashMap<String, Account>,
    /// Every skipped line (1-based), whatever the reason.
    skipped: Vec<usize>,
    /// The skipped lines that name a user (a damaged hash, a malformed password, a torn last
    /// line), as (line, name): a reload must not take such an account as removed.
    unreadable: Vec<(usize, String)>,
}

/// Parses credentials text: `username password` per line; blank lines and `#` comments are
/// skipped; malformed lines are reported by number (never with their content, which may hold a
/// password) and skipped. A last line without a line ending that is what a registration cut
/// short leaves ([`is_torn_registration`]) is never an account. The same name twice: the later
/// line wins (with a warning).
///
/// # Errors
/// [`AuthError::CaseDuplicate`] when two names differ only in case (`Hans` and `hans`): which
/// one is the account is not for chatd to guess.
fn parse_credentials(text: &str, path: &Path) -> Result<Parsed, AuthError> {
    let mut map: HashMap<String, Account> = HashMap::new();
    let mut skipped = Vec::new();
    let mut unreadable = Vec::new();
    let complete = text.is_empty() || text.ends_with('\n');
    let count = text.lines().count();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{}:{}", path.display(), n + 1);
        let mut skip = |n: usize| {
            skipped.push(n);
            let name = line.split(' ').next().unwrap_or_default();
            if proto::valid_username(name) {
                unreadable.push((n, name.to_string()));
            }
        };
        if !complete && n + 1 == count && is_torn_registration(line) {
            log::warn!(
                "{at}: the last line has no line end (a registration cut short); \
                 not an account"
            );
            skip(n + 1);
            continue;
        }
        match account_line(line) {
            Some((user, secret)) if is_damaged_hash(secret) => {
                log::warn!(
                    "{at}: the password hash of {user} is damaged (an interrupted write?); \
                     line skipped, the account must be registered again"
                );
                skip(n + 1);
            }
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
                    Some(_) => log::warn!("{at}: user {user} appears again; the later line wins"),
                    None => {}
                }
            }
            None => {
                if line.starts_with('-') {
                    log::warn!(
                        "{at}: user names cannot start with `-` (they would read as options \
                         in chatctl); line skipped"
                    );
                } else {
                    log::warn!("{at}: not a `username password` line; skipped");
                }
                skip(n + 1);
            }
        }
    }
    Ok(Parsed {
        map,
        skipped,
        unreadable,
    })
}

/// What [`append_line`] needs of the credentials file; a trait so that tests can make writes
/// and syncs fail part-way (a full file system).
pub(crate) trait LineFile {
    /// The file's length in bytes.
    fn len(&mut self) -> io::Result<u64>;
    /// The bytes from `offset` to the end.
    fn read_from(&mut self, offset: u64) -> io::Result<Vec<u8>>;
    /// Writes at the end, as `write(2)` does: possibly fewer bytes than given.
    fn write_end(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// Makes the content durable (`fsync`).
    fn sync(&mut self) -> io::Result<()>;
    /// Cuts the file to `len` bytes.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

impl LineFile for std::fs::File {
    fn len(&mut self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn read_from(&mut self, offset: u64) -> io::Result<Vec<u8>> {
        self.seek(SeekFrom::Start(offset))?;
        let mut out = Vec::new();
        self.read_to_end(&mut out)?;
        Ok(out)
    }
    fn write_end(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Opened in append mode: every write goes to the end.
        self.write(buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.sync_all()
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
}

/// The longest tail [`append_line`] inspects for a last line without a line ending.
const TAIL: u64 = 4096;

/// Appends `line` (without its newline) to the credentials file so that it is there whole and
/// durable, or not at all:
///
/// - a torn last line (a registration cut short, see [`is_torn_registration`]) is cut off
///   first; any other last line without a line ending gets one;
/// - the line and its newline are written, then fsynced;
/// - if a write comes up short or fails, or the fsync fails, the file is cut back to the length
///   it had before this write and fsynced, and the error is returned.
///
/// The caller serializes appends (one writer at a time).
///
/// # Errors
/// The first I/O error; the file then holds no part of `line`.
pub(crate) fn append_line(file: &mut impl LineFile, line: &str) -> io::Result<()> {
    let mut start = file.len()?;
    let tail_at = start.saturating_sub(TAIL);
    let tail = file.read_from(tail_at)?;
    let mut out = Vec::with_capacity(line.len() + 2);
    if !tail.is_empty() && !tail.ends_with(b"\n") {
        let last_start = tail.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let last = String::from_utf8_lossy(&tail[last_start..]);
        if is_torn_registration(last.trim_end_matches('\r')) {
            start = tail_at + last_start as u64;
            file.truncate(start)?;
            log::warn!("removed a registration line cut short at the end of the credentials file");
        } else {
            out.push(b'\n');
        }
    }
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
    let written = (|| {
        let mut done = 0;
        while done < out.len() {
            match file.write_end(&out[done..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        file.sync()
    })();
    if let Err(e) = written {
        if let Err(undo) = file.truncate(start).and_then(|()| file.sync()) {
            // Whatever is left is a last line without a line end: never an account at load,
            // and cut off by the next append.
            log::error!("cannot cut the credentials file back after a failed write: {undo}");
        }
        return Err(e);
    }
    Ok(())
}

impl Accounts {
    /// Loads the credentials file; a missing file is created empty (owner-only).
    ///
    /// # Errors
    /// [`AuthError::Io`] when the file cannot be read or created, [`AuthError::CaseDuplicate`]
    /// when two names differ only in case.
    pub fn load(path: &Path) -> Result<Accounts, AuthError> {
        let io = |source| AuthError::Io {
            path: path.to_path_buf(),
            source,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => {
                files::tighten(path).map_err(io)?;
                t
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                files::owner_only_options()
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
        let Parsed { map, .. } = parse_credentials(&text, path)?;
        Ok(Accounts {
            path: path.to_path_buf(),
            map: Mutex::new(map),
            append: Mutex::new(()),
        })
    }

    /// Re-reads the file, replacing the accounts in memory. Returns how many there are, which
    /// lines were skipped, and the accounts that are gone (see [`Reloaded`]).
    ///
    /// # Errors
    /// [`AuthError::Io`] when the file cannot be read, [`AuthError::CaseDuplicate`], and
    /// [`AuthError::Unreadable`] when an account would go only because its line cannot be
    /// read (a typo, a damaged hash or a line cut short must not delete an account and its
    /// data); the old accounts stay.
    pub fn reload(&self) -> Result<Reloaded, AuthError> {
        let _appending = self.append.lock().unwrap_or_else(|e| e.into_inner());
        let text = std::fs::read_to_string(&self.path).map_err(|source| AuthError::Io {
            path: self.path.clone(),
            source,
        })?;
        let Parsed {
            map: new,
            skipped,
            unreadable,
        } = parse_credentials(&text, &self.path)?;
        let accounts = new.len();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut gone: Vec<String> = map
            .iter()
            .filter(|(k, old)| !matches!(new.get(*k), Some(a) if a.name == old.name))
            .map(|(_, old)| old.name.clone())
            .collect();
        gone.sort();
        for (line, name) in &unreadable {
            if let Some(user) = gone.iter().find(|g| g.eq_ignore_ascii_case(name)) {
                return Err(AuthError::Unreadable {
                    path: self.path.clone(),
                    line: *line,
                    user: user.clone(),
                });
            }
        }
        *map = new;
        Ok(Reloaded {
            accounts,
            skipped,
            gone,
        })
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

    /// Checks `password` for `user` (any case) in a hashing slot, off the executor threads.
    /// Every answer (unknown account, plain-text or hashed password, right or wrong) costs one
    /// argon2 check.
    pub async fn verify(self: &Arc<Self>, user: &str, password: &str) -> Verdict {
        let secret = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&*key(user))
            .map(|a| a.secret.clone());
        let password = password.to_string();
        hashing(move |memory| match secret {
            None => {
                spend_one_check(memory, &password);
                Verdict::Unknown
            }
            Some(secret) if secret.check(memory, &password) => Verdict::Ok,
            Some(_) => Verdict::Wrong,
        })
        .await
    }

    /// Creates `user` with an argon2id hash of `password`, appended to the file and flushed
    /// to disk before this returns ([`append_line`]). A name taken in any case is
    /// [`Registered::Exists`].
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
        hashing(move |memory| {
            let hash = hash_with(memory, &password)?;
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
        hashing(move |memory| {
            let hash = hash_with(memory, &password)?;
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

    /// Appends one line with [`append_line`] (whole and fsynced, or not at all).
    fn append_line(&self, line: &str) -> Result<(), AuthError> {
        let io = |source| AuthError::Io {
            path: self.path.clone(),
            source,
        };
        let mut f = files::owner_only_options()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(io)?;
        append_line(&mut f, line).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::hashing::hash_password;

    /// A credentials file in memory on a file system with `room` bytes left: a write past it
    /// is cut short, then fails with ENOSPC; `sync_fails` makes every fsync fail.
    struct FullDisk {
        bytes: Vec<u8>,
        room: usize,
        sync_fails: bool,
        truncations: usize,
    }

    impl LineFile for FullDisk {
        fn len(&mut self) -> io::Result<u64> {
            Ok(self.bytes.len() as u64)
        }
        fn read_from(&mut self, offset: u64) -> io::Result<Vec<u8>> {
            Ok(self.bytes[offset as usize..].to_vec())
        }
        fn write_end(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let n = buf.len().min(self.room);
            self.bytes.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }
        fn sync(&mut self) -> io::Result<()> {
            if self.sync_fails {
                Err(io::Error::from_raw_os_error(libc::EIO))
            } else {
                Ok(())
            }
        }
        fn truncate(&mut self, len: u64) -> io::Result<()> {
            self.room += self.bytes.len().saturating_sub(len as usize);
            self.bytes.truncate(len as usize);
            self.truncations += 1;
            Ok(())
        }
    }

    fn accounts_in(bytes: &[u8]) -> (Vec<String>, Vec<usize>) {
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let parsed = parse_credentials(&text, Path::new("credentials.txt")).unwrap();
        let mut names: Vec<String> = parsed.map.into_values().map(|a| a.name).collect();
        names.sort();
        (names, parsed.skipped)
    }

    #[test]
    fn a_line_cut_short_at_any_byte_leaves_the_file_as_it_was() {
        let hash = hash_password("p@ss").unwrap();
        let line = format!("newbie {hash}");
        for before in ["hans falcon*solo\n", "hans falcon*solo", ""] {
            for room in 0..=line.len() + 1 {
                let mut f = FullDisk {
                    bytes: before.as_bytes().to_vec(),
                    room,
                    sync_fails: false,
                    truncations: 0,
                };
                let needed =
                    line.len() + 1 + usize::from(!before.is_empty() && !before.ends_with('\n'));
                let result = append_line(&mut f, &line);
                if room >= needed {
                    result.unwrap();
                    let (names, skipped) = accounts_in(&f.bytes);
                    assert!(names.contains(&"newbie".to_string()), "{room}");
                    assert!(skipped.is_empty());
                } else {
                    assert!(result.is_err(), "room {room} of {needed}");
                    assert_eq!(f.bytes, before.as_bytes(), "room {room}");
                    let (names, _) = accounts_in(&f.bytes);
                    assert!(!names.contains(&"newbie".to_string()));
                }
            }
        }
        // A failed fsync: cut back as well.
        let mut f = FullDisk {
            bytes: b"hans falcon*solo\n".to_vec(),
            room: 1 << 20,
            sync_fails: true,
            truncations: 0,
        };
        assert!(append_line(&mut f, &line).is_err());
        assert_eq!(f.bytes, b"hans falcon*solo\n");
        assert_eq!(f.truncations, 1);
    }

    #[test]
    fn a_torn_last_line_is_not_an_account_and_is_cut_off_by_the_next_append() {
        let hash = hash_password("p@ss").unwrap();
        let whole = format!("newbie {hash}");
        // Every cut after the space: not an account, whether or not the hash text parses.
        for cut in "newbie ".len()..whole.len() {
            let text = format!("hans falcon*solo\n{}", &whole[..cut]);
            let (names, skipped) = accounts_in(text.as_bytes());
            assert_eq!(names, ["hans"], "cut at {cut}");
            assert_eq!(skipped, [2], "cut at {cut}");
            let mut f = FullDisk {
                bytes: text.into_bytes(),
                room: 1 << 20,
                sync_fails: false,
                truncations: 0,
            };
            append_line(&mut f, "rey p@ss").unwrap();
            assert_eq!(f.bytes, b"hans falcon*solo\nrey p@ss\n", "cut at {cut}");
        }
        // The whole line without its line end (as `hash-credentials` leaves a seed file's last
        // line): an account.
        let (names, skipped) = accounts_in(format!("hans falcon*solo\n{whole}").as_bytes());
        assert_eq!(names, ["hans", "newbie"]);
        assert!(skipped.is_empty());
        // Cuts before the space are malformed lines, as ever.
        let (names, skipped) = accounts_in(b"hans falcon*solo\nnewb");
        assert_eq!((names, skipped), (vec!["hans".to_string()], vec![2]));
        // A seed file's last line without a line end is still an account, even with a
        // password starting with `$`.
        let (names, skipped) = accounts_in(b"hans falcon*solo\nluke jedi");
        assert_eq!(names, ["hans", "luke"]);
        assert!(skipped.is_empty());
        let (names, skipped) = accounts_in(b"hans falcon*solo\nleia $blasterpistol$");
        assert_eq!(names, ["hans", "leia"]);
        assert!(skipped.is_empty());
        // The start of a hash in the middle of a file (left by an older chatd) is not a
        // password either.
        let (names, skipped) = accounts_in(b"newbie $arg\nhans falcon*solo\n");
        assert_eq!((names, skipped), (vec!["hans".to_string()], vec![1]));
    }

    #[test]
    fn names_starting_with_a_dash_are_skipped() {
        let (names, skipped) = accounts_in(b"-h pw\nhans falcon*solo\n--all x\n");
        assert_eq!((names, skipped), (vec!["hans".to_string()], vec![1, 3]));
    }

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
            Reloaded {
                accounts: 3,
                skipped: vec![],
                gone: vec!["luke".to_string(), "yoda".to_string()],
            }
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
    fn reload_reports_skipped_lines_and_gone_accounts_together() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.txt");
        std::fs::write(
            &path,
            "hans a
yoda b
luke c
",
        )
        .unwrap();
        let acc = Accounts::load(&path).unwrap();
        // yoda removed; a malformed line and a `-` name that were never accounts are skipped
        // without holding the reload back.
        std::fs::write(
            &path,
            "hans a
bad line here
-h pw
luke c
",
        )
        .unwrap();
        assert_eq!(
            acc.reload().unwrap(),
            Reloaded {
                accounts: 2,
                skipped: vec![2, 3],
                gone: vec!["yoda".to_string()],
            }
        );
        assert!(!acc.exists("yoda"));
    }

    #[test]
    fn reload_refuses_to_lose_an_account_to_its_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.txt");
        let hash = hash_password("p@ss").unwrap();
        std::fs::write(
            &path,
            format!(
                "hans a
rey {hash}
"
            ),
        )
        .unwrap();
        let acc = Accounts::load(&path).unwrap();
        // rey's line cut short (no line end): not an account at load, and not taken as a
        // removal by a reload either.
        let cut = &hash[..hash.len() - 5];
        std::fs::write(
            &path,
            format!(
                "hans a
rey {cut}"
            ),
        )
        .unwrap();
        let e = acc.reload().unwrap_err().to_string();
        assert!(
            e.contains("credentials.txt:2: the line of account rey cannot be read"),
            "{e}"
        );
        assert!(acc.exists("rey"), "the old accounts stay");
        // A torn line of a name that was never an account is only skipped.
        std::fs::write(
            &path,
            format!(
                "hans a
rey {hash}
newbie {cut}"
            ),
        )
        .unwrap();
        assert_eq!(
            acc.reload().unwrap(),
            Reloaded {
                accounts: 2,
                skipped: vec![3],
                gone: vec![],
            }
        );
    }

    #[test]
    fn registration_is_refused_for_a_name_taken_in_another_case() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.txt");
        std::fs::write(
            &path, "hans a
",
        )
        .unwrap();
        let acc = Arc::new(Accounts::load(&path).unwrap());
        assert_eq!(
            smol::block_on(acc.register("Hans", "p@ss")).unwrap(),
            Registered::Exists
        );
        assert_eq!(
            smol::block_on(acc.register("Rey", "p@ss")).unwrap(),
            Registered::Created
        );
        assert_eq!(
            smol::block_on(acc.register("rey", "p@ss")).unwrap(),
            Registered::Exists
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
        assert_eq!(acc.canonical("REY").as_deref(), Some("Rey"));
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
