//! Interactive mode's terminal side: the rustyline editor (history file, tab completion of
//! command names and user names), the thread that runs it when the session asks for a line,
//! and the printer thread that puts incoming lines above the prompt without breaking the line
//! being typed.
//!
//! The session never touches the editor: it sends an [`Ask`] and receives an [`Input`].
//! Passwords are read by [`crate::tty::read_secret`] on the same thread, never through the
//! editor, so they can reach neither the screen nor the history.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, ExternalPrinter as _, Helper};

use crate::commands::COMMANDS;
use crate::diag::report;
use crate::inbox::{Ask, Input};

/// The prompt for commands.
pub const COMMAND_PROMPT: &str = "> ";
/// Lines kept in the history file.
const HISTORY_SIZE: usize = 1000;

/// User names offered by tab completion: the users known to be online (from presence events
/// and `whoelse` answers), plus private peers. Shared between the session, which keeps it
/// current, and the editor's helper, which reads it on Tab.
#[derive(Clone, Default)]
pub struct UserNames {
    /// The lock is held only to copy or update the sets, never across I/O.
    inner: Arc<Mutex<Names>>,
}

#[derive(Default)]
struct Names {
    online: BTreeSet<String>,
    peers: BTreeSet<String>,
}

impl UserNames {
    fn lock(&self) -> MutexGuard<'_, Names> {
        // A panic while holding this lock cannot leave the set half-updated in a way that
        // matters for completion, so a poisoned lock is used as it is.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an online user.
    pub fn insert(&self, name: &str) {
        self.lock().online.insert(name.to_string());
    }

    /// Removes an online user.
    pub fn remove(&self, name: &str) {
        self.lock().online.remove(name);
    }

    /// Replaces every online user with `names`.
    pub fn replace<'a>(&self, names: impl IntoIterator<Item = &'a String>) {
        let mut set = self.lock();
        set.online.clear();
        set.online.extend(names.into_iter().cloned());
    }

    /// Adds a private peer (a private session started).
    pub fn insert_peer(&self, name: &str) {
        self.lock().peers.insert(name.to_string());
    }

    /// Removes a private peer (its session ended).
    pub fn remove_peer(&self, name: &str) {
        self.lock().peers.remove(name);
    }

    /// The online users and private peers starting with `prefix`, sorted, without repeats.
    pub fn starting_with(&self, prefix: &str) -> Vec<String> {
        let names = self.lock();
        let all: BTreeSet<&String> = names.online.iter().chain(&names.peers).collect();
        all.into_iter()
            .filter(|n| n.starts_with(prefix) && printable(n))
            .cloned()
            .collect()
    }

    /// The private peers starting with `prefix`, sorted.
    pub fn peers_starting_with(&self, prefix: &str) -> Vec<String> {
        self.lock()
            .peers
            .iter()
            .filter(|n| n.starts_with(prefix) && printable(n))
            .cloned()
            .collect()
    }
}

/// Whether a name from the network can be offered as a completion: the editor shows
/// candidates as they are, so one that [`sanitize`](crate::render::sanitize) would change
/// (control characters, terminal escapes, invisible characters) is never offered.
fn printable(name: &str) -> bool {
    crate::render::sanitize(name) == name
}

/// The editor's helper: completion only (no hints, highlighting or validation).
pub struct ChatHelper {
    names: UserNames,
    /// Off while the user name is asked: there is nothing to complete then.
    commands: bool,
}

/// The completions for `line` with the cursor at `pos`: the start of the word being completed
/// and the candidates. Command names complete the first word; user names complete the argument
/// of commands that take a user there: private peers for `private` and `stopprivate`, online
/// users and private peers for the others.
pub fn complete(line: &str, pos: usize, names: &UserNames) -> (usize, Vec<Pair>) {
    let before = &line[..pos];
    let start = before.rfind(' ').map_or(0, |i| i + 1);
    let word = &before[start..];
    let earlier: Vec<&str> = before[..start]
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect();
    let pair = |s: &str| Pair {
        display: s.to_string(),
        replacement: format!("{s} "),
    };
    let candidates = match earlier.as_slice() {
        [] => COMMANDS
            .iter()
            .filter(|c| c.name.starts_with(word))
            .map(|c| pair(c.name))
            .collect(),
        [command, args @ ..] => {
            let info = crate::commands::info(command)
                .filter(|c| c.user_arg.is_some_and(|n| n == args.len() + 1));
            match info {
                Some(c) if c.peer_arg => names
                    .peers_starting_with(word)
                    .iter()
                    .map(|n| pair(n))
                    .collect(),
                Some(_) => names.starting_with(word).iter().map(|n| pair(n)).collect(),
                None => Vec::new(),
            }
        }
    };
    (start, candidates)
}

impl Completer for ChatHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        if !self.commands {
            return Ok((pos, Vec::new()));
        }
        Ok(complete(line, pos, &self.names))
    }
}

impl Hinter for ChatHelper {
    type Hint = String;
}

impl Highlighter for ChatHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        Cow::Borrowed(line)
    }
}

impl Validator for ChatHelper {}

impl Helper for ChatHelper {}

/// A job for the printer thread.
pub enum PrintJob {
    /// Print this text (a line with its newline).
    Line(String),
    /// Answer when everything before has been handed to the terminal.
    Flush(Sender<()>),
}

/// The handles interactive mode runs with.
pub struct Interactive {
    /// Where the session sends [`Ask`]s.
    pub asks: Sender<Ask>,
    /// Where the session sends lines to print; `None` when the terminal has no support for
    /// printing above the prompt (then lines are written directly).
    pub printer: Option<Sender<PrintJob>>,
}

/// Starts the editor thread (and, when the terminal allows it, the printer thread).
///
/// # Errors
/// The editor could not be set up or a thread could not start.
pub fn start(
    inbox: Sender<Input>,
    names: UserNames,
    history: Option<PathBuf>,
) -> std::io::Result<Interactive> {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .history_ignore_space(true)
        .history_ignore_dups(true)
        .and_then(|b| b.max_history_size(HISTORY_SIZE))
        .map_err(std::io::Error::other)?
        .build();
    let mut editor: Editor<ChatHelper, DefaultHistory> =
        Editor::with_config(config).map_err(std::io::Error::other)?;
    editor.set_helper(Some(ChatHelper {
        names,
        commands: true,
    }));
    if let Some(path) = &history {
        load_history(&mut editor, path);
    }
    let printer = match editor.create_external_printer() {
        Ok(mut printer) => {
            let (jobs_tx, jobs_rx) = std::sync::mpsc::channel::<PrintJob>();
            // Detached: it ends when the session drops its sender, or with the process.
            std::thread::Builder::new()
                .name("printer".into())
                .spawn(move || {
                    for job in jobs_rx {
                        match job {
                            PrintJob::Line(line) => {
                                if printer.print(line).is_err() {
                                    return;
                                }
                            }
                            PrintJob::Flush(done) => {
                                let _ = done.send(());
                            }
                        }
                    }
                })?;
            Some(jobs_tx)
        }
        Err(_) => None,
    };
    let (asks_tx, asks_rx) = std::sync::mpsc::channel();
    // Detached: it blocks in a terminal read that the process exit ends.
    std::thread::Builder::new()
        .name("editor".into())
        .spawn(move || editor_loop(editor, history, asks_rx, inbox))?;
    Ok(Interactive {
        asks: asks_tx,
        printer,
    })
}

/// Loads the history file, creating its directory (owner-only) if needed.
fn load_history(editor: &mut Editor<ChatHelper, DefaultHistory>, path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            if let Err(e) = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
            {
                report!("cannot create {}: {e}", dir.display());
            }
        }
    }
    if path.exists() {
        if let Err(e) = editor.load_history(path) {
            report!("cannot read history {}: {e}", path.display());
        }
    }
}

fn editor_loop(
    mut editor: Editor<ChatHelper, DefaultHistory>,
    history: Option<PathBuf>,
    asks: Receiver<Ask>,
    inbox: Sender<Input>,
) {
    let mut history_error_shown = false;
    for ask in asks {
        let input = match ask {
            Ask::Secret(prompt) => match crate::tty::read_secret(&prompt) {
                Ok(crate::tty::Secret::Line(line)) => Input::Line(line),
                Ok(crate::tty::Secret::Interrupted) => Input::Interrupted,
                Ok(crate::tty::Secret::EndOfInput) => Input::EndOfInput,
                Err(e) => {
                    report!("cannot read the password: {e}");
                    Input::EndOfInput
                }
            },
            Ask::Username => {
                set_completion(&mut editor, false);
                readline(&mut editor, crate::render::USERNAME_PROMPT)
            }
            Ask::Answer(prompt) => {
                set_completion(&mut editor, false);
                readline(&mut editor, &prompt)
            }
            Ask::Command => {
                set_completion(&mut editor, true);
                let input = readline(&mut editor, COMMAND_PROMPT);
                if let Input::Line(line) = &input {
                    if let Some(path) = &history {
                        let added = editor.add_history_entry(line.as_str()).unwrap_or(false);
                        if added {
                            if let Err(e) = editor.append_history(path) {
                                if !history_error_shown {
                                    report!("cannot save history {}: {e}", path.display());
                                    history_error_shown = true;
                                }
                            }
                        }
                    } else {
                        let _ = editor.add_history_entry(line.as_str());
                    }
                }
                input
            }
        };
        let end = matches!(input, Input::EndOfInput);
        if inbox.send(input).is_err() || end {
            return;
        }
    }
}

fn set_completion(editor: &mut Editor<ChatHelper, DefaultHistory>, on: bool) {
    if let Some(helper) = editor.helper_mut() {
        helper.commands = on;
    }
}

fn readline(editor: &mut Editor<ChatHelper, DefaultHistory>, prompt: &str) -> Input {
    match editor.readline(prompt) {
        Ok(line) => Input::Line(line),
        Err(ReadlineError::Interrupted) => Input::Interrupted,
        Err(ReadlineError::Eof) => Input::EndOfInput,
        Err(e) => {
            report!("cannot read the terminal: {e}");
            Input::EndOfInput
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replacements(line: &str, names: &UserNames) -> (usize, Vec<String>) {
        let (start, pairs) = complete(line, line.len(), names);
        (start, pairs.into_iter().map(|p| p.replacement).collect())
    }

    #[test]
    fn completes_commands() {
        let names = UserNames::default();
        assert_eq!(
            replacements("who", &names),
            (0, vec!["whoelse ".into(), "whoelsesince ".into()])
        );
        assert_eq!(replacements("br", &names), (0, vec!["broadcast ".into()]));
        assert_eq!(replacements("x", &names), (0, vec![]));
        assert_eq!(replacements("", &names).1.len(), COMMANDS.len());
    }

    #[test]
    fn completes_user_arguments() {
        let names = UserNames::default();
        names.replace(&["luke".to_string(), "leia".to_string(), "yoda".to_string()]);
        assert_eq!(
            replacements("message l", &names),
            (8, vec!["leia ".into(), "luke ".into()])
        );
        assert_eq!(replacements("block  yo", &names), (7, vec!["yoda ".into()]));
        assert_eq!(replacements("unblock ", &names).1.len(), 3);
        // Not a user position: the message text, or commands without a user argument.
        assert_eq!(replacements("message luke l", &names).1.len(), 0);
        assert_eq!(replacements("broadcast l", &names).1.len(), 0);
        assert_eq!(replacements("whoelsesince l", &names).1.len(), 0);
        names.remove("leia");
        names.insert("lando");
        assert_eq!(
            replacements("message l", &names).1,
            vec!["lando ".to_string(), "luke ".to_string()]
        );
    }

    #[test]
    fn completes_private_peers() {
        let names = UserNames::default();
        names.replace(&["luke".to_string(), "leia".to_string()]);
        assert!(replacements("private l", &names).1.is_empty());
        names.insert_peer("luke");
        names.insert_peer("lando");
        assert_eq!(
            replacements("private l", &names),
            (8, vec!["lando ".into(), "luke ".into()])
        );
        assert_eq!(replacements("stopprivate lu", &names).1, vec!["luke "]);
        // startprivate offers online users (and peers), once each.
        assert_eq!(
            replacements("startprivate l", &names).1,
            vec!["lando ", "leia ", "luke "]
        );
        assert!(replacements("private luke l", &names).1.is_empty());
        names.remove_peer("luke");
        assert_eq!(replacements("private l", &names).1, vec!["lando "]);
    }

    #[test]
    fn names_with_escapes_are_never_offered() {
        let names = UserNames::default();
        names.replace(&["luke".to_string(), "l\u{1b}[2J".to_string()]);
        names.insert("l\u{202e}x");
        names.insert_peer("l\u{7}");
        assert_eq!(replacements("message l", &names).1, vec!["luke "]);
        assert!(replacements("private l", &names).1.is_empty());
    }
}
