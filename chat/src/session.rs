//! One session with the server, from the first `Username:` to the exit status: the login
//! dialogue of SPEC section 2, the command loop of section 3, events as they arrive, and (in
//! piped mode) script comments and directives.
//!
//! Everything arrives in one inbox ([`Input`]): server frames from the connection's reader
//! thread and typed lines from the input thread, which reads a line only when asked. So the
//! session is a plain sequential loop, and what it prints comes out in the order things
//! happened. It decides nothing about wording: that is [`crate::render`].
//!
//! Private messaging (SPEC section 4) is in the submodule `private`: the consent question,
//! the state of each private session, and the `startprivate`/`private`/`stopprivate` commands.
//! `passwd`, which asks for passwords after the command, is in the submodule `passwd`.

mod delivery;
mod passwd;
mod private;

use std::collections::HashSet;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use proto::client::Writer;
use proto::{ErrorCode, Event, Request, Response, ServerFrame};

use crate::commands::{self, Command};
use crate::diag::report;
use crate::inbox::{Ask, Input};
use crate::p2p::Listener;
use crate::render::{self, EXIT_LOGIN, EXIT_OK, EXIT_SCRIPT, EXIT_SERVER};
use crate::repl::UserNames;
use crate::screen::Screen;
use crate::script::{self, Directive};

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
    silent: HashSet<u64>,
    /// An input line is being read (the line editor is active in interactive mode).
    asking: bool,
    /// Lines read from stdin so far (piped mode), for script error messages.
    line_no: usize,
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
            silent: HashSet::new(),
            asking: false,
            line_no: 0,
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
                    if let Some(id) = id.filter(|id| self.silent.remove(id)) {
                        self.on_silent_reply(id, response);
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
                Input::Peer(input) => {
                    self.on_peer(input)?;
                    return Ok(Some(Next::Shown));
                }
            }
        }
    }

    fn on_event(&mut self, event: Event) -> Flow<()> {
        match &event {
            // Delivered again (the server had no acknowledgement yet): shown once.
            Event::Message {
                msg_id: Some(id), ..
            } if !self.delivery.arrived(*id) => return Ok(()),
            Event::Presence { user, online } => {
                if *online {
                    self.names.insert(user);
                } else {
                    self.names.remove(user);
                }
            }
            Event::PrivateRequest { .. }
            | Event::PrivateStart { .. }
            | Event::PrivateDeclined { .. }
            | Event::PrivateExpired { .. }
            | Event::PrivateEnded { .. } => return self.on_private_event(event),
            _ => {}
        }
        let shown = render::event(&event);
        match shown.exit {
            Some(status) => Err(Exit {
                status,
                lines: shown.lines,
            }),
            None => {
                self.screen.lines(shown.lines);
                if self.delivery.due() {
                    self.send_ack()?;
                }
                Ok(())
            }
        }
    }

    /// Acknowledges the messages shown so far, once they are out on the screen. A failure
    /// to send is not acted on here: the connection's end (or the server's last event
    /// explaining it) arrives through the inbox and is shown as it should be.
    fn send_ack(&mut self) -> Flow<()> {
        if let Some(msg_id) = self.delivery.take() {
            self.screen.flush();
            if let Ok(id) = self.conn.send(Request::Ack { msg_id }) {
                self.silent.insert(id);
            }
        }
        Ok(())
    }

    fn on_silent_reply(&mut self, _id: u64, response: Response) {
        if let Response::Users { users } = response {
            self.names.replace(&users);
        }
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
        let id = self.send(request)?;
        self.silent.insert(id);
        Ok(())
    }

    /// Asks the input thread for a line and waits for it, showing events meanwhile.
    fn ask(&mut self, ask: Ask) -> Flow<Next> {
        // The prompt must come after everything printed so far.
        self.screen.flush();
        if self.asks.send(ask).is_err() {
            return Ok(Next::EndOfInput);
        }
        self.asking = true;
        loop {
            if let Some(next @ (Next::Line(_) | Next::Interrupted | Next::EndOfInput)) =
                self.recv(None)?
            {
                return Ok(next);
            }
        }
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
                Next::Reply(..) | Next::Shown => {}
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
                None => self
                    .login_line(Ask::Username)?
                    .ok_or_else(|| Exit::new(EXIT_LOGIN))?,
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
                    self.login_line(Ask::Secret(prompt.to_string()))?
                        .ok_or_else(|| Exit::new(EXIT_LOGIN))?
                }
            };
            match self.request(Request::Password { password })? {
                Response::Welcome { user, .. } => {
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
            // Learn who is online, for completion. The answer is not shown.
            let id = self.send(Request::Whoelse)?;
            self.silent.insert(id);
        }
        loop {
            let line = match self.ask(self.next_ask())? {
                Next::Line(line) => line,
                Next::Interrupted => continue,
                Next::EndOfInput => return Err(self.logout(self.final_status())),
                Next::Reply(..) | Next::Shown => continue,
            };
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
            if self.consent_pending() {
                // A private-messaging request is waiting: this line is its answer.
                self.answer_consent(&line)?;
            } else {
                self.command(&line)?;
            }
            if self.options.piped && self.options.strict && self.screen.take_error() {
                return Err(self.logout(EXIT_SCRIPT));
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
        let command = match commands::parse(line) {
            Ok(command) => command,
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
            self.screen.lines(commands::help_lines());
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
        report!("line {}: {problem}", self.line_no);
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
