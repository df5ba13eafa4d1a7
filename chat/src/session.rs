//! One session with the server, from the first `Username:` to the exit status: the login
//! dialogue of SPEC section 2, the command loop of section 3, events as they arrive, and (in
//! piped mode) script comments and directives.
//!
//! Everything arrives in one inbox ([`Input`]): server frames from the connection's reader
//! thread and typed lines from the input thread, which reads a line only when asked. So the
//! session is a plain sequential loop, and what it prints comes out in the order things
//! happened. It decides nothing about wording: that is [`crate::render`].
//!
//! On a terminal it also keeps completion's names current (the account list after login and
//! when it grows or ages, online users from presence), turns the terminal-only words (`?`,
//! `quit`, `exit`) into commands, and sets a half-typed command line aside when a question
//! must be asked first. In piped mode it counts lines so a failing script says where.
//!
//! Private messaging (SPEC section 4) is in the submodule `private`: the consent question,
//! the state of each private session, and the `startprivate`/`private`/`stopprivate` commands.
//! `passwd`, which asks for passwords after the command, is in the submodule `passwd`.

mod delivery;
mod passwd;
mod private;

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use proto::client::Writer;
use proto::{ErrorCode, Event, Request, Response, ServerFrame};

use crate::commands::{self, Command};
use crate::diag::report;
use crate::inbox::{Ask, Input};
use crate::p2p::Listener;
use crate::render::{self, Style, EXIT_LOGIN, EXIT_OK, EXIT_SCRIPT, EXIT_SERVER};
use crate::repl::{Suspender, UserNames};
use crate::screen::Screen;
use crate::script::{self, Directive, Place};

/// How often the session asks the line editor again to set the line aside, until it does.
const SUSPEND_RETRY: Duration = Duration::from_millis(100);
/// How old the account list (for completion) may get: after this it is asked for again at
/// the next command prompt, so accounts deleted meanwhile stop being offered.
const ACCOUNTS_MAX_AGE: Duration = Duration::from_secs(300);

/// The session is over: the exit status and the last lines to show.
#[derive(Debug)]
pub struct Exit {
    /// The process exit status.
    pub status: i32,
    /// Printed last, after everything else (and after the prompt is erased).
    pub lines: Vec<String>,
}

impl Exit {
    fn new(status: i32) -> Exit {
        Exit {
            status,
            lines: Vec::new(),
        }
    }

    fn with(status: i32, line: impl Into<String>) -> Exit {
        Exit {
            status,
            lines: vec![line.into()],
        }
    }
}

/// The result of a step that may end the session.
type Flow<T> = Result<T, Exit>;

/// What the inbox delivered that the caller has to deal with (events are handled on the way).
enum Next {
    /// A typed line.
    Line(String),
    /// Ctrl-C at a prompt.
    Interrupted,
    /// End of input (Ctrl-D, or the end of a script).
    EndOfInput,
    /// A reply that nobody else claimed.
    Reply(Option<u64>, Response),
    /// An event was shown.
    Shown,
    /// The command line being edited was set aside (to ask a question first).
    Suspended(String),
}

/// What a reply the client asked for itself is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Silent {
    /// The `whoelse` after login: who is online, for completion.
    Online,
    /// `accounts`: every account, for completion.
    Accounts,
    /// Nothing to learn from the reply.
    Ignored,
}

/// How the session was started.
pub struct Options {
    /// Piped mode (no prompts, script directives).
    pub piped: bool,
    /// `--strict`: stop at the first `Error.` line or failed `.wait`.
    pub strict: bool,
    /// `--user`: the name to log in as without asking.
    pub user: Option<String>,
    /// `CHAT_PASSWORD`: the password for the first attempt.
    pub password: Option<String>,
    /// `--advertise`: the host peers should connect to for private messaging.
    pub advertise: Option<String>,
    /// The directory of this server's files of shown message ids (`crate::seen`), if kept.
    pub seen: Option<std::path::PathBuf>,
    /// How lines look (times, colours, terminal notices).
    pub style: Style,
    /// How script errors name the line (`<stdin>:3`, `FILE:3`, `-c 2`).
    pub place: Place,
    /// Interactive: sets the line being edited aside, to ask a question first.
    pub suspender: Option<Suspender>,
}

/// Both ends of the session's inbox: it reads one, and hands the other to the threads it
/// starts (peer connections).
pub struct Inbox {
    /// What the session reads.
    pub rx: Receiver<Input>,
    /// For threads started during the session.
    pub tx: Sender<Input>,
}

/// A logged-in (or logging-in) session.
pub struct Session {
    conn: Writer,
    inbox: Receiver<Input>,
    inbox_tx: Sender<Input>,
    asks: Sender<Ask>,
    screen: Screen,
    names: UserNames,
    options: Options,
    /// Requests whose replies are for the client itself (completion), not shown.
    silent: HashMap<u64, Silent>,
    /// An input line is being read (the line editor is active in interactive mode).
    asking: bool,
    /// The line being read is a command line (not a user name, password or answer).
    asking_command: bool,
    /// The editor was asked to set the command line aside and has not answered yet.
    suspending: bool,
    /// A half-typed command line set aside, to put back at the next command prompt.
    restore: String,
    /// The logged-in user's name (for the prompt); empty before login.
    user: String,
    /// Lines read from the script so far (piped mode), for script error messages.
    line_no: usize,
    /// Command lines read after login, for script error messages (`-c N`).
    command_no: usize,
    /// When the account list was last received; `None` until then (or with a server that
    /// has no `accounts`).
    accounts_at: Option<Instant>,
    /// A `.wait` missed or a directive was wrong: the exit status will be 1.
    script_failed: bool,
    /// Private sessions, requests and the listener.
    private: private::Private,
    /// Direct messages shown and to acknowledge.
    delivery: delivery::Delivery,
}

impl Session {
    /// A session over an open connection.
    pub fn new(
        conn: Writer,
        inbox: Inbox,
        asks: Sender<Ask>,
        screen: Screen,
        names: UserNames,
        options: Options,
    ) -> Session {
        Session {
            conn,
            inbox: inbox.rx,
            inbox_tx: inbox.tx,
            asks,
            screen,
            names,
            options,
            silent: HashMap::new(),
            asking: false,
            asking_command: false,
            suspending: false,
            restore: String::new(),
            user: String::new(),
            line_no: 0,
            command_no: 0,
            accounts_at: None,
            script_failed: false,
            private: private::Private::default(),
            delivery: delivery::Delivery::default(),
        }
    }

    /// Enables private messaging with this listener (without one, the server never involves
    /// this client in private sessions).
    pub fn with_listener(mut self, listener: Option<Listener>) -> Session {
        self.private.listener = listener;
        self
    }

    /// Runs the whole session and returns the exit status.
    pub fn run(mut self) -> i32 {
        let exit = match self
            .announce_listener()
            .and_then(|()| self.login())
            .and_then(|()| self.command_loop())
        {
            Ok(never) => match never {},
            Err(exit) => exit,
        };
        self.screen.finish(self.asking, &exit.lines);
        self.conn.shutdown();
        exit.status
    }

    // ----- the inbox -----

    /// Takes the next thing from the inbox that the caller must see, handling events and
    /// silent replies on the way. `None` when `deadline` passed first.
    fn recv(&mut self, deadline: Option<Instant>) -> Flow<Option<Next>> {
        loop {
            // Before waiting, acknowledge what was shown: a burst is over.
            let waiting = match self.inbox.try_recv() {
                Ok(input) => Some(input),
                Err(TryRecvError::Empty) => {
                    self.send_ack()?;
                    None
                }
                Err(TryRecvError::Disconnected) => Some(Input::Disconnected),
            };
            let input = match (waiting, deadline) {
                (Some(input), _) => Some(input),
                (None, None) => self.inbox.recv().ok(),
                (None, Some(deadline)) => {
                    match self
                        .inbox
                        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    {
                        Ok(input) => Some(input),
                        Err(RecvTimeoutError::Timeout) => return Ok(None),
                        Err(RecvTimeoutError::Disconnected) => None,
                    }
                }
            };
            // Every sender gone cannot happen while the reader thread lives; treat it as the
            // connection's end.
            let input = input.unwrap_or(Input::Disconnected);
            match input {
                Input::Frame(ServerFrame::Event(event)) => {
                    self.on_event(event)?;
                    return Ok(Some(Next::Shown));
                }
                Input::Frame(ServerFrame::Reply { id, response }) => {
                    if let Some(kind) = id.and_then(|id| self.silent.remove(&id)) {
                        self.on_silent_reply(kind, response);
                        continue;
                    }
                    if id.is_none() {
                        if let Response::Error { code, message } = &response {
                            // Not an answer to anything: the server complains on its own
                            // (a login taking too long, a line it could not take).
                            if *code == ErrorCode::LoginTimeout {
                                return Err(Exit::with(EXIT_LOGIN, render::generic_error(message)));
                            }
                            self.screen.line(render::generic_error(message));
                            continue;
                        }
                    }
                    return Ok(Some(Next::Reply(id, response)));
                }
                Input::Frame(ServerFrame::Hello(_)) => {}
                Input::Disconnected => {
                    return Err(Exit::with(EXIT_SERVER, render::CONNECTION_LOST));
                }
                Input::Line(line) => {
                    self.asking = false;
                    if self.options.piped {
                        self.line_no += 1;
                    }
                    return Ok(Some(Next::Line(line)));
                }
                Input::Interrupted => {
                    self.asking = false;
                    return Ok(Some(Next::Interrupted));
                }
                Input::EndOfInput => {
                    self.asking = false;
                    return Ok(Some(Next::EndOfInput));
                }
                Input::Suspended(line) => {
                    self.asking = false;
                    self.suspending = false;
                    return Ok(Some(Next::Suspended(line)));
                }
                Input::Peer(input) => {
                    self.on_peer(input)?;
                    return Ok(Some(Next::Shown));
                }
            }
        }
    }

    /// Keeps the names for completion up to date with a login or logout.
    fn presence(&mut self, user: &str, online: bool) -> Flow<()> {
        if online {
            self.names.insert(user);
            if self.accounts_at.is_some() && !self.names.is_account(user) {
                // A name the account list does not have: a new account, most likely. Learn
                // it for completion.
                self.refresh_accounts()?;
            }
        } else {
            self.names.remove(user);
        }
        Ok(())
    }

    fn on_event(&mut self, event: Event) -> Flow<()> {
        match &event {
            // Delivered again (the server had no acknowledgement yet): shown once.
            Event::Message {
                msg_id: Some(id), ..
            } if !self.delivery.arrived(*id) => return Ok(()),
            Event::Presence { user, online, .. } => self.presence(user, *online)?,
            Event::PresenceBatch { users, online, .. } => {
                for user in users {
                    self.presence(user, *online)?;
                }
            }
            Event::PrivateRequest { .. }
            | Event::PrivateStart { .. }
            | Event::PrivateDeclined { .. }
            | Event::PrivateExpired { .. }
            | Event::PrivateEnded { .. } => return self.on_private_event(event),
            _ => {}
        }
        let shown = render::event(&event, &self.options.style);
        match shown.exit {
            Some(status) => Err(Exit {
                status,
                lines: shown.lines,
            }),
            None => {
                self.screen.lines(shown.lines);
                if let Event::Message {
                    msg_id: Some(id), ..
                } = event
                {
                    // Out on the screen first (a record of a message never shown would lose
                    // it), then remembered across sessions.
                    self.screen.flush();
                    if let Err((path, e)) = self.delivery.shown(id) {
                        report!(
                            "cannot record shown messages in {}: {e}; a message delivered \
                             again in a later session may be shown again",
                            path.display()
                        );
                    }
                }
                if self.delivery.due() {
                    self.send_ack()?;
                }
                Ok(())
            }
        }
    }

    /// Reads the ids of the messages shown to `user` in earlier sessions (`crate::seen`), and
    /// keeps recording them there. When the file cannot be used, says so once and goes on
    /// with this session's ids only.
    fn load_seen(&mut self, user: &str) {
        let Some(dir) = &self.options.seen else {
            return;
        };
        let path = crate::seen::user_file(dir, user);
        match crate::seen::SeenFile::open(&path) {
            Ok((file, ids)) => self.delivery.remember_in(file, ids),
            Err(e) => report!(
                "cannot keep the messages shown in {}: {e}; a message delivered again in a \
                 later session may be shown again",
                path.display()
            ),
        }
    }

    /// Acknowledges the messages shown so far, once they are out on the screen. A failure
    /// to send is not acted on here: the connection's end (or the server's last event
    /// explaining it) arrives through the inbox and is shown as it should be.
    fn send_ack(&mut self) -> Flow<()> {
        if let Some(msg_id) = self.delivery.take() {
            self.screen.flush();
            if let Ok(id) = self.conn.send(Request::Ack { msg_id }) {
                self.silent.insert(id, Silent::Ignored);
            }
        }
        Ok(())
    }

    fn on_silent_reply(&mut self, kind: Silent, response: Response) {
        // An error (an older server without `accounts`) leaves completion as it was.
        if let Response::Users { users } = response {
            match kind {
                Silent::Online => self.names.replace(&users),
                Silent::Accounts => {
                    self.names.set_accounts(&users);
                    self.accounts_at = Some(Instant::now());
                }
                Silent::Ignored => {}
            }
        }
    }

    /// Asks for the account list (for completion), unless that is already under way.
    fn refresh_accounts(&mut self) -> Flow<()> {
        if self.silent.values().any(|k| *k == Silent::Accounts) {
            return Ok(());
        }
        self.send_silent_as(Request::Accounts, Silent::Accounts)
    }

    /// Sends a request and waits for its reply, showing events meanwhile.
    fn request(&mut self, request: Request) -> Flow<Response> {
        let id = self.send(request)?;
        loop {
            // Replies to nothing we wait for, and input nobody asked for, are ignored.
            if let Some(Next::Reply(Some(got), response)) = self.recv(None)? {
                if got == id {
                    return Ok(response);
                }
            }
        }
    }

    fn send(&mut self, request: Request) -> Flow<u64> {
        self.conn
            .send(request)
            .map_err(|_| Exit::with(EXIT_SERVER, render::CONNECTION_LOST))
    }

    /// Sends a request whose reply is not shown (nor waited for).
    fn send_silent(&mut self, request: Request) -> Flow<()> {
        self.send_silent_as(request, Silent::Ignored)
    }

    /// Sends a request whose reply is not shown, but used as `kind` says.
    fn send_silent_as(&mut self, request: Request, kind: Silent) -> Flow<()> {
        let id = self.send(request)?;
        self.silent.insert(id, kind);
        Ok(())
    }

    /// Asks the input thread for a line and waits for it, showing events meanwhile.
    fn ask(&mut self, ask: Ask) -> Flow<Next> {
        // The prompt must come after everything printed so far.
        self.screen.flush();
        let command = matches!(ask, Ask::Command { .. });
        if self.asks.send(ask).is_err() {
            return Ok(Next::EndOfInput);
        }
        self.asking = true;
        self.asking_command = command;
        loop {
            // While the editor has not set the line aside, ask it again now and then (the
            // first request may have come in the instant it finished a line).
            let deadline = self.suspending.then(|| Instant::now() + SUSPEND_RETRY);
            match self.recv(deadline)? {
                Some(
                    next @ (Next::Line(_)
                    | Next::Interrupted
                    | Next::EndOfInput
                    | Next::Suspended(_)),
                ) => {
                    self.asking_command = false;
                    if self.suspending {
                        // The line came first: it stays a command; the question comes next.
                        self.suspending = false;
                        if let Some(s) = &self.options.suspender {
                            s.cancel();
                        }
                    }
                    return Ok(next);
                }
                None => {
                    if let Some(s) = &self.options.suspender {
                        s.suspend();
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// Interactive: a question must be asked while a command line is being edited. The
    /// editor sets the line aside (it comes back after the question); `false` when there is
    /// no such line or no way to do that.
    pub(super) fn suspend_command_line(&mut self) -> bool {
        match &self.options.suspender {
            Some(s) if self.asking && self.asking_command => {
                if !self.suspending {
                    self.suspending = true;
                    s.suspend();
                }
                true
            }
            _ => false,
        }
    }

    /// Where the script is, for its error messages (`<stdin>:3`, `FILE:3`, `-c 2`).
    fn place(&self) -> String {
        self.options
            .place
            .describe(!self.user.is_empty(), self.line_no, self.command_no)
    }

    /// The end of input during login: in a script, say where and what was expected.
    fn input_ended_during_login(&mut self, expected: &str) -> Exit {
        if self.options.piped {
            self.screen.flush();
            report!(
                "{}: the input ended during the login (expected {expected})",
                self.place()
            );
        }
        Exit::new(EXIT_LOGIN)
    }

    /// Shows events until `deadline`.
    fn pump_until(&mut self, deadline: Instant) -> Flow<()> {
        while self.recv(Some(deadline))?.is_some() {}
        Ok(())
    }

    // ----- login -----

    /// A login line (user name or password). In piped mode comments and directives are
    /// handled here too, except for passwords, which are taken verbatim (they may start with
    /// `#` or `.`). `None` at the end of input.
    fn login_line(&mut self, ask: Ask) -> Flow<Option<String>> {
        let verbatim = matches!(ask, Ask::Secret(_));
        loop {
            match self.ask(ask.clone())? {
                Next::Line(line) if self.options.piped && !verbatim => {
                    if script::is_comment(&line) {
                        continue;
                    }
                    if script::is_directive(&line) {
                        self.directive(&line)?;
                        continue;
                    }
                    return Ok(Some(line));
                }
                Next::Line(line) => return Ok(Some(line)),
                Next::Interrupted => continue,
                Next::EndOfInput => return Ok(None),
                Next::Reply(..) | Next::Shown | Next::Suspended(_) => {}
            }
        }
    }

    fn login(&mut self) -> Flow<()> {
        let piped = self.options.piped;
        let mut preset_user = self.options.user.take();
        let mut env_password = self.options.password.take();
        loop {
            let from_flag = preset_user.is_some();
            let user = match preset_user.take() {
                Some(user) => user,
                None => match self.login_line(Ask::Username)? {
                    Some(user) => user,
                    None => return Err(self.input_ended_during_login("a user name")),
                },
            };
            let new_user = match self.request(Request::Login { user: user.clone() })? {
                Response::PasswordRequired => false,
                Response::NewUser => true,
                Response::Error { code, message } => {
                    let (line, retry) = match code {
                        ErrorCode::AlreadyLoggedIn => (render::already_logged_in(&user), true),
                        ErrorCode::AccountLocked => (render::ACCOUNT_LOCKED.to_string(), false),
                        // A bad name in a script: the lines after it would be taken for
                        // the wrong things (a password as a user name), so stop.
                        ErrorCode::InvalidUsername | ErrorCode::RegistrationDisabled => {
                            (render::generic_error(&message), !piped)
                        }
                        _ => (render::generic_error(&message), false),
                    };
                    if retry && !from_flag {
                        self.screen.line(line);
                        continue;
                    }
                    return Err(Exit::with(EXIT_LOGIN, line));
                }
                other => return Err(unexpected(&other)),
            };
            return self.password(new_user, env_password.take());
        }
    }

    /// The password part of the login, after the server answered the user name.
    fn password(&mut self, new_user: bool, mut env_password: Option<String>) -> Flow<()> {
        let piped = self.options.piped;
        let mut prompt = if new_user {
            render::NEW_USER_PROMPT
        } else {
            render::PASSWORD_PROMPT
        };
        loop {
            let from_env = env_password.is_some();
            let password = match env_password.take() {
                Some(password) => {
                    if new_user {
                        self.screen.line(render::NEW_USER_PROMPT);
                    }
                    password
                }
                None => {
                    if piped && new_user {
                        // Piped mode prints no prompts, but this one tells something.
                        self.screen.line(prompt);
                    }
                    match self.login_line(Ask::Secret(prompt.to_string()))? {
                        Some(password) => password,
                        None => return Err(self.input_ended_during_login("a password")),
                    }
                }
            };
            match self.request(Request::Password { password })? {
                Response::Welcome { user, .. } => {
                    self.user = user.clone();
                    // Before any message of the backlog, which comes after the welcome.
                    self.load_seen(&user);
                    self.logged_in(&user)?;
                    self.screen.line(render::WELCOME);
                    return Ok(());
                }
                Response::Error { code, message } => {
                    let (line, retry) = match code {
                        ErrorCode::InvalidPassword => (render::INVALID_PASSWORD.to_string(), true),
                        ErrorCode::InvalidPasswordFormat => {
                            (render::generic_error(&message), !piped)
                        }
                        ErrorCode::AccountBlocked => (render::ACCOUNT_BLOCKED.to_string(), false),
                        ErrorCode::AccountLocked => (render::ACCOUNT_LOCKED.to_string(), false),
                        _ => (render::generic_error(&message), false),
                    };
                    // A wrong CHAT_PASSWORD in a script: the next stdin line is a command,
                    // not a password, so stop.
                    if !retry || (from_env && piped) {
                        return Err(Exit::with(EXIT_LOGIN, line));
                    }
                    self.screen.line(line);
                    if code == ErrorCode::InvalidPassword {
                        prompt = render::PASSWORD_PROMPT;
                    }
                }
                other => return Err(unexpected(&other)),
            }
        }
    }

    // ----- commands -----

    fn command_loop(&mut self) -> Flow<std::convert::Infallible> {
        if !self.options.piped {
            // Learn every account and who is online, for completion; the answers are not
            // shown. The accounts before the first prompt, so that Tab knows them at once
            // (an older server without `accounts` answers an error: no account list).
            if let Response::Users { users } = self.request(Request::Accounts)? {
                self.names.set_accounts(&users);
                self.accounts_at = Some(Instant::now());
            }
            self.send_silent_as(Request::Whoelse, Silent::Online)?;
        }
        loop {
            if self
                .accounts_at
                .is_some_and(|at| at.elapsed() >= ACCOUNTS_MAX_AGE)
            {
                // Counted from the asking, so a failing answer is not asked again at once.
                self.accounts_at = Some(Instant::now());
                self.refresh_accounts()?;
            }
            let ask = self.next_ask();
            let answering = matches!(ask, Ask::Answer(_));
            let line = match self.ask(ask)? {
                Next::Line(line) => line,
                Next::Suspended(line) => {
                    // Asked to make way for a question; the line comes back after it.
                    self.restore = line;
                    continue;
                }
                Next::Interrupted => continue,
                Next::EndOfInput => return Err(self.logout(self.final_status())),
                Next::Reply(..) | Next::Shown => continue,
            };
            self.command_no += 1;
            if line.trim().is_empty() {
                continue;
            }
            if self.options.piped {
                if script::is_comment(&line) {
                    continue;
                }
                if script::is_directive(&line) {
                    self.directive(&line)?;
                    continue;
                }
            }
            // A private-messaging request is waiting: this line is its answer (in piped mode
            // the next line; on a terminal the line typed at the question's prompt, or at the
            // command prompt when the line could not be set aside).
            let answers = self.consent_pending()
                && (self.options.piped || answering || self.options.suspender.is_none());
            if answers {
                self.answer_consent(&line)?;
            } else {
                self.command(&line)?;
            }
            if self.options.piped && self.options.strict {
                if let Some(error) = self.screen.take_error() {
                    self.screen.flush();
                    report!("{}: stopped by --strict: {error}", self.place());
                    return Err(self.logout(EXIT_SCRIPT));
                }
            }
        }
    }

    fn final_status(&self) -> i32 {
        if self.script_failed {
            EXIT_SCRIPT
        } else {
            EXIT_OK
        }
    }

    /// Runs one typed command and prints its result.
    fn command(&mut self, line: &str) -> Flow<()> {
        let terminal = !self.options.piped;
        let alias = terminal.then(|| commands::terminal_alias(line)).flatten();
        let command = match commands::parse(alias.as_deref().unwrap_or(line)) {
            Ok(command) => command,
            Err(commands::ParseError::Invalid) if terminal => {
                self.screen.line(render::INVALID_COMMAND_HINT);
                return Ok(());
            }
            Err(e) => {
                self.screen.line(render::parse_error(&e));
                return Ok(());
            }
        };
        match &command {
            Command::Private { to, text } => return self.private_message(to, text),
            Command::StopPrivate { user } => return self.stop_private(user),
            Command::Passwd => return self.passwd(),
            _ => {}
        }
        let Some(request) = command.request() else {
            // `help`, the only other command the client answers itself.
            let lines = match &command {
                Command::Help { about: Some(word) } => commands::help_for(word)
                    .unwrap_or_else(|| vec![render::no_such_command(word, terminal)]),
                _ => commands::help_lines(),
            };
            self.screen.lines(lines);
            return Ok(());
        };
        if command == Command::Logout {
            return Err(self.logout(self.final_status()));
        }
        if !self.conn.fits(&request) {
            // The server would answer `line_too_long` and close the connection.
            self.screen.line(render::MESSAGE_TOO_LONG);
            return Ok(());
        }
        let response = self.request(request)?;
        match (&command, &response) {
            (Command::Whoelse, Response::Users { users }) => self.names.replace(users),
            (Command::StartPrivate { user }, Response::Ok) => self.private_requested(user),
            (Command::Message { to, .. }, Response::Sent { stored: true }) if terminal => {
                self.screen.line(render::stored_for_offline(to));
            }
            _ => {}
        }
        self.screen
            .lines(render::command_reply(&command, &response));
        Ok(())
    }

    /// Logs out and ends the session with `status` (unless the server ends it first).
    fn logout(&mut self, status: i32) -> Exit {
        if let Err(exit) = self.send_ack() {
            return exit;
        }
        match self.request(Request::Logout) {
            Ok(_) => Exit::new(status),
            Err(exit) => exit,
        }
    }

    // ----- script directives -----

    fn directive(&mut self, line: &str) -> Flow<()> {
        match script::parse_directive(line) {
            Ok(Directive::Sleep(duration)) => self.pump_until(Instant::now() + duration),
            Ok(Directive::Wait { text, timeout }) => self.wait(&text, timeout),
            Err(problem) => self.script_error(&problem),
        }
    }

    /// `.wait`: a line containing `text` printed since the last `.wait` matched (or printed
    /// while waiting) ends the wait; none within `timeout` fails the script.
    fn wait(&mut self, text: &str, timeout: Duration) -> Flow<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.screen.take_match(text) {
                return Ok(());
            }
            if self.recv(Some(deadline))?.is_none() {
                return self.script_error(&format!(
                    ".wait {text:?}: no such line within {} s",
                    timeout.as_secs_f64()
                ));
            }
        }
    }

    /// Reports a script problem on stderr; the script has failed. Under `--strict` it stops.
    fn script_error(&mut self, problem: &str) -> Flow<()> {
        self.screen.flush();
        report!("{}: {problem}", self.place());
        self.script_failed = true;
        if self.options.strict {
            return Err(self.logout(EXIT_SCRIPT));
        }
        Ok(())
    }
}

/// A reply that makes no sense at this point of the conversation.
fn unexpected(response: &Response) -> Exit {
    report!("unexpected reply from the server: {response:?}");
    Exit::new(EXIT_SERVER)
}
