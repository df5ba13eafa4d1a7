//! Deadlines: [`DEADLINE`], and waiting on conditions, child processes and their output
//! without fixed sleeps in the tests themselves.
//!
//! Every wait here either returns what it waited for or panics with what it was waiting for
//! once [`DEADLINE`] has passed. It does not start processes: see [`crate::server`] and
//! [`crate::ctl`].

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ExitStatus, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any single wait in a test may take before the test fails. Only a bound for
/// failure: nothing waits for it to pass.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// How often a condition without an event to wait on is checked again.
const POLL: Duration = Duration::from_millis(10);

/// Checks `cond` until it holds, panicking with `what` after [`DEADLINE`]. For effects with no
/// event to wait on, such as a file disappearing after another process exits.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        std::thread::sleep(POLL);
    }
}

/// Whether process `pid` is running (a zombie waiting for a reaper counts as gone: a daemon's
/// parent is whatever reaper the machine has, which may be slow or absent in a container).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

/// Waits for `child` to exit; panics, naming it `what`, if it outlives [`DEADLINE`].
pub fn wait_child(child: &mut Child, what: &str) -> ExitStatus {
    let mut status = None;
    wait_until(&format!("{what} exits"), || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    status.expect("set when the wait ends")
}

/// Waits for a child with piped output and returns it, killing the child if it outlives
/// [`DEADLINE`].
pub fn wait_output(child: Child) -> Output {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(out) => out.expect("wait for the child"),
        Err(_) => {
            // SAFETY: plain kill(2) of a child this test started.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("process {pid} did not exit within {DEADLINE:?}");
        }
    }
}

/// Reads `pipe` line by line on a thread of its own; the lines (without the newline, invalid
/// UTF-8 replaced) arrive on the returned channel, which disconnects at end of stream.
pub fn collect_lines<R: Read + Send + 'static>(pipe: R) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if buf.last() == Some(&b'\n') {
                        buf.pop();
                    }
                    if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Moves the lines still coming from a [`collect_lines`] channel into `into`, until the pipe
/// closes (as it does when the process writing to it ends); panics, naming the pipe `what`, if
/// it stays open past [`DEADLINE`].
pub fn drain_lines(lines: &mpsc::Receiver<String>, into: &mut Vec<String>, what: &str) {
    let end = Instant::now() + DEADLINE;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => into.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what} stays open"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_until_returns_once_the_condition_holds() {
        let mut calls = 0;
        wait_until("the third call", || {
            calls += 1;
            calls == 3
        });
        assert_eq!(calls, 3);
    }

    #[test]
    fn collect_lines_splits_and_ends_with_the_stream() {
        let rx = collect_lines(&b"one\ntwo\n\xffthree"[..]);
        let mut lines = Vec::new();
        drain_lines(&rx, &mut lines, "the pipe");
        assert_eq!(lines, ["one", "two", "\u{fffd}three"]);
    }

    #[test]
    fn this_process_is_alive_and_a_free_pid_is_not() {
        assert!(alive(std::process::id() as i32));
        assert!(!alive(i32::MAX));
    }
}
