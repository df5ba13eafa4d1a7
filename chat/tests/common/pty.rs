//! A pseudo-terminal for testing interactive mode: the real `chat` runs with a pty as its
//! stdin, stdout and stderr (and controlling terminal); a reader thread collects everything it
//! writes, and the test types keys into the master side. Waits have deadlines; the child is
//! killed when the guard drops.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::DEADLINE;

/// A child process on a pseudo-terminal.
pub struct Pty {
    child: Child,
    master: File,
    output: mpsc::Receiver<Vec<u8>>,
    /// Everything the child wrote so far, raw (escape sequences included).
    pub screen: Vec<u8>,
    /// How much of `screen` [`Pty::expect`] has matched past.
    seen: usize,
}

impl Pty {
    /// Starts `cmd` on a new 24x100 pseudo-terminal.
    pub fn spawn(mut cmd: Command) -> Pty {
        let mut master_fd = 0;
        let mut slave_fd = 0;
        let size = libc::winsize {
            ws_row: 24,
            ws_col: 100,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two fds into the given ints; the other pointers may be null.
        let rc = unsafe {
            libc::openpty(
                &mut master_fd,
                &mut slave_fd,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both fds were just opened and are owned by nobody else.
        let (master, slave) = unsafe {
            (
                OwnedFd::from_raw_fd(master_fd),
                OwnedFd::from_raw_fd(slave_fd),
            )
        };
        let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup pty"));
        cmd.stdin(stdio(&slave))
            .stdout(stdio(&slave))
            .stderr(stdio(&slave))
            .env("TERM", "xterm");
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on the pty");
        drop(slave);
        let master = File::from(master);
        let mut reader = master.try_clone().expect("clone master");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once the child side is closed.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty {
            child,
            master,
            output: rx,
            screen: Vec::new(),
            seen: 0,
        }
    }

    /// Waits until the program has turned echo off (it is reading a secret): a prompt is
    /// printed before the terminal mode is set, so keys typed as soon as the prompt shows could
    /// be echoed by the terminal itself.
    #[allow(dead_code)]
    pub fn wait_echo_off(&mut self) {
        use std::os::fd::AsRawFd;
        let end = Instant::now() + DEADLINE;
        loop {
            // SAFETY: tcgetattr fills the zeroed struct from the open master fd.
            let mut t: libc::termios = unsafe { std::mem::zeroed() };
            let rc = unsafe { libc::tcgetattr(self.master.as_raw_fd(), &mut t) };
            assert_eq!(rc, 0, "tcgetattr: {}", std::io::Error::last_os_error());
            if t.c_lflag & libc::ECHO == 0 {
                return;
            }
            assert!(Instant::now() < end, "echo never turned off");
            // Polling a terminal mode: there is no event to wait on.
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Types `keys`.
    pub fn send(&mut self, keys: &str) {
        self.master
            .write_all(keys.as_bytes())
            .expect("type into the pty");
        self.master.flush().expect("flush the pty");
    }

    /// Waits until `needle` appears in the output after the last match; returns the output
    /// from the last match up to and including it.
    pub fn expect(&mut self, needle: &str) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(i) = find(&self.screen[self.seen..], needle.as_bytes()) {
                let from = self.seen;
                self.seen += i + needle.len();
                return String::from_utf8_lossy(&self.screen[from..self.seen]).into_owned();
            }
            let left = end.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(chunk) => self.screen.extend_from_slice(&chunk),
                Err(_) => panic!(
                    "no {needle:?} on the terminal; it shows: {:?}",
                    String::from_utf8_lossy(&self.screen)
                ),
            }
        }
    }

    /// Waits for the exit and returns the status code.
    pub fn finish(&mut self) -> i32 {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // The reader ends at EIO once the child (the last holder of the pty) is gone.
                while let Ok(chunk) = self.output.recv_timeout(DEADLINE) {
                    self.screen.extend_from_slice(&chunk);
                }
                return status.code().expect("exited normally");
            }
            assert!(Instant::now() < end, "the client did not exit in time");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The whole output as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.screen).into_owned()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
