//! `chatctl`: the operator's tool for a running chatd. Parses the command line, finds the admin
//! socket, runs one subcommand, and turns the outcome into the exit status: 0 success, 1 the
//! request failed, 2 usage (clap's own code, also used when the socket cannot be determined),
//! 3 chatd unreachable. With `--json` every error, clap's included, is one JSON object on
//! stderr. Also prints its completion scripts and man page (`--completions`, `--manpage`).

mod client;
mod commands;
mod render;
mod socket;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::client::{Failure, Session};

/// Administer a running chatd over its Unix socket.
///
/// The socket is --socket PATH, else $CHATCTL_SOCKET, else `admin_socket` from --config FILE
/// or ./config.toml (relative to that file's folder), else ./chatd.sock.
///
/// Exit status: 0 success, 1 the request failed (e.g. the user is not online), 2 usage error,
/// 3 chatd cannot be reached. With --json, errors are JSON objects on stderr.
#[derive(Parser, Debug)]
#[command(
    version,
    about,
    override_usage = "chatctl [OPTIONS] <COMMAND>\n       chatctl --completions <SHELL>\n       chatctl --manpage"
)]
struct Cli {
    /// chatd's admin socket
    #[arg(
        long,
        short = 's',
        global = true,
        value_name = "PATH",
        env = "CHATCTL_SOCKET"
    )]
    socket: Option<PathBuf>,
    /// Config file to read `admin_socket` from [default: ./config.toml if it exists]
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print JSON (one object per line) instead of tables, for scripts; errors too, on stderr
    #[arg(long, global = true)]
    json: bool,
    /// Print a completion script for SHELL and exit
    #[arg(long, value_name = "SHELL", conflicts_with = "manpage")]
    completions: Option<clap_complete::Shell>,
    /// Print the man page (roff) and exit
    #[arg(long)]
    manpage: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Is chatd running? Its pid, version, uptime and connections (exit 0), or exit 3
    Status,
    /// Online users: name, address, logged in since, idle time, private sessions
    Who,
    /// Disconnect a user; they are told so (with the reason), the others see the logout
    Kick {
        /// The user to disconnect
        user: String,
        /// Shown to the user
        #[arg(long, short = 'r', value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Server counters, since chatd started and since its store was created
    Stats,
    /// Clear a login lock (after three wrong passwords)
    Unlock {
        /// The locked account
        user: String,
    },
    /// Reload config.toml and credentials.txt (same as SIGHUP)
    Reload,
    /// Every account: name, online, locked, last login
    Users,
    /// Manage one account
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

/// `chatctl user ...`. Names are taken in any case. A password is read from the terminal
/// without echo (asked twice), or as the first line of standard input when it is not a
/// terminal.
#[derive(Subcommand, Debug)]
enum UserAction {
    /// Create an account (registration settings and limits do not apply)
    Add {
        /// The new account's name
        user: String,
    },
    /// Delete an account: its session is disconnected, its stored messages, block lists and
    /// login history are removed, and credentials.txt is rewritten
    Del {
        /// The account
        user: String,
    },
    /// Set an account's password
    Passwd {
        /// The account
        user: String,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    if let Some(shell) = cli.completions {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "chatctl", &mut script);
        return print_raw(cli.json, &script);
    }
    if cli.manpage {
        let mut page = Vec::new();
        // Rendering into memory cannot fail.
        let _ = clap_mangen::Man::new(Cli::command())
            .section("8")
            .render(&mut page);
        return print_raw(cli.json, &page);
    }
    let Some(command) = cli.command else {
        let mut cli = Cli::command();
        let names: Vec<String> = cli
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .filter(|name| name != "help")
            .collect();
        let e = cli.error(
            clap::error::ErrorKind::MissingSubcommand,
            format!("a subcommand is required: {}", names.join(", ")),
        );
        return usage_error(e);
    };
    let session = match socket::resolve(cli.socket.as_deref(), cli.config.as_deref()) {
        // Absolute, so every message names the socket unambiguously.
        Ok(path) => Session::new(std::path::absolute(&path).unwrap_or(path), cli.json),
        Err(why) => return report(cli.json, Failure::Usage(why)),
    };
    let result = match command {
        Command::Status => commands::status::run(&session),
        Command::Who => commands::who::run(&session),
        Command::Kick { user, reason } => commands::kick::run(&session, user, reason),
        Command::Stats => commands::stats::run(&session),
        Command::Unlock { user } => commands::unlock::run(&session, user),
        Command::Reload => commands::reload::run(&session),
        Command::Users => commands::users::run(&session),
        Command::User { action } => match action {
            UserAction::Add { user } => commands::user_add::run(&session, user),
            UserAction::Del { user } => commands::user_del::run(&session, user),
            UserAction::Passwd { user } => commands::user_passwd::run(&session, user),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => report(cli.json, failure),
    }
}

/// A command line clap refused. `--help` and `--version` print as usual (exit 0); any other
/// error is a usage error (exit 2): clap's own text, or with `--json` anywhere on the line
/// (clap did not get far enough to say) one JSON error object with code `usage`.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) || !json_wanted() {
        e.exit();
    }
    // "error: unexpected argument '--bogus' found\n\n  tip: ...\n\nUsage: chatctl who
    // [OPTIONS]\n\nFor more information, try '--help'." as one line: the error and the usage.
    let text = e.render().to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("tip:") && !l.starts_with("For more"))
        .collect();
    let usage_at = lines.iter().position(|l| l.starts_with("Usage: "));
    let what = lines[..usage_at.unwrap_or(lines.len())].join(" ");
    let what = what.strip_prefix("error: ").unwrap_or(&what);
    let message = match usage_at {
        // Only the first usage line: the others are the alternative forms.
        Some(i) => format!("{what}; usage: {}", &lines[i]["Usage: ".len()..]),
        None => what.to_string(),
    };
    report(true, Failure::Usage(message))
}

/// Whether `--json` is on the command line (before any `--`), for errors clap raised before
/// it could tell.
fn json_wanted() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// Prints a completion script or man page; with `--json`, a failure to write is JSON too.
fn print_raw(json: bool, bytes: &[u8]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(json, commands::stdout_failed(e)),
    }
}

/// Prints a failure to stderr (as text, or as a JSON error object with `--json`) and returns
/// its exit status.
fn report(json: bool, failure: Failure) -> ExitCode {
    let (status, code, message) = match &failure {
        Failure::Request { code, message } => (1, code.as_str(), message.as_str()),
        Failure::Usage(message) => (2, "usage", message.as_str()),
        Failure::Unreachable(message) => (3, "unreachable", message.as_str()),
    };
    if json {
        // Same shape and key order as chatd's own error answers.
        #[derive(serde::Serialize)]
        struct ErrorLine<'a> {
            r#type: &'a str,
            code: &'a str,
            message: &'a str,
        }
        let line = ErrorLine {
            r#type: "error",
            code,
            message,
        };
        eprintln!("{}", proto::encode_line(&line).trim_end());
    } else {
        eprintln!("chatctl: {message}");
    }
    ExitCode::from(status)
}
