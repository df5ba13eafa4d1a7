//! The file of message ids this client has shown, per server and account, so that a direct
//! message the server delivers again in a later session (the client was killed before its
//! acknowledgement reached the server, or the server could not write the deletion) is not shown
//! again (`docs/CLIENT.md`, "Acknowledgements and repeats").
//!
//! One file per server and user: `DIR/<host>_<port>/<user>`, one decimal id per line, appended
//! (one `write(2)` each, which survives the process being killed) right after the message is
//! printed. Server ids are unique per server (they start above the clock in milliseconds times
//! 1024, and above every stored id), so the server's address and the user name are key enough.
//! The newest [`KEEP`] ids are kept: past twice that many lines the file is rewritten (to a
//! temporary file, then renamed over it). Directories are created 0700, the file 0600.
//!
//! This module only reads and writes the file; which ids are shown, and when, is the session's
//! (`session/delivery.rs`). Where the directory is comes from `cli::seen_dir`.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Ids remembered (the newest); the file is compacted to this many past twice as many lines.
pub const KEEP: usize = 100_000;

/// The directory for the server at `host:port`, under `dir`: `DIR/<host>_<port>`.
pub fn server_dir(dir: &Path, host: &str, port: u16) -> PathBuf {
    dir.join(format!("{}_{port}", component(&host.to_ascii_lowercase())))
}

/// The file for `user` in a [`server_dir`]. Each part of the path is made safe for a file
/// name: bytes other than ASCII letters, digits, `-` and `_` (and `.` after the first byte)
/// are written `%XX`, so different names never share a file and none is `.` or `..`. The host
/// and the user are lowercased (both are matched regardless of case).
pub fn user_file(server_dir: &Path, user: &str) -> PathBuf {
    server_dir.join(component(&user.to_ascii_lowercase()))
}

fn component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, b) in text.bytes().enumerate() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i > 0) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        // Never produced by the encoding above, so it cannot clash with a real name.
        out.push('%');
    }
    out
}

/// An open file of shown ids, appended to.
#[derive(Debug)]
pub struct SeenFile {
    path: PathBuf,
    file: File,
    /// Lines in the file (valid or not).
    lines: usize,
}

impl SeenFile {
    /// Opens the file at `path` (creating it and its directories) and reads the ids in it,
    /// oldest first, at most the newest [`KEEP`]. Lines that are not an id (a line cut short
    /// by a full disk, an edit) are skipped; the file is then rewritten without them, as it is
    /// when it has grown past twice [`KEEP`] lines.
    ///
    /// # Errors
    /// The directory or the file cannot be created, read or rewritten.
    pub fn open(path: &Path) -> std::io::Result<(SeenFile, Vec<u64>)> {
        if let Some(parent) = path.parent() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)?;
        // Owner-only even when it was made otherwise.
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        let mut ids = std::collections::VecDeque::new();
        let mut lines = 0;
        let mut clean = true;
        let mut reader = BufReader::new(&file);
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            lines += 1;
            // A last line without its newline was cut short: not an id to trust.
            let id = line
                .strip_suffix(b"\n")
                .and_then(|l| std::str::from_utf8(l).ok())
                .and_then(|l| l.parse::<u64>().ok());
            match id {
                Some(id) => {
                    if ids.len() == KEEP {
                        ids.pop_front();
                    }
                    ids.push_back(id);
                }
                None => clean = false,
            }
        }
        let mut seen = SeenFile {
            path: path.to_path_buf(),
            file,
            lines,
        };
        let ids: Vec<u64> = ids.into();
        if !clean || seen.too_long() {
            seen.rewrite(ids.iter().copied())?;
        }
        Ok((seen, ids))
    }

    /// Where the file is (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one id (a single write, not synced: it survives the process, not the machine).
    ///
    /// # Errors
    /// The write failed (a full disk); the file may then end with part of the line, which the
    /// next [`SeenFile::open`] skips.
    pub fn record(&mut self, id: u64) -> std::io::Result<()> {
        self.file.write_all(format!("{id}\n").as_bytes())?;
        self.lines += 1;
        Ok(())
    }

    /// Whether the file has grown past twice [`KEEP`] lines and should be rewritten.
    pub fn too_long(&self) -> bool {
        self.lines > 2 * KEEP
    }

    /// Replaces the file's content with `ids` (oldest first), atomically: written to a
    /// temporary file beside it, synced, and renamed over it. Appends then go to the new file.
    ///
    /// # Errors
    /// The new file cannot be written or renamed; the old one is then left as it was.
    pub fn rewrite(&mut self, ids: impl Iterator<Item = u64>) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        // tempfile creates it 0600.
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        let mut lines = 0;
        {
            let mut out = std::io::BufWriter::new(tmp.as_file_mut());
            for id in ids {
                writeln!(out, "{id}")?;
                lines += 1;
            }
            out.flush()?;
        }
        tmp.as_file().sync_all()?;
        let file = tmp.persist(&self.path).map_err(|e| e.error)?;
        // The handle of the temporary file is not opened for appending: open anew.
        drop(file);
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.lines = lines;
        Ok(())
    }

    /// A file every write to which fails (`/dev/full`), for tests.
    #[cfg(test)]
    pub fn dev_full() -> SeenFile {
        SeenFile {
            path: PathBuf::from("/dev/full"),
            file: OpenOptions::new().append(true).open("/dev/full").unwrap(),
            lines: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_for(dir: &Path, host: &str, port: u16, user: &str) -> PathBuf {
        user_file(&server_dir(dir, host, port), user)
    }

    #[test]
    fn path_parts_are_safe_and_distinct() {
        let dir = Path::new("/s");
        assert_eq!(
            path_for(dir, "Example.ORG", 5000, "Hans"),
            Path::new("/s/example.org_5000/hans")
        );
        assert_eq!(
            path_for(dir, "::1", 7, "a.b"),
            Path::new("/s/%3A%3A1_7/a.b")
        );
        assert_eq!(path_for(dir, "h", 1, ".."), Path::new("/s/h_1/%2E."));
        assert_eq!(path_for(dir, "a/b", 1, "x%"), Path::new("/s/a%2Fb_1/x%25"));
        assert_eq!(path_for(dir, "h", 1, ""), Path::new("/s/h_1/%"));
    }

    #[test]
    fn ids_survive_reopening_and_bad_lines_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/user");
        let (mut f, ids) = SeenFile::open(&path).unwrap();
        assert!(ids.is_empty());
        f.record(5).unwrap();
        f.record(7).unwrap();
        drop(f);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        // A junk line and a last line cut short (no newline): skipped, and the file cleaned.
        let mut raw = OpenOptions::new().append(true).open(&path).unwrap();
        raw.write_all(b"junk\n9\n12").unwrap();
        drop(raw);
        let (mut f, ids) = SeenFile::open(&path).unwrap();
        assert_eq!(ids, [5, 7, 9]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "5\n7\n9\n");
        f.record(13).unwrap();
        drop(f);
        assert_eq!(SeenFile::open(&path).unwrap().1, [5, 7, 9, 13]);
    }

    #[test]
    fn a_long_file_keeps_the_newest_and_is_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("user");
        let text: String = (0..2 * KEEP as u64 + 1).map(|i| format!("{i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        let (mut f, ids) = SeenFile::open(&path).unwrap();
        assert_eq!(ids.len(), KEEP);
        assert_eq!(ids[0], KEEP as u64 + 1);
        assert_eq!(*ids.last().unwrap(), 2 * KEEP as u64);
        assert!(!f.too_long());
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert_eq!(lines, KEEP);
        f.record(1).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().lines().last(),
            Some("1")
        );
    }
}
