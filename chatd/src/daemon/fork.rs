//! Forking into the background and the pid file: the double fork with a start-up pipe back to
//! the terminal's process, and the `flock`ed pid file that tells a live chatd from a stale file.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::DaemonError;

/// An exclusively locked pid file. The `flock` lock, not the pid written in it, is what tells a
/// live chatd from a stale file: the kernel drops it when the process dies, even by `kill -9`.
/// The lock is inherited across the daemon's forks. Dropping the value removes the file.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    file: File,
}

impl PidFile {
    /// Opens and locks `path`, creating it (mode 0644) if needed.
    ///
    /// # Errors
    /// [`DaemonError::PidFileHeld`] when a running chatd holds it; [`DaemonError::PidFile`] for
    /// I/O failures.
    pub fn acquire(path: &Path) -> Result<PidFile, DaemonError> {
        let io = |source| DaemonError::PidFile {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .map_err(io)?;
        // SAFETY: flock on a descriptor owned by `file`.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(DaemonError::PidFileHeld {
                    path: path.to_path_buf(),
                    pid: if pid.is_empty() { "unknown" } else { pid }.to_string(),
                });
            }
            return Err(io(err));
        }
        Ok(PidFile {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes this process's pid (call it in the process that serves, after any fork).
    ///
    /// # Errors
    /// [`DaemonError::PidFile`].
    pub fn write_pid(&mut self) -> Result<(), DaemonError> {
        let pid = std::process::id();
        let result = (|| {
            self.file.set_len(0)?;
            self.file.rewind()?;
            self.file.write_all(format!("{pid}\n").as_bytes())?;
            self.file.sync_all()
        })();
        result.map_err(|source| DaemonError::PidFile {
            path: self.path.clone(),
            source,
        })
    }

    /// The pid file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Removed while still locked, so no other chatd can have taken it over in between.
        if let Err(e) = std::fs::remove_file(&self.path) {
            log::warn!("cannot remove pid file {}: {e}", self.path.display());
        }
    }
}

/// Which side of the fork this is.
pub enum Forked {
    /// The original process: wait for the daemon's start-up report, then exit.
    Parent(StartupReport),
    /// The daemon: serve, then report through [`Readiness`].
    Daemon(Readiness),
}

/// The parent's end of the start-up pipe.
pub struct StartupReport {
    pipe: File,
    /// Wait status of the intermediate child (non-zero if it failed before the second fork).
    intermediate_status: i32,
}

impl StartupReport {
    /// Blocks until the daemon says it serves (Ok) or why it could not (Err with its message).
    ///
    /// # Errors
    /// The daemon's error, or a note that it died without a word.
    pub fn wait(mut self) -> Result<(), String> {
        let mut report = String::new();
        if let Err(e) = self.pipe.read_to_string(&mut report) {
            return Err(format!("cannot read the daemon's start-up report: {e}"));
        }
        match report.trim_end() {
            "ok" => Ok(()),
            "" if self.intermediate_status != 0 => Err(format!(
                "the intermediate process failed (wait status {})",
                self.intermediate_status
            )),
            "" => Err("the daemon exited during start-up (see its log file)".into()),
            why => Err(why.to_string()),
        }
    }
}

/// The daemon's end of the start-up pipe.
pub struct Readiness(File);

impl Readiness {
    /// Tells the waiting parent that the daemon serves.
    pub fn ready(mut self) {
        // The parent may have been killed meanwhile; nothing to do about that.
        let _ = self.0.write_all(b"ok\n");
    }

    /// Tells the waiting parent why start-up failed.
    pub fn failed(mut self, why: &str) {
        let _ = self.0.write_all(why.as_bytes());
    }
}

/// Forks into the background (double fork, new session, cwd `/`, umask 027, stdin and
/// stdout to `/dev/null`, stderr to `log` or `/dev/null`). Call it before any thread or async
/// reactor exists: a fork only copies the calling thread.
///
/// # Errors
/// [`DaemonError::Fork`] in the parent if the first fork failed.
/// In a child whose set-up step failed, the error has already been reported to the parent;
/// the caller only has to exit.
pub fn daemonize(log: Option<&File>) -> Result<Forked, DaemonError> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fresh descriptors on success; close-on-exec keeps them out of
    // any program started later.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(DaemonError::Fork(format!(
            "cannot create the start-up pipe: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: both descriptors were just created and are owned by nothing else.
    let (reader, writer) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    let stderr = match log.map(File::try_clone) {
        Some(Ok(f)) => daemonize::Stdio::from(f),
        Some(Err(e)) => return Err(DaemonError::Fork(format!("cannot share the log file: {e}"))),
        None => daemonize::Stdio::devnull(),
    };
    let outcome = daemonize::Daemonize::new()
        .working_directory("/")
        .umask(0o027)
        .stdout(daemonize::Stdio::devnull())
        .stderr(stderr)
        .execute();
    match outcome {
        daemonize::Outcome::Parent(Ok(parent)) => {
            drop(writer);
            Ok(Forked::Parent(StartupReport {
                pipe: reader,
                intermediate_status: parent.first_child_exit_code,
            }))
        }
        daemonize::Outcome::Parent(Err(e)) => Err(DaemonError::Fork(e.to_string())),
        daemonize::Outcome::Child(Ok(_)) => {
            drop(reader);
            Ok(Forked::Daemon(Readiness(writer)))
        }
        daemonize::Outcome::Child(Err(e)) => {
            // Still a child of the terminal's process: the parent relays this and exits 1.
            Readiness(writer).failed(&format!("cannot daemonize: {e}"));
            Err(DaemonError::Fork(e.to_string()))
        }
    }
}
