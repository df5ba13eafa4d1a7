//! Where the lines users see go, in order: stdout in piped mode, the printer thread (above the
//! prompt) in interactive mode. It also remembers what was printed, for `.wait` and for
//! `--strict` in scripts.
//!
//! Every line given to [`Screen::line`] must already be safe for a terminal (built by
//! [`crate::render`]); the screen does not escape anything itself.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::mpsc::Sender;
use std::time::Duration;

use crate::render::Style;
use crate::repl::PrintJob;
use crate::tty::SavedTerminal;

/// How long to wait for the printer thread to hand over queued lines before giving up (it can
/// only stall when the line editor stopped reading in the instant a line was passed to it; the
/// line then appears with the next prompt).
const FLUSH_TIMEOUT: Duration = Duration::from_millis(500);
/// Lines remembered for `.wait`; older ones are forgotten.
const MAX_REMEMBERED: usize = 10_000;

/// The output side of a session.
pub struct Screen {
    printer: Option<Sender<PrintJob>>,
    /// Interactive mode: the terminal as it was at start, to restore when exiting mid-edit.
    terminal: Option<SavedTerminal>,
    /// Lines printed since the last `.wait` matched (piped mode).
    unmatched: VecDeque<String>,
    remember: bool,
    /// The first line starting with `Error.` printed since [`Screen::take_error`].
    error_seen: Option<String>,
    /// Error lines in colour (interactive, unless `NO_COLOR`).
    style: Style,
}

impl Screen {
    /// Output for piped mode: plain stdout, lines remembered for `.wait`.
    pub fn piped() -> Screen {
        Screen {
            printer: None,
            terminal: None,
            unmatched: VecDeque::new(),
            remember: true,
            error_seen: None,
            style: Style::default(),
        }
    }

    /// Output for interactive mode: through the printer thread when there is one.
    pub fn interactive(
        printer: Option<Sender<PrintJob>>,
        terminal: Option<SavedTerminal>,
        style: Style,
    ) -> Screen {
        Screen {
            printer,
            terminal,
            unmatched: VecDeque::new(),
            remember: false,
            error_seen: None,
            style,
        }
    }

    /// Prints one line.
    pub fn line(&mut self, line: impl Into<String>) {
        let line = line.into();
        if line.starts_with("Error.") && self.error_seen.is_none() {
            self.error_seen = Some(line.clone());
        }
        let shown = self.style.error(line.clone());
        match &self.printer {
            Some(printer) if printer.send(PrintJob::Line(format!("{shown}\n"))).is_ok() => {}
            _ => write_stdout(&shown),
        }
        if self.remember {
            if self.unmatched.len() == MAX_REMEMBERED {
                self.unmatched.pop_front();
            }
            self.unmatched.push_back(line);
        }
    }

    /// Prints several lines.
    pub fn lines(&mut self, lines: impl IntoIterator<Item = String>) {
        for line in lines {
            self.line(line);
        }
    }

    /// The first `Error.` line printed since the last call, if any; forgets it.
    pub fn take_error(&mut self) -> Option<String> {
        self.error_seen.take()
    }

    /// Looks for a remembered line containing `text`. On a match, that line and every line
    /// before it are forgotten, so the next `.wait` needs a line printed after it.
    pub fn take_match(&mut self, text: &str) -> bool {
        match self.unmatched.iter().position(|l| l.contains(text)) {
            Some(i) => {
                self.unmatched.drain(..=i);
                true
            }
            None => false,
        }
    }

    /// Waits (briefly) until every line sent to the printer thread has been handed to the
    /// terminal, so what is written next (a prompt) comes after them.
    pub fn flush(&mut self) {
        if let Some(printer) = &self.printer {
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            if printer.send(PrintJob::Flush(done_tx)).is_ok() {
                let _ = done_rx.recv_timeout(FLUSH_TIMEOUT);
            }
        }
        let _ = std::io::stdout().flush();
    }

    /// Prints the session's last lines and leaves the terminal usable. `editing` says the line
    /// editor is in the middle of reading a line: its prompt is then erased and the terminal
    /// settings put back, since the editor will not get to do it.
    pub fn finish(&mut self, editing: bool, last: &[String]) {
        self.flush();
        self.printer = None;
        if editing {
            if let Some(terminal) = &self.terminal {
                terminal.restore();
                write_raw("\r\x1b[K");
            }
        }
        for line in last {
            self.line(line.clone());
        }
        let _ = std::io::stdout().flush();
    }
}

fn write_raw(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Writes a line to stdout. Errors are ignored: when stdout is gone there is nobody left to
/// tell, and the session's outcome is still reported by the exit status.
fn write_stdout(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes());
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_matches_consume_lines() {
        let mut screen = Screen {
            printer: None,
            terminal: None,
            unmatched: VecDeque::new(),
            remember: true,
            error_seen: None,
            style: Style::default(),
        };
        // Bypass stdout: fill the memory directly.
        for l in ["luke logged in", "hans: hi", "yoda logged in"] {
            screen.unmatched.push_back(l.to_string());
        }
        assert!(screen.take_match("logged in"));
        assert_eq!(screen.unmatched.len(), 2);
        assert!(screen.take_match("logged in"));
        assert!(!screen.take_match("logged in"));
        assert!(!screen.take_match("hans: hi"));
    }
}
