//! Interactive mode's terminal side: the rustyline editor (history file, tab completion of
//! command names and user names), the thread that runs it when the session asks for a line,
//! and the printer thread that puts incoming lines above the prompt without breaking the line
//! being typed.
//!
//! The session never touches the editor: it sends an [`Ask`] and receives an [`Input`].
//! Passwords are read by [`crate::tty::read_secret`] on the same thread, never through the
//! editor, so they can reach neither the screen nor the history.
//!
//! Two more things happen here. A paste of several lines comes back from the editor as one
//! line with newlines in it: it is split, and each line is handed over as if typed (the
//! following ones without waiting for the keyboard). And the session can set aside the line
//! being edited ([`Suspender`]): when a question must be asked (the private-messaging
//! consent) while a command is half typed, the editor is interrupted, the half line is
//! returned as [`Input::Suspended`], and it comes back as the initial text of the next
//! command prompt.

use std::borrow::Cow;
use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, ExternalPrinter as _, Helper};

use crate::commands::{Users, COMMANDS};
use crate::diag::report;
use crate::inbox::{Ask, Input};

/// The prompt for commands, after the user name (`hans> `).
pub const COMMAND_PROMPT: &str = "> ";
/// Lines kept in the history file.
const HISTORY_SIZE: usize = 1000;

/// User names offered by tab completion: every account (from the server's `accounts`
/// answer), the users known to be online (from presence events and `whoelse` answers), and
/// private peers. Shared between the session, which keeps it current, and the editor's
/// helper, which reads it on Tab.
#[derive(Clone, Default)]
pub struct UserNames {
    /// The lock is held only to copy or update the sets, never across I/O.
    inner: Arc<Mutex<Names>>,
}

#[derive(Default)]
struct Names {
    accounts: BTreeSet<String>,
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

    /// Replaces the known accounts with `names`.
    pub fn set_accounts(&self, names: &[String]) {
        let mut set = self.lock();
        set.accounts.clear();
        set.accounts.extend(names.iter().cloned());
    }

    /// Whether `name` is a known account (a name that is not may be a new account: time to
    /// ask the server for the list again).
    pub fn is_account(&self, name: &str) -> bool {
        self.lock().accounts.contains(name)
    }

    /// Adds a private peer (a private session started).
    pub fn insert_peer(&self, name: &str) {
        self.lock().peers.insert(name.to_string());
    }

    /// Removes a private peer (its session ended).
    pub fn remove_peer(&self, name: &str) {
        self.lock().peers.remove(name);
    }

    /// The names of `kind` starting with `prefix`, sorted, without repeats: for accounts,
    /// every account plus whoever is known to be online or a peer (in case the list is
    /// older than them); for online users, those online; for peers, the private peers.
    pub fn starting_with(&self, kind: Users, prefix: &str) -> Vec<String> {
        let names = self.lock();
        let all: BTreeSet<&String> = match kind {
            Users::None => BTreeSet::new(),
            Users::Accounts => names
                .accounts
                .iter()
                .chain(&names.online)
                .chain(&names.peers)
                .collect(),
            Users::Online => names.online.iter().collect(),
            Users::Peers => names.peers.iter().collect(),
        };
        all.into_iter()
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

/// What the editor was showing when it was last changed: the line (for [`Suspender`]).
#[derive(Clone, Default)]
struct Editing {
    line: Arc<Mutex<String>>,
}

impl Editing {
    fn set(&self, line: &str) {
        let mut current = self.line.lock().unwrap_or_else(|e| e.into_inner());
        if *current != line {
            current.clear();
            current.push_str(line);
        }
    }

    fn take(&self) -> String {
        std::mem::take(&mut *self.line.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Lets the session interrupt the command line being edited, to ask a question first; the
/// editor answers with [`Input::Suspended`] and the half-typed line.
///
/// rustyline has no call to end a `readline` from another thread, but while it reads it
/// turns SIGINT into "interrupted" (like Ctrl-C at the keyboard). So: set the flag, then
/// send SIGINT to the process; the editor thread sees the flag and knows it was this, not
/// Ctrl-C. SIGINT is ignored outside `readline` (see [`start`]), so a signal that arrives
/// just after the line was finished does nothing, and the session sends it again until the
/// editor answers.
#[derive(Clone, Default)]
pub struct Suspender {
    wanted: Arc<AtomicBool>,
}

impl Suspender {
    /// Asks the editor to set the current line aside (again, if it has not answered yet).
    pub fn suspend(&self) {
        self.wanted.store(true, Ordering::SeqCst);
        // SAFETY: raise only sends a signal to this process; its disposition is set in
        // `start` (ignored, and rustyline's handler while it reads).
        unsafe {
            libc::raise(libc::SIGINT);
        }
    }

    /// Forgets a request the editor did not act on (it finished the line first).
    pub fn cancel(&self) {
        self.wanted.store(false, Ordering::SeqCst);
    }

    fn take(&self) -> bool {
        self.wanted.swap(false, Ordering::SeqCst)
    }
}

/// The editor's helper: completion, and a copy of the line being edited (through the hint
/// call rustyline makes after every change; it never shows a hint).
pub struct ChatHelper {
    names: UserNames,
    /// Off while the user name is asked: there is nothing to complete then.
    commands: bool,
    editing: Editing,
}

/// The completions for `line` with the cursor at `pos`: the start of the word being completed
/// and the candidates. Command names complete the first word; user names complete the argument
/// of commands that take a user there: every account for `message`, `block` and `unblock`,
/// online users for `startprivate`, private peers for `private` and `stopprivate`.
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
        [command, args @ ..] => match crate::commands::info(command) {
            Some(c) if args.is_empty() => names
                .starting_with(c.users, word)
                .iter()
                .map(|n| pair(n))
                .collect(),
            _ => Vec::new(),
        },
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

    fn hint(&self, line: &str, _pos: usize, _ctx: &Context<'_>) -> Option<String> {
        self.editing.set(line);
        None
    }
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
    /// Sets the line being edited aside.
    pub suspender: Suspender,
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
    let editing = Editing::default();
    editor.set_helper(Some(ChatHelper {
        names,
        commands: true,
        editing: editing.clone(),
    }));
    // SIGINT is how the session interrupts a `readline` (see `Suspender`); outside one it
    // must do nothing. (At the keyboard, Ctrl-C reaches the editor as a key, not a signal.)
    // SAFETY: setting a signal's disposition to "ignore" has no preconditions.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    let suspender = Suspender::default();
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
    let editor_suspender = suspender.clone();
    std::thread::Builder::new()
        .name("editor".into())
        .spawn(move || {
            Editor_::new(editor, history, editing, editor_suspender).run(asks_rx, inbox)
        })?;
    Ok(Interactive {
        asks: asks_tx,
        suspender,
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

/// The editor thread's state.
struct Editor_ {
    editor: Editor<ChatHelper, DefaultHistory>,
    history: Option<PathBuf>,
    history_error_shown: bool,
    editing: Editing,
    suspender: Suspender,
    /// The lines of a multi-line paste not handed over yet.
    pasted: VecDeque<String>,
}

impl Editor_ {
    fn new(
        editor: Editor<ChatHelper, DefaultHistory>,
        history: Option<PathBuf>,
        editing: Editing,
        suspender: Suspender,
    ) -> Editor_ {
        Editor_ {
            editor,
            history,
            history_error_shown: false,
            editing,
            suspender,
            pasted: VecDeque::new(),
        }
    }

    fn run(mut self, asks: Receiver<Ask>, inbox: Sender<Input>) {
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
                    set_completion(&mut self.editor, false);
                    readline(&mut self.editor, crate::render::USERNAME_PROMPT, "")
                }
                Ask::Answer(prompt) => {
                    set_completion(&mut self.editor, false);
                    readline(&mut self.editor, &prompt, "")
                }
                Ask::Command { prompt, initial } => self.command(&prompt, &initial),
            };
            let end = matches!(input, Input::EndOfInput);
            if inbox.send(input).is_err() || end {
                return;
            }
        }
    }

    /// One command line: the next pasted line if a paste is being handed over, else the
    /// editor's (which may be set aside by the session, or be a paste of several lines).
    fn command(&mut self, prompt: &str, initial: &str) -> Input {
        if let Some(line) = self.pasted.pop_front() {
            // Shown as if typed at the prompt.
            println!("{prompt}{line}");
            self.remember(&line);
            return Input::Line(line);
        }
        if self.suspender.take() {
            // Asked to set the line aside before it was even shown.
            return Input::Suspended(initial.to_string());
        }
        set_completion(&mut self.editor, true);
        self.editing.set(initial);
        let input = readline(&mut self.editor, prompt, initial);
        let input = match input {
            Input::Interrupted if self.suspender.take() => {
                return Input::Suspended(self.editing.take());
            }
            Input::Line(line) if line.contains('\n') => {
                let mut lines = line
                    .split('\n')
                    .map(|l| l.trim_end_matches('\r').to_string())
                    .filter(|l| !l.trim().is_empty());
                let first = lines.next().unwrap_or_default();
                self.pasted.extend(lines);
                Input::Line(first)
            }
            other => other,
        };
        if let Input::Line(line) = &input {
            self.remember(line);
        }
        input
    }

    /// Adds a command line to the history (and its file).
    fn remember(&mut self, line: &str) {
        let added = self.editor.add_history_entry(line).unwrap_or(false);
        if let (true, Some(path)) = (added, &self.history) {
            if let Err(e) = self.editor.append_history(path) {
                if !self.history_error_shown {
                    report!("cannot save history {}: {e}", path.display());
                    self.history_error_shown = true;
                }
            }
        }
    }
}

fn set_completion(editor: &mut Editor<ChatHelper, DefaultHistory>, on: bool) {
    if let Some(helper) = editor.helper_mut() {
        helper.commands = on;
    }
}

fn readline(editor: &mut Editor<ChatHelper, DefaultHistory>, prompt: &str, initial: &str) -> Input {
    match editor.readline_with_initial(prompt, (initial, "")) {
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
    fn completes_every_account_for_messages_and_blocks() {
        let names = UserNames::default();
        names.replace(&["luke".to_string()]);
        names.set_accounts(&["vader".to_string(), "yoda".to_string()]);
        assert_eq!(
            replacements("message v", &names),
            (8, vec!["vader ".into()])
        );
        assert_eq!(
            replacements("block ", &names).1,
            ["luke ", "vader ", "yoda "]
        );
        assert_eq!(replacements("unblock y", &names).1, ["yoda "]);
        // startprivate needs someone online.
        assert!(replacements("startprivate v", &names).1.is_empty());
        assert_eq!(replacements("startprivate ", &names).1, ["luke "]);
        assert!(names.is_account("vader") && !names.is_account("luke"));
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
        // startprivate offers online users.
        assert_eq!(
            replacements("startprivate l", &names).1,
            vec!["leia ", "luke "]
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
