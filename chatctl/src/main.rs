//! `chatctl`: the operator's tool for a running chatd. Parses the command line, finds the admin
//! socket, runs one subcommand, and turns the outcome into the exit status: 0 success, 1 the
//! request failed, 2 usage (clap's own code, also used when the socket cannot be determined),
//! 3 chatd unreachable.

mod client;
mod commands;
mod render;
mod socket;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::client::{Failure, Session};

/// Administer a running chatd over its Unix socket.
///
/// The socket is --socket PATH, else $CHATCTL_SOCKET, else `admin_socket` from --config FILE
/// or ./config.toml (relative to that file's folder), else ./chatd.sock.
///
/// Exit status: 0 success, 1 the request failed (e.g. the user is not online), 2 usage error,
/// 3 chatd cannot be reached.
#[derive(Parser, Debug)]
#[command(version, about)]
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
    /// Print JSON (one object per line) instead of tables, for scripts
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
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
    /// Server counters: uptime, connections, logins, messages, drops
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
    let cli = Cli::parse();
    let session = match socket::resolve(cli.socket.as_deref(), cli.config.as_deref()) {
        // Absolute, so every message names the socket unambiguously.
        Ok(path) => Session::new(std::path::absolute(&path).unwrap_or(path), cli.json),
        Err(why) => return report(cli.json, Failure::Usage(why)),
    };
    let result = match cli.command {
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
