//! `chat`, the terminal client: parses the arguments, connects, picks the mode (interactive
//! when stdin and stdout are terminals, piped otherwise), runs the session and exits with its
//! status.
//!
//! Layout: [`cli`] (arguments), [`conn`] (the server connection, over `proto::client`),
//! [`inbox`] (the session's one queue), [`session`] (login, commands, events,
//! directives), [`render`] (every line users see), [`commands`] (the command language),
//! [`repl`] (line editor, completion, history), [`script`] (piped input and directives),
//! [`screen`] (output), [`tty`] (password entry, terminal restore), [`p2p`] (the private
//! listener and peer connections).

mod cli;
mod commands;
mod conn;
mod diag;
mod inbox;
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

use crate::diag::report;
use crate::render::{EXIT_LOGIN, EXIT_SERVER};

fn env_string(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

fn run(args: cli::Args) -> i32 {
    let addr = match args.address() {
        Ok(addr) => addr,
        Err(problem) => {
            report!("{problem}");
            return EXIT_LOGIN;
        }
    };
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let (inbox_tx, inbox_rx) = mpsc::channel();
    let conn = match conn::open(&addr, inbox_tx.clone()) {
        Ok(conn) => conn,
        Err(e) => {
            report!("{e}");
            return EXIT_SERVER;
        }
    };
    // Private messaging needs a listener on the interface the server connection uses, so
    // the server can advertise it (or the --advertise host) to peers.
    let listener = match conn.local_addr() {
        Ok(local) => p2p::Listener::bind(local.ip(), conn.max_line(), inbox::peer_sink(&inbox_tx)),
        Err(e) => Err(e),
    };
    let listener = match listener {
        Ok(listener) => Some(listener),
        Err(e) => {
            report!("private messaging is unavailable: cannot listen: {e}");
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
            report!("cannot start: {e}");
            conn.shutdown();
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
