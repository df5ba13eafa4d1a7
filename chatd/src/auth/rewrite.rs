//! Editing the credentials file in place, atomically: one account's line replaced (a new
//! password) or removed (a deleted account), every other byte kept (comments, blank lines,
//! malformed lines, order, line endings). The new text goes to a temp file in the same
//! directory (mode 0600), which is fsynced, renamed over the file, and the directory fsynced:
//! a crash leaves the old file or the new one, never a mix.
//!
//! Appending a registration is [`super::accounts`]' job; this module only rewrites.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::secret::{account_line, lines_with_endings, sync_parent, AuthError};

/// What to do with the lines of one account.
pub(crate) enum Edit<'a> {
    /// Replace the password field with this (an argon2id hash).
    Password(&'a str),
    /// Remove the lines.
    Remove,
}

/// `text` with the lines of account `user` (matched regardless of ASCII case) edited; and how
/// many lines that touched. Lines are split after each `\n`, so each keeps its own ending.
pub(crate) fn edit_text(text: &str, user: &str, edit: &Edit<'_>) -> (String, usize) {
    let mut out = String::with_capacity(text.len() + 128);
    let mut touched = 0;
    for (raw, body, ending) in lines_with_endings(text) {
        match account_line(body) {
            Some((name, _)) if name.eq_ignore_ascii_case(user) => {
                touched += 1;
                if let Edit::Password(hash) = edit {
                    out.push_str(name);
                    out.push(' ');
                    out.push_str(hash);
                    out.push_str(ending);
                }
            }
            _ => out.push_str(raw),
        }
    }
    (out, touched)
}

/// Rewrites the credentials file at `path` with the lines of `user` edited. Returns how many
/// lines were edited; with none, the file is not touched. The caller serializes writers.
///
/// # Errors
/// [`AuthError::Io`]; the file is then as it was.
pub(crate) fn rewrite_account(
    path: &Path,
    user: &str,
    edit: &Edit<'_>,
) -> Result<usize, AuthError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AuthError::Io { path, source }
    };
    // Not UTF-8 (a hand edit since the start): refused rather than "repaired", which would
    // change bytes of other lines.
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let (new, touched) = edit_text(&text, user, edit);
    if touched == 0 {
        return Ok(0);
    }
    replace_file(path, new.as_bytes())?;
    Ok(touched)
}

/// Replaces the file at `path` with `bytes`: temp file beside it (mode 0600), fsync, rename,
/// fsync of the directory.
///
/// # Errors
/// [`AuthError::Io`] naming the file that failed; the original is then unchanged.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), AuthError> {
    let failed = |path: &Path, source| AuthError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = write_temp(path, bytes, None).map_err(|(tmp, e)| failed(&tmp, e))?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed(path, e));
    }
    sync_parent(path).map_err(|e| failed(path, e))
}

/// Writes `bytes` to a new file beside `path` (the file it is to replace) and fsyncs it; the
/// one way both rewrites of the credentials file (this module's and `chatd hash-credentials`)
/// make their new text. The file is owner-only ([`crate::files::owner_only_options`]), or,
/// given the metadata of the file it replaces, takes that file's permissions and (when run as
/// root) its owner. Returns the temp file's path.
///
/// # Errors
/// The temp file's path and the I/O error; nothing is left behind then.
pub(crate) fn write_temp(
    path: &Path,
    bytes: &[u8],
    like: Option<&std::fs::Metadata>,
) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    let name = path.file_name().map_or_else(
        || "credentials".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let tmp: PathBuf = path.with_file_name(format!(".{name}.chatd-{}.tmp", std::process::id()));
    // A stale temp file from an interrupted rewrite of ours is ours to replace.
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        let mut f = crate::files::owner_only_options()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        if let Some(meta) = like {
            use std::os::unix::fs::MetadataExt;
            f.set_permissions(meta.permissions())?;
            // Keep the owner when run as root on chatd's file; an ordinary user cannot
            // change it and needs not to.
            let _ = std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid()));
        }
        f.write_all(bytes)?;
        f.sync_all()
    })();
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err((tmp, e))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn edits_one_account_and_keeps_every_other_byte() {
        let text =
            "# accounts\r\nhans falcon*solo\r\n\nbad line\nHANS? no\nyoda wise@!man\nnoeol pw";
        let (new, n) = edit_text(text, "HANS", &Edit::Password("$argon2id$x"));
        assert_eq!(n, 1);
        assert_eq!(
            new,
            "# accounts\r\nhans $argon2id$x\r\n\nbad line\nHANS? no\nyoda wise@!man\nnoeol pw"
        );
        let (new, n) = edit_text(text, "noeol", &Edit::Remove);
        assert_eq!(n, 1);
        assert_eq!(
            new,
            "# accounts\r\nhans falcon*solo\r\n\nbad line\nHANS? no\nyoda wise@!man\n"
        );
        assert_eq!(
            edit_text(text, "luke", &Edit::Remove),
            (text.to_string(), 0)
        );
    }

    #[test]
    fn the_file_is_replaced_owner_only_and_no_temp_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.txt");
        std::fs::write(&path, "hans falcon*solo\nyoda wise@!man\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(rewrite_account(&path, "yoda", &Edit::Remove).unwrap(), 1);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "hans falcon*solo\n"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // Nothing to edit: not touched.
        assert_eq!(rewrite_account(&path, "luke", &Edit::Remove).unwrap(), 0);
    }
}
