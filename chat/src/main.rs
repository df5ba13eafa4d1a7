//! `chat`, the terminal client: parses the arguments, connects, picks the mode (interactive
//! when stdin and stdout are terminals, piped otherwise), runs the session and exits with its
//! status.
//!
//! Layout: [`cli`] (arguments), [`conn`] (the socket), [`session`] (login, commands, events,
//! directives), [`render`] (every line users see), [`commands`] (the command language),
//! [`repl`] (line editor, completion, history), [`script`] (piped input and directives),
//! [`screen`] (output), [`tty`] (password entry, terminal restore), [`p2p`] (the private
//! listener and peer connections).

mod cli;
mod commands;
mod conn;
mod p2p;
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
    /// Something happened on a private (peer-to-peer) link.
    Peer(p2p::PeerInput),
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
    /// An answer to a question (the private-messaging consent), after this prompt; no
    /// completion, no history.
    Answer(String),
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
    // Private messaging needs a listener on the interface the server connection uses, so
    // the server can advertise it (or the --advertise host) to peers.
    let listener = match conn.local_ip() {
        Ok(ip) => p2p::Listener::bind(ip, conn.max_line(), inbox_tx.clone()),
        Err(e) => Err(e),
    };
    let listener = match listener {
        Ok(listener) => Some(listener),
        Err(e) => {
            eprintln!("chat: private messaging is unavailable: cannot listen: {e}");
            None
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
        repl::start(inbox_tx.clone(), names.clone(), history)
            .map(|i| (i.asks, screen::Screen::interactive(i.printer, terminal)))
    } else {
        script::spawn_reader(inbox_tx.clone()).map(|asks| (asks, screen::Screen::piped()))
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
        advertise: args.advertise,
    };
    let inbox = session::Inbox {
        rx: inbox_rx,
        tx: inbox_tx,
    };
    session::Session::new(conn, inbox, asks, screen, names, options)
        .with_listener(listener)
        .run()
}

fn main() {
    let status = run(cli::Args::parse());
    std::process::exit(status);
}
