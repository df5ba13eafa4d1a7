//! The lines users see: every server reply, error code, event and private-messaging happening
//! is turned into text here and nowhere else, so the wording of SPEC sections 2-4 lives in one
//! file.
//!
//! This module also owns [`sanitize`]: any text that came from another user (names, message
//! texts, the administrator's kick reason) passes through it before it reaches a terminal.
//! It does not print anything itself, and it does not decide what happens next (exit, prompt
//! again): it only returns lines, plus the exit status for events that end the session.
//!
//! How lines look beyond the SPEC's words is a [`Style`]: on a terminal, incoming lines start
//! with the local time the server stamped them with (the date too when it is not today;
//! `--timestamps` asks for the same in piped mode), and names and errors are coloured.

use proto::{ErrorCode, Event, Response};
use std::fmt::Write as _;

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// How lines look besides their words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// Incoming lines start with their local time (`14:02 hans: Hey Dude`).
    pub times: bool,
    /// Names and errors in colour (ANSI).
    pub color: bool,
    /// A person at a terminal: notices that are no SPEC line (the idle warning, "stored")
    /// are shown.
    pub terminal: bool,
}

const BOLD_CYAN: &str = "\x1b[1;36m";
const RED: &str = "\x1b[31m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

impl Style {
    /// A user name, coloured when colours are on (already escaped by the caller).
    fn name(&self, name: &str) -> String {
        if self.color {
            format!("{BOLD_CYAN}{name}{RESET}")
        } else {
            name.to_string()
        }
    }

    /// `line` with the time prefix for `ts` (ms since the epoch; `None`: now), when times
    /// are on. `sent` marks a message that waited while the user was offline.
    pub fn stamped(&self, ts: Option<u64>, sent: bool, line: String) -> String {
        if !self.times {
            return line;
        }
        let now = Timestamp::now();
        let at = ts
            .and_then(|ms| i64::try_from(ms).ok())
            .and_then(|ms| Timestamp::from_millisecond(ms).ok())
            .unwrap_or(now);
        let time = time_prefix(at, now, &local_zone());
        let time = if sent { format!("(sent {time})") } else { time };
        if self.color {
            format!("{DIM}{time}{RESET} {line}")
        } else {
            format!("{time} {line}")
        }
    }

    /// `line` in the error colour when colours are on and it is an error line.
    pub fn error(&self, line: String) -> String {
        if self.color && line.starts_with("Error.") {
            format!("{RED}{line}{RESET}")
        } else {
            line
        }
    }
}

/// The local time zone: `TZ`, else the system's, else UTC.
fn local_zone() -> TimeZone {
    TimeZone::try_system().unwrap_or(TimeZone::UTC)
}

/// The short local time of `at`: `14:02` when it is the same day as `now` in `tz`, else
/// `2026-12-06 14:02`.
pub fn time_prefix(at: Timestamp, now: Timestamp, tz: &TimeZone) -> String {
    let at = at.to_zoned(tz.clone());
    if at.date() == now.to_zoned(tz.clone()).date() {
        at.strftime("%H:%M").to_string()
    } else {
        at.strftime("%Y-%m-%d %H:%M").to_string()
    }
}

use crate::commands::{Command, ParseError};

/// The welcome line after a successful login.
pub const WELCOME: &str = "Welcome to the greatest messaging application ever!";
/// The prompt (interactive) or whole line (piped) for a new account's password.
pub const NEW_USER_PROMPT: &str = "This is a new user. Enter a password: ";
/// The password prompt (interactive only).
pub const PASSWORD_PROMPT: &str = "Password: ";
/// The user name prompt (interactive only).
pub const USERNAME_PROMPT: &str = "Username: ";
/// `passwd`'s first prompt.
pub const OLD_PASSWORD_PROMPT: &str = "Old password: ";
/// `passwd`'s second prompt.
pub const NEW_PASSWORD_PROMPT: &str = "New password: ";
/// `passwd`'s third prompt (on a terminal only).
pub const RETYPE_PASSWORD_PROMPT: &str = "Retype new password: ";
/// `passwd` on a terminal, when the two new passwords differ (they are asked again).
pub const PASSWORDS_DIFFER: &str = "Passwords do not match. Please try again";
/// `passwd` interrupted with Ctrl-C.
pub const PASSWORD_NOT_CHANGED: &str = "Password not changed";
/// `passwd` done.
pub const PASSWORD_CHANGED: &str = "Password changed";
/// After a wrong password.
pub const INVALID_PASSWORD: &str = "Invalid Password. Please try again";
/// After the third wrong password in a row.
pub const ACCOUNT_BLOCKED: &str =
    "Invalid Password. Your account has been blocked. Please try again later";
/// When logging in to a locked account.
pub const ACCOUNT_LOCKED: &str =
    "Your account is blocked due to multiple login failures. Please try again later";
/// When the connection to the server broke.
pub const CONNECTION_LOST: &str = "Connection to the server lost";
/// A command too long for one protocol line (checked by the client before sending).
pub const MESSAGE_TOO_LONG: &str = "Error. Message too long";
/// Unknown command word.
pub const INVALID_COMMAND: &str = "Error. Invalid command";
/// Unknown command word, on a terminal.
pub const INVALID_COMMAND_HINT: &str = "Error. Invalid command (type help for the list)";

/// `help <word>` for a word that is no command (`hint`: on a terminal, say what to type).
pub fn no_such_command(word: &str, hint: bool) -> String {
    let hint = if hint {
        " (type help for the list)"
    } else {
        ""
    };
    format!("Error. No command {}{hint}", sanitize(word))
}

/// On a terminal, after a message was stored for an offline recipient.
pub fn stored_for_offline(to: &str) -> String {
    format!("({} is offline: stored)", sanitize(to))
}

/// The warning that the server will log this session out for inactivity.
pub fn idle_warning(seconds: u64) -> String {
    let unit = if seconds == 1 { "second" } else { "seconds" };
    format!("You will be logged out in {seconds} {unit} due to inactivity")
}

/// The line for a typed line that is not a command.
pub fn parse_error(error: &ParseError) -> String {
    match error {
        ParseError::Invalid => INVALID_COMMAND.to_string(),
        ParseError::Usage(usage) => format!("Error. Usage: {usage}"),
    }
}

/// Exit status after a normal logout.
pub const EXIT_OK: i32 = 0;
/// Exit status when a script failed (a missed `.wait`, or `--strict` and an `Error.` line).
pub const EXIT_SCRIPT: i32 = 1;
/// Exit status when the login failed.
pub const EXIT_LOGIN: i32 = 2;
/// Exit status when the server ended the session (or could not be reached).
pub const EXIT_SERVER: i32 = 3;

/// Makes `text` safe to print on a terminal: control characters (C0, DEL, C1), and the Unicode
/// format characters that reorder or hide text, are replaced by visible escapes. An ESC byte
/// becomes the four characters `\x1b`; `\n`, `\r` and `\t` become `\n`, `\r`, `\t`, so one
/// message is always one line. Everything else, backslashes included, is shown as it is.
pub fn sanitize(text: &str) -> String {
    if !text.chars().any(needs_escape) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && needs_escape(c) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether `c` must not reach a terminal as it is: control characters, line and paragraph
/// separators, and what prints nothing visible ([`proto::invisible`]) except private-use
/// characters (icon fonts draw those).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || (proto::invisible(c) && !matches!(c, '\u{e000}'..='\u{f8ff}' | '\u{f0000}'..))
        || matches!(c,
            '\u{2028}' | '\u{2029}' |
            // Bidirectional overrides and isolates: they reorder what follows on the screen.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            // Zero-width and direction marks, the BOM: invisible, used to spoof names.
            | '\u{200b}'..='\u{200f}' | '\u{feff}')
}

/// What the user sees for an error reply whose code has no wording of its own.
pub fn generic_error(message: &str) -> String {
    format!("Error. {}", sanitize(message))
}

/// The line for `already_logged_in`, naming the user as typed.
pub fn already_logged_in(user: &str) -> String {
    format!("Error. {} is already logged in", sanitize(user))
}

/// The lines that answer a command's reply. `command` is the command as the user typed it
/// (for the names it mentions).
pub fn command_reply(command: &Command, response: &Response) -> Vec<String> {
    match response {
        Response::Error { code, message } => vec![command_error(command, *code, message)],
        Response::Broadcasted { skipped, .. } if *skipped > 0 => {
            vec!["Your message could not be delivered to some recipients".to_string()]
        }
        Response::Users { users } => users.iter().map(|u| sanitize(u)).collect(),
        Response::Ok => match command {
            Command::Block { user } => vec![format!("{} is blocked", sanitize(user))],
            Command::Unblock { user } => vec![format!("{} is unblocked", sanitize(user))],
            Command::Passwd => vec![PASSWORD_CHANGED.to_string()],
            _ => Vec::new(),
        },
        // `sent`, a broadcast that reached everyone, and anything else that only says "done".
        _ => Vec::new(),
    }
}

/// The line for an error reply to `command`.
fn command_error(command: &Command, code: ErrorCode, message: &str) -> String {
    let user = match command {
        Command::Message { to, .. } | Command::Private { to, .. } => to.as_str(),
        Command::Block { user }
        | Command::Unblock { user }
        | Command::StartPrivate { user }
        | Command::StopPrivate { user } => user.as_str(),
        _ => "",
    };
    let user = sanitize(user);
    match code {
        ErrorCode::InvalidUser => "Error. Invalid user".to_string(),
        ErrorCode::CannotMessageSelf => "Error. Cannot message self".to_string(),
        ErrorCode::BlockedByRecipient => {
            "Your message could not be delivered as the recipient has blocked you".to_string()
        }
        ErrorCode::CannotBlockSelf => "Error. Cannot block self".to_string(),
        ErrorCode::CannotUnblockSelf => "Error. Cannot unblock self".to_string(),
        ErrorCode::NotBlocked => format!("Error. {user} was not blocked"),
        ErrorCode::UserOffline => format!("Error. {user} is offline"),
        ErrorCode::CannotPrivateSelf => {
            "Error. Cannot start private messaging with self".to_string()
        }
        ErrorCode::BlockedByUser => format!("Error. {user} has blocked you"),
        ErrorCode::PrivateAlreadyActive => {
            format!("Error. Private messaging with {user} is already active")
        }
        _ => generic_error(message),
    }
}

/// What an event does to the session besides printing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLines {
    /// The lines to print, in order.
    pub lines: Vec<String>,
    /// `Some(status)` when the server ends the session with this event.
    pub exit: Option<i32>,
}

/// The lines for a server event, in `style`.
pub fn event(event: &Event, style: &Style) -> EventLines {
    let (lines, exit) = match event {
        Event::Message {
            from,
            text,
            offline,
            ts,
            ..
        } => {
            let line = format!("{}: {}", style.name(&sanitize(from)), sanitize(text));
            // A stored message's time is when it was sent; without one it gets none.
            let ts = if *offline && ts.is_none() {
                return EventLines {
                    lines: vec![line],
                    exit: None,
                };
            } else {
                *ts
            };
            (vec![style.stamped(ts, *offline, line)], None)
        }
        Event::Broadcast { from, text, ts, .. } => {
            let line = format!("{}: {}", style.name(&sanitize(from)), sanitize(text));
            (vec![style.stamped(*ts, false, line)], None)
        }
        Event::Presence {
            user, online, ts, ..
        } => {
            let verb = if *online { "logged in" } else { "logged out" };
            let line = format!("{} {verb}", style.name(&sanitize(user)));
            (vec![style.stamped(*ts, false, line)], None)
        }
        // Several changes that reached us together: the same lines, one per user.
        Event::PresenceBatch { users, online, ts } => {
            let verb = if *online { "logged in" } else { "logged out" };
            let lines = users
                .iter()
                .map(|user| {
                    let line = format!("{} {verb}", style.name(&sanitize(user)));
                    style.stamped(*ts, false, line)
                })
                .collect();
            (lines, None)
        }
        Event::IdleWarning { seconds } if style.terminal => (
            vec![style.stamped(None, false, idle_warning(*seconds))],
            None,
        ),
        // Scripts keep the SPEC's lines: the warning is for people.
        Event::IdleWarning { .. } => (Vec::new(), None),
        Event::Inactive => (
            vec!["You have been logged out due to inactivity".to_string()],
            Some(EXIT_SERVER),
        ),
        Event::Kicked { reason } => {
            let mut lines = vec!["You have been disconnected by the administrator".to_string()];
            if let Some(reason) = reason.as_deref().filter(|r| !r.is_empty()) {
                lines.push(format!("Reason: {}", sanitize(reason)));
            }
            (lines, Some(EXIT_SERVER))
        }
        Event::Shutdown => (
            vec!["The server is shutting down".to_string()],
            Some(EXIT_SERVER),
        ),
        // Private messaging: what these show depends on the session's private state, so the
        // session picks the line (from the functions below).
        Event::PrivateRequest { .. }
        | Event::PrivateStart { .. }
        | Event::PrivateDeclined { .. }
        | Event::PrivateExpired { .. }
        | Event::PrivateEnded { .. } => (Vec::new(), None),
    };
    EventLines { lines, exit }
}

/// The consent question the target of a `startprivate` answers with `y` or `n` (a whole line
/// in piped mode, the prompt of the next line in interactive mode).
pub fn consent_question(from: &str) -> String {
    format!(
        "{} would like to private message, enter y or n: ",
        sanitize(from)
    )
}

/// The requester's line when the target said yes (the connection is made next).
pub fn private_accepted(peer: &str) -> String {
    format!("{} accepts private messaging", sanitize(peer))
}

/// Both sides' line when the peer connection is authenticated.
pub fn private_started(peer: &str) -> String {
    format!("Start private messaging with {}", sanitize(peer))
}

/// The requester's line when the target said no.
pub fn private_declined(peer: &str) -> String {
    format!("{} declines private messaging", sanitize(peer))
}

/// The requester's line when the target did not answer in time (or left first).
pub fn private_unanswered(peer: &str) -> String {
    format!(
        "{} did not answer the private messaging request",
        sanitize(peer)
    )
}

/// The target's line when a request it had not answered is withdrawn (timed out, or the
/// requester left).
pub fn private_request_expired(from: &str) -> String {
    format!(
        "The private messaging request from {} has expired",
        sanitize(from)
    )
}

/// A private message received.
pub fn private_text(from: &str, text: &str) -> String {
    format!("{}(private): {}", sanitize(from), sanitize(text))
}

/// `private` to a user without a session.
pub fn private_not_enabled(to: &str) -> String {
    format!("Error. Private messaging to {} not enabled", sanitize(to))
}

/// `stopprivate`, for the issuer.
pub fn private_stopped(peer: &str) -> String {
    format!("Stopped private messaging with {}", sanitize(peer))
}

/// `stopprivate`, for the other side.
pub fn private_stopped_by_peer(peer: &str) -> String {
    format!("{} stopped private messaging", sanitize(peer))
}

/// `stopprivate` without a session.
pub fn no_private_session(peer: &str) -> String {
    format!(
        "Error. No private messaging session with {}",
        sanitize(peer)
    )
}

/// A session ended by the peer's logout, timeout, kick, lost connection or crash.
pub fn private_ended(peer: &str) -> String {
    format!("Private messaging with {} ended", sanitize(peer))
}

/// The requester could not reach or authenticate the target's listener.
pub fn private_connect_failed(peer: &str) -> String {
    format!(
        "Error. Cannot connect to {} for private messaging",
        sanitize(peer)
    )
}

/// The target accepted, but the requester never connected (or its connection broke during
/// the handshake).
pub fn private_setup_failed(peer: &str) -> String {
    format!(
        "Private messaging with {} could not be started",
        sanitize(peer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(line: &str) -> String {
        parse_error(&crate::commands::parse(line).unwrap_err())
    }

    #[test]
    fn usage_errors_name_the_usage() {
        assert_eq!(usage("message"), "Error. Usage: message <user> <message>");
        assert_eq!(
            usage("message yoda"),
            "Error. Usage: message <user> <message>"
        );
        assert_eq!(
            usage("message yoda "),
            "Error. Usage: message <user> <message>"
        );
        assert_eq!(usage("broadcast"), "Error. Usage: broadcast <message>");
        assert_eq!(usage("broadcast   "), "Error. Usage: broadcast <message>");
        assert_eq!(usage("whoelse luke"), "Error. Usage: whoelse");
        assert_eq!(
            usage("whoelsesince"),
            "Error. Usage: whoelsesince <seconds>"
        );
        assert_eq!(
            usage("whoelsesince -5"),
            "Error. Usage: whoelsesince <seconds>"
        );
        assert_eq!(
            usage("whoelsesince ten"),
            "Error. Usage: whoelsesince <seconds>"
        );
        assert_eq!(
            usage("whoelsesince 1 2"),
            "Error. Usage: whoelsesince <seconds>"
        );
        assert_eq!(usage("block"), "Error. Usage: block <user>");
        assert_eq!(usage("block a b"), "Error. Usage: block <user>");
        assert_eq!(usage("unblock"), "Error. Usage: unblock <user>");
        assert_eq!(usage("logout now"), "Error. Usage: logout");
        assert_eq!(usage("startprivate"), "Error. Usage: startprivate <user>");
        assert_eq!(
            usage("startprivate a b"),
            "Error. Usage: startprivate <user>"
        );
        assert_eq!(usage("private"), "Error. Usage: private <user> <message>");
        assert_eq!(
            usage("private luke"),
            "Error. Usage: private <user> <message>"
        );
        assert_eq!(usage("stopprivate"), "Error. Usage: stopprivate <user>");
        assert_eq!(usage("stopprivate a b"), "Error. Usage: stopprivate <user>");
    }

    #[test]
    fn unknown_commands() {
        for line in ["", "   ", "dance", "Message yoda hi", ".wait x", "whoelse_"] {
            assert_eq!(usage(line), "Error. Invalid command", "{line:?}");
            assert_eq!(no_such_command("x", false), "Error. No command x");
        }
    }

    fn err(code: ErrorCode, message: &str) -> Response {
        Response::error(code, message)
    }

    #[test]
    fn escapes_terminal_control() {
        assert_eq!(sanitize("plain text \\ ok"), "plain text \\ ok");
        assert_eq!(sanitize("hi \u{1b}[2J"), "hi \\x1b[2J");
        assert_eq!(sanitize("a\nb\r\tc\u{7}\u{7f}"), "a\\nb\\r\\tc\\x07\\x7f");
        assert_eq!(sanitize("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(sanitize("evil\u{202e}txt"), "evil\\u{202e}txt");
        assert_eq!(sanitize("héllo wörld ✓"), "héllo wörld ✓");
    }

    #[test]
    fn message_errors() {
        let cmd = Command::Message {
            to: "yoda".into(),
            text: "hi".into(),
        };
        let line = |code, msg| command_reply(&cmd, &err(code, msg));
        assert_eq!(
            line(ErrorCode::InvalidUser, "Invalid user"),
            ["Error. Invalid user"]
        );
        assert_eq!(
            line(ErrorCode::CannotMessageSelf, "x"),
            ["Error. Cannot message self"]
        );
        assert_eq!(
            line(ErrorCode::BlockedByRecipient, "x"),
            ["Your message could not be delivered as the recipient has blocked you"]
        );
        assert_eq!(
            line(ErrorCode::RateLimited, "Too many messages"),
            ["Error. Too many messages"]
        );
        assert!(command_reply(&cmd, &Response::Sent { stored: true }).is_empty());
    }

    #[test]
    fn broadcast_and_lists() {
        let cmd = Command::Broadcast { text: "x".into() };
        let all = Response::Broadcasted {
            delivered: 2,
            skipped: 0,
        };
        assert!(command_reply(&cmd, &all).is_empty());
        let some = Response::Broadcasted {
            delivered: 1,
            skipped: 1,
        };
        assert_eq!(
            command_reply(&cmd, &some),
            ["Your message could not be delivered to some recipients"]
        );
        let users = Response::Users {
            users: vec!["luke".into(), "yoda".into()],
        };
        assert_eq!(command_reply(&Command::Whoelse, &users), ["luke", "yoda"]);
        let none = Response::Users { users: vec![] };
        assert!(command_reply(&Command::Whoelsesince { seconds: 5 }, &none).is_empty());
    }

    #[test]
    fn block_lines() {
        let block = Command::Block {
            user: "hans".into(),
        };
        let unblock = Command::Unblock {
            user: "yoda".into(),
        };
        assert_eq!(command_reply(&block, &Response::Ok), ["hans is blocked"]);
        assert_eq!(
            command_reply(&unblock, &Response::Ok),
            ["yoda is unblocked"]
        );
        assert_eq!(
            command_reply(
                &unblock,
                &err(ErrorCode::NotBlocked, "yoda was not blocked")
            ),
            ["Error. yoda was not blocked"]
        );
        assert_eq!(
            command_reply(&block, &err(ErrorCode::CannotBlockSelf, "x")),
            ["Error. Cannot block self"]
        );
        assert_eq!(
            command_reply(&unblock, &err(ErrorCode::CannotUnblockSelf, "x")),
            ["Error. Cannot unblock self"]
        );
        assert_eq!(
            command_reply(&block, &err(ErrorCode::InvalidUser, "x")),
            ["Error. Invalid user"]
        );
    }

    #[test]
    fn private_lines() {
        let start = Command::StartPrivate {
            user: "luke".into(),
        };
        let line = |code, msg| command_reply(&start, &err(code, msg));
        assert_eq!(
            line(ErrorCode::InvalidUser, "Invalid user"),
            ["Error. Invalid user"]
        );
        assert_eq!(
            line(ErrorCode::UserOffline, "x"),
            ["Error. luke is offline"]
        );
        assert_eq!(
            line(ErrorCode::CannotPrivateSelf, "x"),
            ["Error. Cannot start private messaging with self"]
        );
        assert_eq!(
            line(ErrorCode::BlockedByUser, "x"),
            ["Error. luke has blocked you"]
        );
        assert_eq!(
            line(ErrorCode::PrivateAlreadyActive, "x"),
            ["Error. Private messaging with luke is already active"]
        );
        assert_eq!(
            line(
                ErrorCode::PrivateUnavailable,
                "luke cannot accept private messages"
            ),
            ["Error. luke cannot accept private messages"]
        );
        assert!(command_reply(&start, &Response::Ok).is_empty());
        assert_eq!(
            consent_question("hans"),
            "hans would like to private message, enter y or n: "
        );
        assert_eq!(
            private_text("hans", "hey \u{1b}[31m"),
            "hans(private): hey \\x1b[31m"
        );
    }

    #[test]
    fn events() {
        let msg = Event::Message {
            from: "hans".into(),
            text: "Hey Dude \u{1b}[2J".into(),
            offline: true,
            ts: Some(1),
            msg_id: Some(3),
        };
        let event = |e: &Event| super::event(e, &Style::default());
        assert_eq!(event(&msg).lines, ["hans: Hey Dude \\x1b[2J"]);
        assert_eq!(event(&msg).exit, None);
        let on = Event::Presence {
            user: "luke".into(),
            online: true,
            ts: Some(2),
        };
        let off = Event::Presence {
            user: "yoda".into(),
            online: false,
            ts: None,
        };
        assert_eq!(event(&on).lines, ["luke logged in"]);
        assert_eq!(event(&off).lines, ["yoda logged out"]);
        let batch = Event::PresenceBatch {
            users: vec!["luke".into(), "le\u{1b}ia".into()],
            online: false,
            ts: None,
        };
        assert_eq!(
            event(&batch).lines,
            ["luke logged out", "le\\x1bia logged out"]
        );
        let kicked = event(&Event::Kicked {
            reason: Some("spam".into()),
        });
        assert_eq!(
            kicked.lines,
            [
                "You have been disconnected by the administrator",
                "Reason: spam"
            ]
        );
        assert_eq!(kicked.exit, Some(EXIT_SERVER));
        assert_eq!(event(&Event::Kicked { reason: None }).lines.len(), 1);
        assert_eq!(
            event(&Event::Shutdown).lines,
            ["The server is shutting down"]
        );
        assert_eq!(
            event(&Event::Inactive).lines,
            ["You have been logged out due to inactivity"]
        );
        // The idle warning is for people at a terminal; piped mode keeps the SPEC lines.
        let warning = Event::IdleWarning { seconds: 60 };
        assert!(event(&warning).lines.is_empty());
        let terminal = Style {
            terminal: true,
            ..Style::default()
        };
        assert_eq!(
            super::event(&warning, &terminal).lines,
            ["You will be logged out in 60 seconds due to inactivity"]
        );
    }

    #[test]
    fn times_are_local_with_the_date_when_not_today() {
        let tz = TimeZone::get("Europe/Zurich").unwrap_or(TimeZone::UTC);
        let utc = TimeZone::UTC;
        let now: Timestamp = "2026-12-07T13:30:00Z".parse().unwrap();
        let earlier: Timestamp = "2026-12-07T13:02:09Z".parse().unwrap();
        let yesterday: Timestamp = "2026-12-06T09:15:00Z".parse().unwrap();
        assert_eq!(time_prefix(earlier, now, &utc), "13:02");
        assert_eq!(time_prefix(yesterday, now, &utc), "2026-12-06 09:15");
        if tz != TimeZone::UTC {
            assert_eq!(time_prefix(earlier, now, &tz), "14:02");
        }
    }

    #[test]
    fn styled_lines() {
        let timed = Style {
            times: true,
            ..Style::default()
        };
        let msg = |offline, ts| Event::Message {
            from: "hans".into(),
            text: "Hey Dude".into(),
            offline,
            ts,
            msg_id: Some(1),
        };
        let now_ms = Timestamp::now().as_millisecond() as u64;
        let line = &event(&msg(false, Some(now_ms)), &timed).lines[0];
        // `HH:MM hans: Hey Dude`
        assert_eq!(line.len(), "14:02 hans: Hey Dude".len(), "{line}");
        assert!(line.ends_with(" hans: Hey Dude") && line.as_bytes()[2] == b':');
        let line = &event(&msg(true, Some(1_000_000_000_000)), &timed).lines[0];
        assert!(line.starts_with("(sent 2001-09-"), "{line}");
        assert!(line.ends_with(") hans: Hey Dude"), "{line}");
        let colored = Style {
            color: true,
            ..Style::default()
        };
        assert_eq!(
            event(&msg(false, None), &colored).lines,
            ["\x1b[1;36mhans\x1b[0m: Hey Dude"]
        );
        assert_eq!(
            colored.error("Error. Invalid user".into()),
            "\x1b[31mError. Invalid user\x1b[0m"
        );
        assert_eq!(colored.error("hans is blocked".into()), "hans is blocked");
        assert_eq!(
            Style::default().error("Error. Invalid user".into()),
            "Error. Invalid user"
        );
    }
}
