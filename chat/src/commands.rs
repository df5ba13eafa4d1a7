//! The command language of SPEC sections 3 and 4: parsing a typed line into a [`Command`], the usage
//! lines of each command, the client-side `help` text, and the table of which argument
//! positions take a user name (for tab completion).
//!
//! It knows nothing of the wire: [`Command::request`] builds the [`proto::Request`], and
//! `render` turns the reply into lines.

use proto::Request;

/// One command the user typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `message <user> <message>`.
    Message {
        /// Recipient, as typed.
        to: String,
        /// The rest of the line.
        text: String,
    },
    /// `broadcast <message>`.
    Broadcast {
        /// The rest of the line.
        text: String,
    },
    /// `whoelse`.
    Whoelse,
    /// `whoelsesince <seconds>`.
    Whoelsesince {
        /// The window, in seconds.
        seconds: u64,
    },
    /// `block <user>`.
    Block {
        /// Who.
        user: String,
    },
    /// `unblock <user>`.
    Unblock {
        /// Who.
        user: String,
    },
    /// `logout`.
    Logout,
    /// `passwd`: the passwords are asked for afterwards, never on the command line.
    Passwd,
    /// `help` (answered by the client).
    Help,
    /// `startprivate <user>`: ask the server to introduce us.
    StartPrivate {
        /// Who.
        user: String,
    },
    /// `private <user> <message>`: over the peer connection, not the server.
    Private {
        /// The peer, as typed.
        to: String,
        /// The rest of the line.
        text: String,
    },
    /// `stopprivate <user>`.
    StopPrivate {
        /// The peer.
        user: String,
    },
}

/// Why a line is not a command (`render::parse_error` words it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The first word names no command.
    Invalid,
    /// A known command with wrong arguments; carries the command's usage.
    Usage(&'static str),
}

/// A command name with its usage and a one-line description, in the order `help` lists them.
pub struct CommandInfo {
    /// The command word.
    pub name: &'static str,
    /// The usage, as shown after `Error. Usage: `.
    pub usage: &'static str,
    /// What it does.
    pub about: &'static str,
    /// Which argument (1-based) is a user name, if any: for tab completion.
    pub user_arg: Option<usize>,
    /// That user name is a private peer (completion offers peers, not online users).
    pub peer_arg: bool,
}

/// Every command, in `help` order.
pub const COMMANDS: &[CommandInfo] = &[
    CommandInfo {
        name: "message",
        usage: "message <user> <message>",
        about: "send a message to a user (kept for them if they are offline)",
        user_arg: Some(1),
        peer_arg: false,
    },
    CommandInfo {
        name: "broadcast",
        usage: "broadcast <message>",
        about: "send a message to everyone online",
        user_arg: None,
        peer_arg: false,
    },
    CommandInfo {
        name: "whoelse",
        usage: "whoelse",
        about: "list the other users online",
        user_arg: None,
        peer_arg: false,
    },
    CommandInfo {
        name: "whoelsesince",
        usage: "whoelsesince <seconds>",
        about: "list the users online at any time in the last <seconds> seconds",
        user_arg: None,
        peer_arg: false,
    },
    CommandInfo {
        name: "block",
        usage: "block <user>",
        about: "stop a user's messages, broadcasts and presence from reaching you",
        user_arg: Some(1),
        peer_arg: false,
    },
    CommandInfo {
        name: "unblock",
        usage: "unblock <user>",
        about: "undo a block",
        user_arg: Some(1),
        peer_arg: false,
    },
    CommandInfo {
        name: "startprivate",
        usage: "startprivate <user>",
        about: "ask a user to talk privately, straight between your clients",
        user_arg: Some(1),
        peer_arg: false,
    },
    CommandInfo {
        name: "private",
        usage: "private <user> <message>",
        about: "send a private message (after startprivate was accepted)",
        user_arg: Some(1),
        peer_arg: true,
    },
    CommandInfo {
        name: "stopprivate",
        usage: "stopprivate <user>",
        about: "end a private session",
        user_arg: Some(1),
        peer_arg: true,
    },
    CommandInfo {
        name: "passwd",
        usage: "passwd",
        about: "change your password (asks the old one, then the new one)",
        user_arg: None,
        peer_arg: false,
    },
    CommandInfo {
        name: "logout",
        usage: "logout",
        about: "log out and quit (Ctrl-D does the same)",
        user_arg: None,
        peer_arg: false,
    },
    CommandInfo {
        name: "help",
        usage: "help",
        about: "show this list",
        user_arg: None,
        peer_arg: false,
    },
];

/// Looks up a command by name.
pub fn info(name: &str) -> Option<&'static CommandInfo> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// The lines `help` prints.
pub fn help_lines() -> Vec<String> {
    let width = COMMANDS.iter().map(|c| c.usage.len()).max().unwrap_or(0);
    let mut lines = vec!["Commands:".to_string()];
    lines.extend(
        COMMANDS
            .iter()
            .map(|c| format!("  {:width$}  {}", c.usage, c.about)),
    );
    lines
}

/// Splits off the first space-separated word of `s` (after leading spaces), returning it and
/// the rest with the separating spaces removed.
fn next_word(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches(' ');
    if s.is_empty() {
        return None;
    }
    match s.find(' ') {
        Some(end) => Some((&s[..end], s[end..].trim_start_matches(' '))),
        None => Some((s, "")),
    }
}

/// Parses one typed line (without its newline). A message is the rest of the line after its
/// separating spaces, kept as typed; other arguments are single words.
///
/// # Errors
/// [`ParseError::Invalid`] for an unknown command word, [`ParseError::Usage`] for a known one
/// with wrong arguments.
pub fn parse(line: &str) -> Result<Command, ParseError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let (word, rest) = next_word(line).ok_or(ParseError::Invalid)?;
    let usage = info(word).ok_or(ParseError::Invalid)?.usage;
    let bad = || ParseError::Usage(usage);
    let no_args = |command: Command| {
        if rest.trim().is_empty() {
            Ok(command)
        } else {
            Err(bad())
        }
    };
    let one_word = || match next_word(rest) {
        Some((arg, "")) => Ok(arg.to_string()),
        _ => Err(bad()),
    };
    let user_and_text = || match next_word(rest) {
        Some((to, text)) if !text.is_empty() => Ok((to.to_string(), text.to_string())),
        _ => Err(bad()),
    };
    match word {
        "message" => user_and_text().map(|(to, text)| Command::Message { to, text }),
        "private" => user_and_text().map(|(to, text)| Command::Private { to, text }),
        "startprivate" => Ok(Command::StartPrivate { user: one_word()? }),
        "stopprivate" => Ok(Command::StopPrivate { user: one_word()? }),
        "broadcast" => {
            let text = rest.trim_start_matches(' ');
            if text.is_empty() {
                Err(bad())
            } else {
                Ok(Command::Broadcast {
                    text: text.to_string(),
                })
            }
        }
        "whoelse" => no_args(Command::Whoelse),
        "whoelsesince" => {
            let seconds = one_word()?.parse::<u64>().map_err(|_| bad())?;
            Ok(Command::Whoelsesince { seconds })
        }
        "block" => Ok(Command::Block { user: one_word()? }),
        "unblock" => Ok(Command::Unblock { user: one_word()? }),
        "logout" => no_args(Command::Logout),
        "passwd" => no_args(Command::Passwd),
        "help" => Ok(Command::Help),
        _ => Err(ParseError::Invalid),
    }
}

impl Command {
    /// The request that carries this command, or `None` for one the client handles itself
    /// (`help`, and `private`/`stopprivate`, which go to the peer), or that needs more input
    /// first (`passwd`).
    pub fn request(&self) -> Option<Request> {
        Some(match self {
            Command::Message { to, text } => Request::Message {
                to: to.clone(),
                text: text.clone(),
            },
            Command::Broadcast { text } => Request::Broadcast { text: text.clone() },
            Command::Whoelse => Request::Whoelse,
            Command::Whoelsesince { seconds } => Request::Whoelsesince { seconds: *seconds },
            Command::Block { user } => Request::Block { user: user.clone() },
            Command::Unblock { user } => Request::Unblock { user: user.clone() },
            Command::Logout => Request::Logout,
            Command::StartPrivate { user } => Request::StartPrivate { user: user.clone() },
            Command::Help
            | Command::Passwd
            | Command::Private { .. }
            | Command::StopPrivate { .. } => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(
            parse("message yoda Hey Dude"),
            Ok(Command::Message {
                to: "yoda".into(),
                text: "Hey Dude".into()
            })
        );
        assert_eq!(
            parse("message  yoda   two  spaces kept  "),
            Ok(Command::Message {
                to: "yoda".into(),
                text: "two  spaces kept  ".into()
            })
        );
        assert_eq!(
            parse("broadcast vader is evil\r"),
            Ok(Command::Broadcast {
                text: "vader is evil".into()
            })
        );
        assert_eq!(parse("whoelse"), Ok(Command::Whoelse));
        assert_eq!(parse("whoelse "), Ok(Command::Whoelse));
        assert_eq!(
            parse("whoelsesince 200"),
            Ok(Command::Whoelsesince { seconds: 200 })
        );
        assert_eq!(
            parse("block hans"),
            Ok(Command::Block {
                user: "hans".into()
            })
        );
        assert_eq!(
            parse("unblock hans"),
            Ok(Command::Unblock {
                user: "hans".into()
            })
        );
        assert_eq!(parse("logout"), Ok(Command::Logout));
        assert_eq!(parse("passwd"), Ok(Command::Passwd));
        assert_eq!(parse("passwd hunter2"), Err(ParseError::Usage("passwd")));
        assert_eq!(parse("help"), Ok(Command::Help));
        assert_eq!(
            parse("startprivate luke"),
            Ok(Command::StartPrivate {
                user: "luke".into()
            })
        );
        assert_eq!(
            parse("private luke hey  dude "),
            Ok(Command::Private {
                to: "luke".into(),
                text: "hey  dude ".into()
            })
        );
        assert_eq!(
            parse("stopprivate luke"),
            Ok(Command::StopPrivate {
                user: "luke".into()
            })
        );
    }

    #[test]
    fn help_lists_every_command() {
        let help = help_lines().join("\n");
        for c in COMMANDS {
            assert!(help.contains(c.usage), "{}", c.name);
        }
    }

    #[test]
    fn requests() {
        assert_eq!(Command::Help.request(), None);
        assert_eq!(Command::Whoelse.request(), Some(Request::Whoelse));
    }
}
