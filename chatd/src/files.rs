//! Owner-only permissions for what chatd keeps on disk (the credentials file, the data
//! directory, the store's files): created 0600 (files) and 0700 (directories) whatever the
//! umask, and tightened at start when an existing one is open to the group or others. What the
//! files contain is their owners' business (`auth`, `store`).

use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every file chatd creates for its state.
pub(crate) const FILE_MODE: u32 = 0o600;
/// Mode of every directory chatd creates for its state.
pub(crate) const DIR_MODE: u32 = 0o700;

/// Options that create a file with [`FILE_MODE`] (the umask can only remove bits from it).
pub(crate) fn owner_only_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(FILE_MODE);
    o
}

/// Creates `path` and its missing parents with [`DIR_MODE`].
///
/// # Errors
/// The I/O error from creating a directory.
pub(crate) fn create_dir_owner_only(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// Removes the group and other bits of `path` if it has any (a file or directory made by an
/// older chatd, by hand, or under a loose umask), logging what changed. A missing path is
/// fine. Returns whether the mode was changed.
///
/// # Errors
/// The I/O error from reading or changing the mode.
pub(crate) fn tighten(path: &Path) -> io::Result<bool> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() {
        // Not ours to change: the operator pointed it somewhere on purpose.
        return Ok(false);
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(false);
    }
    let new = mode & !0o077;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(new))?;
    log::warn!(
        "{} was readable by others (mode {mode:04o}); changed to {new:04o}",
        path.display()
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_owner_only_and_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        owner_only_options()
            .create(true)
            .append(true)
            .open(&file)
            .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        let sub = dir.path().join("a/b");
        create_dir_owner_only(&sub).unwrap();
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700);

        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(tighten(&file).unwrap());
        assert_eq!(mode(&file), 0o600);
        assert!(!tighten(&file).unwrap());
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(tighten(&sub).unwrap());
        assert_eq!(mode(&sub), 0o700);
        assert!(!tighten(&dir.path().join("missing")).unwrap());
    }
}
