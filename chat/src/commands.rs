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
    /// `help [command]` (answered by the client).
    Help {
        /// The command asked about, as typed.
        about: Option<String>,
    },
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

/// Which user names complete an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Users {
    /// Not a user argument.
    None,
    /// Every account (online or not: offline messages are for them).
    Accounts,
    /// Users online now.
    Online,
    /// Private peers.
    Peers,
}

/// A command name with its usage and a one-line description, in the order `help` lists them.
pub struct CommandInfo {
    /// The command word.
    pub name: &'static str,
    /// The usage, as shown after `Error. Usage: `.
    pub usage: &'static str,
    /// What it does.
    pub about: &'static str,
    /// An example, for `help <command>`.
    pub example: &'static str,
    /// Which names complete the first argument (the only one that is ever a user).
    pub users: Users,
}

/// Every command, in `help` order.
pub const COMMANDS: &[CommandInfo] = &[
    CommandInfo {
        name: "message",
        usage: "message <user> <message>",
        about: "send a message to a user (kept for them if they are offline)",
        example: "message yoda Hey Dude",
        users: Users::Accounts,
    },
    CommandInfo {
        name: "broadcast",
        usage: "broadcast <message>",
        about: "send a message to everyone online",
        example: "broadcast vader is evil",
        users: Users::None,
    },
    CommandInfo {
        name: "whoelse",
        usage: "whoelse",
        about: "list the other users online",
        example: "whoelse",
        users: Users::None,
    },
    CommandInfo {
        name: "whoelsesince",
        usage: "whoelsesince <seconds>",
        about: "list the users online at any time in the last <seconds> seconds",
        example: "whoelsesince 300",
        users: Users::None,
    },
    CommandInfo {
        name: "block",
        usage: "block <user>",
        about: "stop a user's messages, broadcasts and presence from reaching you",
        example: "block vader",
        users: Users::Accounts,
    },
    CommandInfo {
        name: "unblock",
        usage: "unblock <user>",
        about: "undo a block",
        example: "unblock vader",
        users: Users::Accounts,
    },
    CommandInfo {
        name: "startprivate",
        usage: "startprivate <user>",
        about: "ask a user to talk privately, straight between your clients",
        example: "startprivate luke",
        users: Users::Online,
    },
    CommandInfo {
        name: "private",
        usage: "private <user> <message>",
        about: "send a private message (after startprivate was accepted)",
        example: "private luke hey dude",
        users: Users::Peers,
    },
    CommandInfo {
        name: "stopprivate",
        usage: "stopprivate <user>",
        about: "end a private session",
        example: "stopprivate luke",
        users: Users::Peers,
    },
    CommandInfo {
        name: "passwd",
        usage: "passwd",
        about: "change your password (asks the old one, then the new one)",
        example: "passwd",
        users: Users::None,
    },
    CommandInfo {
        name: "logout",
        usage: "logout",
        about: "log out and quit (Ctrl-D does the same)",
        example: "logout",
        users: Users::None,
    },
    CommandInfo {
        name: "help",
        usage: "help [command]",
        about: "show this list, or one command's usage and an example",
        example: "help message",
        users: Users::None,
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
    lines.push("Type `help <command>` for one command's usage and an example.".to_string());
    lines
}

/// The lines `help <command>` prints: its usage, what it does and an example; `None` when
/// `name` is no command.
pub fn help_for(name: &str) -> Option<Vec<String>> {
    let c = info(name)?;
    Some(vec![
        format!("Usage: {}", c.usage),
        format!("  {}", capitalized(c.about)),
        format!("Example: {}", c.example),
    ])
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Words a terminal user may type for a command (`?`, `quit`, `exit`), as the line they
/// stand for; `None` when `line` is not one. Only the terminal takes them: in piped mode a
/// script gets exactly the commands of the SPEC (anything else is `Error. Invalid command`).
pub fn terminal_alias(line: &str) -> Option<String> {
    let trimmed = line.trim_matches(' ');
    match next_word(trimmed)? {
        ("?", rest) => Some(format!("help {rest}").trim_end().to_string()),
        ("quit" | "exit", "") => Some("logout".to_string()),
        _ => None,
    }
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
        "help" => match next_word(rest) {
            None => Ok(Command::Help { about: None }),
            Some((about, "")) => Ok(Command::Help {
                about: Some(about.to_string()),
            }),
            Some(_) => Err(bad()),
        },
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
            Command::Help { .. }
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
        assert_eq!(parse("help"), Ok(Command::Help { about: None }));
        assert_eq!(
            parse("help message"),
            Ok(Command::Help {
                about: Some("message".into())
            })
        );
        assert_eq!(parse("help a b"), Err(ParseError::Usage("help [command]")));
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
    fn help_for_one_command() {
        assert_eq!(
            help_for("message").unwrap(),
            [
                "Usage: message <user> <message>",
                "  Send a message to a user (kept for them if they are offline)",
                "Example: message yoda Hey Dude",
            ]
        );
        assert!(help_for("dance").is_none());
        for c in COMMANDS {
            // Every example is a valid use of its command.
            assert!(parse(c.example).is_ok(), "{}", c.example);
            assert!(c.example.starts_with(c.name), "{}", c.name);
        }
    }

    #[test]
    fn terminal_aliases() {
        assert_eq!(terminal_alias("?").as_deref(), Some("help"));
        assert_eq!(terminal_alias("? message").as_deref(), Some("help message"));
        assert_eq!(terminal_alias("quit").as_deref(), Some("logout"));
        assert_eq!(terminal_alias(" exit ").as_deref(), Some("logout"));
        assert_eq!(terminal_alias("exit now"), None);
        assert_eq!(terminal_alias("message quit"), None);
    }

    #[test]
    fn requests() {
        assert_eq!(Command::Help { about: None }.request(), None);
        assert_eq!(Command::Whoelse.request(), Some(Request::Whoelse));
    }
}
