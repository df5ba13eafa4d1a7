//! Direct terminal handling that rustyline does not cover: reading a password without echo,
//! and putting the terminal back as it was when the client exits in the middle of a line edit.
//!
//! Only used in interactive mode (stdin is a terminal). Unix only, through `libc` termios.

use std::io::Write;
use std::os::fd::RawFd;

const STDIN: RawFd = libc::STDIN_FILENO;

/// The terminal settings of stdin when the client started, to restore at exit.
pub struct SavedTerminal {
    termios: libc::termios,
}

impl SavedTerminal {
    /// Captures the current settings of stdin, if it is a terminal.
    pub fn capture() -> Option<SavedTerminal> {
        get_termios(STDIN).map(|termios| SavedTerminal { termios })
    }

    /// Puts the settings back and switches bracketed paste off (rustyline turns it on while it
    /// reads a line): for exiting while a line is being edited.
    pub fn restore(&self) {
        // SAFETY: `termios` is a valid structure obtained from tcgetattr on the same fd.
        unsafe {
            libc::tcsetattr(STDIN, libc::TCSANOW, &self.termios);
        }
        let mut out = std::io::stdout();
        let _ = out.write_all(b"\x1b[?2004l");
        let _ = out.flush();
    }
}

fn get_termios(fd: RawFd) -> Option<libc::termios> {
    // SAFETY: tcgetattr fills the zeroed structure or fails; we read it only on success.
    unsafe {
        let mut termios: libc::termios = std::mem::zeroed();
        (libc::tcgetattr(fd, &mut termios) == 0).then_some(termios)
    }
}

/// What [`read_secret`] got.
#[derive(Debug, PartialEq, Eq)]
pub enum Secret {
    /// The line typed (Enter pressed).
    Line(String),
    /// Ctrl-C: the line was discarded.
    Interrupted,
    /// Ctrl-D on an empty line, or stdin closed.
    EndOfInput,
}

/// Restores the terminal settings when dropped, so no path out of [`read_secret`] leaves echo
/// off.
struct EchoGuard {
    saved: libc::termios,
}

impl Drop for EchoGuard {
    fn drop(&mut self) {
        // SAFETY: restoring settings obtained from tcgetattr on the same fd.
        unsafe {
            libc::tcsetattr(STDIN, libc::TCSANOW, &self.saved);
        }
    }
}

/// Prints `prompt` and reads one line from the terminal without echoing it. Echo, canonical
/// mode and signal keys are switched off while reading, so Ctrl-C cannot kill the process with
/// echo still off; the keys are interpreted here instead: Enter ends the line, Backspace erases
/// a character, Ctrl-U the whole line, Ctrl-C discards it, Ctrl-D on an empty line ends input.
///
/// # Errors
/// Reading stdin or changing the terminal settings failed.
pub fn read_secret(prompt: &str) -> std::io::Result<Secret> {
    let saved = get_termios(STDIN).ok_or_else(std::io::Error::last_os_error)?;
    let mut raw = saved;
    raw.c_lflag &= !(libc::ECHO | libc::ICANON | libc::ISIG | libc::IEXTEN);
    raw.c_iflag &= !(libc::ICRNL | libc::IXON);
    raw.c_cc[libc::VMIN] = 1;
    raw.c_cc[libc::VTIME] = 0;
    // SAFETY: `raw` is a modified copy of valid settings for the same fd.
    if unsafe { libc::tcsetattr(STDIN, libc::TCSANOW, &raw) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let guard = EchoGuard { saved };
    // Only now show the prompt: a password typed as soon as it appears must not be echoed.
    let mut out = std::io::stdout();
    out.write_all(prompt.as_bytes())?;
    out.flush()?;
    let mut line: Vec<u8> = Vec::new();
    let result = loop {
        let byte = match read_byte() {
            Ok(None) => break Secret::EndOfInput,
            Ok(Some(byte)) => byte,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        match byte {
            b'\r' | b'\n' => break Secret::Line(String::from_utf8_lossy(&line).into_owned()),
            // Ctrl-C
            0x03 => break Secret::Interrupted,
            // Ctrl-D
            0x04 if line.is_empty() => break Secret::EndOfInput,
            0x04 => {}
            // Backspace / DEL: drop one whole UTF-8 character.
            0x08 | 0x7f => {
                while let Some(b) = line.pop() {
                    if b & 0xc0 != 0x80 {
                        break;
                    }
                }
            }
            // Ctrl-U
            0x15 => line.clear(),
            b => line.push(b),
        }
    };
    drop(guard);
    // The Enter (or ^C) was not echoed: end the prompt's line ourselves.
    let end: &[u8] = if result == Secret::Interrupted {
        b"^C\r\n"
    } else {
        b"\r\n"
    };
    out.write_all(end)?;
    out.flush()?;
    Ok(result)
}

/// Reads one byte from the stdin file descriptor, bypassing the standard library's buffer, so
/// that keys typed after the password stay in the terminal for the line editor.
fn read_byte() -> std::io::Result<Option<u8>> {
    let mut byte = 0u8;
    // SAFETY: reading at most one byte into a valid one-byte buffer.
    let n = unsafe { libc::read(STDIN, (&mut byte as *mut u8).cast(), 1) };
    match n {
        0 => Ok(None),
        1 => Ok(Some(byte)),
        _ => Err(std::io::Error::last_os_error()),
    }
}
