//! Piped mode's input: the thread that reads the script (stdin, or the file of `-f`, or the
//! commands of `-c`) one line at a time when the session asks, and the script syntax on top of
//! plain lines: `# comment`, `.sleep SECONDS`, `.wait TEXT [SECONDS]`.
//!
//! Running a directive needs the connection (events keep printing while a script sleeps or
//! waits), so [`crate::session`] executes them; this module only parses.

use std::collections::VecDeque;
use std::io::{BufRead, IsTerminal, Write};
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

/// Where a script's lines come from.
pub enum Source {
    /// Standard input: the login lines, then commands.
    Stdin,
    /// A script file (`-f`), read like stdin; named in error messages.
    File {
        /// The name as given.
        name: String,
        /// The open file.
        file: std::fs::File,
    },
    /// `-c` commands: the login lines come from stdin (with prompts when it is a terminal),
    /// then these commands, then the end of input.
    Commands(Vec<String>),
}

impl Source {
    /// How error messages name this source's lines.
    pub fn place(&self) -> Place {
        match self {
            Source::Stdin => Place::Stdin,
            Source::File { name, .. } => Place::File(name.clone()),
            Source::Commands(_) => Place::Commands,
        }
    }
}

/// How error messages name a script line, psql-style: `<stdin>:3`, `FILE:3`, `-c 2` (the
/// second `-c` command; the login lines of a `-c` run come from stdin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Standard input.
    Stdin,
    /// A `-f` file, by the name given.
    File(String),
    /// `-c` commands.
    Commands,
}

impl Place {
    /// The place of input line `line` (counting every line read), or of the `command`-th
    /// command once logged in.
    pub fn describe(&self, logged_in: bool, line: usize, command: usize) -> String {
        match self {
            Place::File(name) => format!("{name}:{line}"),
            Place::Commands if logged_in => format!("-c {command}"),
            Place::Stdin | Place::Commands => format!("<stdin>:{line}"),
        }
    }
}

/// Starts the thread that reads the script for piped mode: one line per [`Ask`], answered
/// with [`Input::Line`] (or [`Input::EndOfInput`]) on `inbox`. Reading only when asked keeps
/// the promise that a command's result is printed before the next line is read.
pub fn spawn_reader(inbox: Sender<Input>, source: Source) -> std::io::Result<Sender<Ask>> {
    let (ask_tx, ask_rx) = std::sync::mpsc::channel();
    // Detached: it blocks in a read the process exit ends.
    std::thread::Builder::new()
        .name("script-reader".into())
        .spawn(move || match source {
            Source::Stdin => reader_loop(ask_rx, inbox, None),
            Source::File { file, .. } => {
                let mut file = std::io::BufReader::new(file);
                read_lines(ask_rx, inbox, &mut file, false, None);
            }
            Source::Commands(commands) => reader_loop(ask_rx, inbox, Some(commands.into())),
        })?;
    Ok(ask_tx)
}

fn reader_loop(asks: Receiver<Ask>, inbox: Sender<Input>, commands: Option<VecDeque<String>>) {
    let terminal = std::io::stdin().is_terminal();
    let mut stdin = std::io::stdin().lock();
    read_lines(asks, inbox, &mut stdin, terminal, commands);
}

/// Answers each ask with a line of `input` (a terminal when `terminal`), or with the next of
/// `commands` for command lines when there are such.
fn read_lines(
    asks: Receiver<Ask>,
    inbox: Sender<Input>,
    input: &mut dyn BufRead,
    terminal: bool,
    mut commands: Option<VecDeque<String>>,
) {
    // With `-c` on a terminal the login is typed by a person: show the prompts.
    let prompts = terminal && commands.is_some();
    let mut buf = Vec::new();
    while let Ok(ask) = asks.recv() {
        if let (Some(commands), Ask::Command { .. } | Ask::Answer(_)) = (&mut commands, &ask) {
            let input = commands.pop_front().map_or(Input::EndOfInput, Input::Line);
            let end = matches!(input, Input::EndOfInput);
            if inbox.send(input).is_err() || end {
                return;
            }
            continue;
        }
        if terminal && matches!(ask, Ask::Secret(_)) {
            // Typed at a terminal while stdout goes elsewhere: still no echo for a password.
            // (A terminal in canonical mode delivers one line per read, so the buffered
            // reader holds nothing beyond the previous line.)
            let prompt = match (&ask, prompts) {
                (Ask::Secret(prompt), true) => prompt.as_str(),
                _ => "",
            };
            let input = match crate::tty::read_secret(prompt) {
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
        if prompts && matches!(ask, Ask::Username) {
            let mut out = std::io::stdout();
            let _ = out.write_all(crate::render::USERNAME_PROMPT.as_bytes());
            let _ = out.flush();
        }
        buf.clear();
        let input = match input.read_until(b'\n', &mut buf) {
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
                report!("cannot read the script: {e}");
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
    fn places() {
        assert_eq!(Place::Stdin.describe(true, 3, 0), "<stdin>:3");
        assert_eq!(
            Place::File("s.chat".into()).describe(true, 4, 0),
            "s.chat:4"
        );
        assert_eq!(Place::Commands.describe(false, 2, 0), "<stdin>:2");
        assert_eq!(Place::Commands.describe(true, 2, 1), "-c 1");
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
