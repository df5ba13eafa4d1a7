//! Piped mode's input: the thread that reads stdin one line at a time when the session asks,
//! and the script syntax on top of plain lines: `# comment`, `.sleep SECONDS`,
//! `.wait TEXT [SECONDS]`.
//!
//! Running a directive needs the connection (events keep printing while a script sleeps or
//! waits), so [`crate::session`] executes them; this module only parses.

use std::io::{BufRead, IsTerminal};
use std::sync::mpsc::{Receiver, Sender};
use std::time::Duration;

use crate::diag::report;
use crate::inbox::{Ask, Input};

/// How long `.wait` waits when the script gives no time.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);
/// The longest `.sleep` or `.wait` accepted (one day), so a typo cannot hang a script forever.
const MAX_SECONDS: f64 = 86_400.0;

/// A client-side script directive.
#[derive(Debug, Clone, PartialEq)]
pub enum Directive {
    /// `.sleep SECONDS`: keep showing events, read the next line after this long.
    Sleep(Duration),
    /// `.wait TEXT [SECONDS]`: until a printed line contains `text`.
    Wait {
        /// The text to look for (case-sensitive, anywhere in a line).
        text: String,
        /// How long to wait before the script fails.
        timeout: Duration,
    },
}

/// Whether `line` is a comment (`#` as its first non-blank character).
pub fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Whether `line` is a directive (it starts with `.`).
pub fn is_directive(line: &str) -> bool {
    line.starts_with('.')
}

fn seconds(s: &str) -> Option<Duration> {
    let secs: f64 = s.parse().ok()?;
    (secs.is_finite() && (0.0..=MAX_SECONDS).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

/// Parses a directive line (starting with `.`).
///
/// `.wait` takes the last word as the timeout when it is a number and there is text before it;
/// to wait for a text that ends in a number, give the timeout explicitly
/// (`.wait whoelsesince 200 10`).
///
/// # Errors
/// A message naming the problem, for the script's author.
pub fn parse_directive(line: &str) -> Result<Directive, String> {
    let line = line.trim_end_matches(['\r', ' ']);
    let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim_start_matches(' ');
    match name {
        ".sleep" => seconds(rest)
            .map(Directive::Sleep)
            .ok_or_else(|| format!("usage: .sleep SECONDS (0 to {MAX_SECONDS}), not {line:?}")),
        ".wait" => {
            if rest.is_empty() {
                return Err("usage: .wait TEXT [SECONDS]".to_string());
            }
            let (text, timeout) = match rest.rsplit_once(' ') {
                Some((text, last)) => match seconds(last) {
                    Some(timeout) => (text.trim_end_matches(' '), timeout),
                    None => (rest, DEFAULT_WAIT),
                },
                None => (rest, DEFAULT_WAIT),
            };
            Ok(Directive::Wait {
                text: text.to_string(),
                timeout,
            })
        }
        _ => Err(format!(
            "unknown directive {name:?} (known: .sleep SECONDS, .wait TEXT [SECONDS])"
        )),
    }
}

/// Starts the thread that reads stdin for piped mode: one line per [`Ask`], answered with
/// [`Input::Line`] (or [`Input::EndOfInput`]) on `inbox`. Reading only when asked keeps the
/// promise that a command's result is printed before the next line is read.
pub fn spawn_reader(inbox: Sender<Input>) -> std::io::Result<Sender<Ask>> {
    let (ask_tx, ask_rx) = std::sync::mpsc::channel();
    // Detached: it blocks in a stdin read the process exit ends.
    std::thread::Builder::new()
        .name("stdin-reader".into())
        .spawn(move || reader_loop(ask_rx, inbox))?;
    Ok(ask_tx)
}

fn reader_loop(asks: Receiver<Ask>, inbox: Sender<Input>) {
    let terminal = std::io::stdin().is_terminal();
    let mut stdin = std::io::stdin().lock();
    let mut buf = Vec::new();
    while let Ok(ask) = asks.recv() {
        if terminal && matches!(ask, Ask::Secret(_)) {
            // Typed at a terminal while stdout goes elsewhere: still no echo for a password.
            // (A terminal in canonical mode delivers one line per read, so the buffered
            // reader holds nothing beyond the previous line.)
            let input = match crate::tty::read_secret("") {
                Ok(crate::tty::Secret::Line(line)) => Input::Line(line),
                Ok(crate::tty::Secret::Interrupted) => Input::Interrupted,
                Ok(crate::tty::Secret::EndOfInput) | Err(_) => Input::EndOfInput,
            };
            let end = matches!(input, Input::EndOfInput);
            if inbox.send(input).is_err() || end {
                return;
            }
            continue;
        }
        buf.clear();
        let input = match stdin.read_until(b'\n', &mut buf) {
            Ok(0) => Input::EndOfInput,
            Ok(_) => {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                }
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
                Input::Line(String::from_utf8_lossy(&buf).into_owned())
            }
            Err(e) => {
                report!("cannot read stdin: {e}");
                Input::EndOfInput
            }
        };
        let end = matches!(input, Input::EndOfInput);
        if inbox.send(input).is_err() || end {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives() {
        assert_eq!(
            parse_directive(".sleep 1.5"),
            Ok(Directive::Sleep(Duration::from_millis(1500)))
        );
        assert_eq!(
            parse_directive(".wait luke logged in"),
            Ok(Directive::Wait {
                text: "luke logged in".into(),
                timeout: DEFAULT_WAIT
            })
        );
        assert_eq!(
            parse_directive(".wait hans: Hey Dude 5"),
            Ok(Directive::Wait {
                text: "hans: Hey Dude".into(),
                timeout: Duration::from_secs(5)
            })
        );
        assert_eq!(
            parse_directive(".wait 42"),
            Ok(Directive::Wait {
                text: "42".into(),
                timeout: DEFAULT_WAIT
            })
        );
        assert!(parse_directive(".wait").is_err());
        assert!(parse_directive(".sleep").is_err());
        assert!(parse_directive(".sleep -1").is_err());
        assert!(parse_directive(".sleep forever").is_err());
        assert!(parse_directive(".dance").is_err());
    }

    #[test]
    fn comments() {
        assert!(is_comment("# hi"));
        assert!(is_comment("   #"));
        assert!(!is_comment("message yoda #1"));
        assert!(is_directive(".wait x"));
        assert!(!is_directive(" .wait x"));
    }
}
