//! `chat`, the terminal client: parses the arguments, connects, picks the mode (interactive
//! when stdin and stdout are terminals, piped otherwise), runs the session and exits with its
//! status.
//!
//! Layout: [`cli`] (arguments), [`conn`] (the socket), [`session`] (login, commands, events,
//! directives), [`render`] (every line users see), [`commands`] (the command language),
//! [`repl`] (line editor, completion, history), [`script`] (piped input and directives),
//! [`screen`] (output), [`tty`] (password entry, terminal restore).

mod cli;
mod commands;
mod conn;
mod render;
mod repl;
mod screen;
mod script;
mod session;
mod tty;

use std::io::IsTerminal;
use std::sync::mpsc;

use clap::Parser;

use crate::render::{EXIT_LOGIN, EXIT_SERVER};

/// Everything the session waits for, from every thread, in one queue.
pub enum Input {
    /// A frame from the server.
    Frame(proto::ServerFrame),
    /// The connection ended (with the reason, for diagnostics).
    Disconnected(String),
    /// A line the user typed (or the next line of a script), without its newline.
    Line(String),
    /// Ctrl-C at a prompt: the line was discarded.
    Interrupted,
    /// Ctrl-D, or the end of the script.
    EndOfInput,
}

/// What the session asks the input thread to read.
#[derive(Debug, Clone)]
pub enum Ask {
    /// A command line (the line editor, with completion and history).
    Command,
    /// A user name (the line editor, no history).
    Username,
    /// A password, never echoed nor kept, after this prompt.
    Secret(String),
}

fn env_string(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

fn run(args: cli::Args) -> i32 {
    let addr = match args.address() {
        Ok(addr) => addr,
        Err(problem) => {
            eprintln!("chat: {problem}");
            return EXIT_LOGIN;
        }
    };
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let (inbox_tx, inbox_rx) = mpsc::channel();
    let conn = match conn::Connection::open(&addr, inbox_tx.clone(), &inbox_rx) {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("chat: {e}");
            return EXIT_SERVER;
        }
    };
    let names = repl::UserNames::default();
    let started = if interactive {
        let terminal = tty::SavedTerminal::capture();
        let history = cli::history_path(
            env_string("CHAT_HISTFILE"),
            env_string("XDG_STATE_HOME"),
            env_string("HOME"),
        );
        repl::start(inbox_tx, names.clone(), history)
            .map(|i| (i.asks, screen::Screen::interactive(i.printer, terminal)))
    } else {
        script::spawn_reader(inbox_tx).map(|asks| (asks, screen::Screen::piped()))
    };
    let (asks, screen) = match started {
        Ok(started) => started,
        Err(e) => {
            eprintln!("chat: cannot start: {e}");
            conn.close();
            return EXIT_LOGIN;
        }
    };
    let options = session::Options {
        piped: !interactive,
        strict: args.strict,
        user: args.user,
        password: env_string("CHAT_PASSWORD"),
    };
    session::Session::new(conn, inbox_rx, asks, screen, names, options).run()
}

fn main() {
    let status = run(cli::Args::parse());
    std::process::exit(status);
}
