//! `chat`, the terminal client: parses the arguments, connects, picks the mode (interactive
//! when stdin and stdout are terminals, piped otherwise), runs the session and exits with its
//! status.
//!
//! Layout: [`cli`] (arguments), [`conn`] (the server connection, over `proto::client`),
//! [`inbox`] (the session's one queue), [`session`] (login, commands, events,
//! directives), [`render`] (every line users see), [`commands`] (the command language),
//! [`repl`] (line editor, completion, history), [`script`] (piped input and directives),
//! [`screen`] (output), [`tty`] (password entry, terminal restore), [`p2p`] (the private
//! listener and peer connections), [`trust`] (which TLS certificates to trust; pins), [`seen`]
//! (the file of message ids shown, across sessions).

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
mod seen;
mod session;
mod trust;
mod tty;

use std::io::IsTerminal;
use std::sync::mpsc;

use clap::Parser;

use crate::diag::report;
use crate::render::{EXIT_LOGIN, EXIT_OK, EXIT_SERVER};

fn env_string(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

fn run(args: cli::Args) -> i32 {
    if let Some(shell) = args.completions {
        return write_stdout(&cli::completions(shell), "the completion script");
    }
    if args.manpage {
        return write_stdout(&cli::manpage(), "the man page");
    }
    let addr = match args.address() {
        Ok(addr) => addr,
        Err(problem) => {
            report!("{problem}");
            return EXIT_LOGIN;
        }
    };
    let source = match (&args.file, args.commands.is_empty()) {
        (Some(path), _) => match std::fs::File::open(path) {
            Ok(file) => script::Source::File {
                name: path.display().to_string(),
                file,
            },
            Err(e) => {
                report!("cannot read {}: {e}", path.display());
                return EXIT_LOGIN;
            }
        },
        (None, false) => script::Source::Commands(args.commands.clone()),
        (None, true) => script::Source::Stdin,
    };
    let scripted = !matches!(source, script::Source::Stdin);
    let place = source.place();
    let interactive =
        !scripted && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let color = interactive && env_string("NO_COLOR").is_none_or(|v| v.is_empty());
    let style = render::Style {
        times: interactive || args.timestamps,
        color,
        terminal: interactive,
    };
    let tls = args.tls.then(|| trust::TlsOptions {
        ca: args.ca.clone(),
        trust_new: args.trust_new,
        known_hosts: cli::known_hosts_path(
            env_string("CHAT_KNOWN_HOSTS"),
            env_string("XDG_STATE_HOME"),
            env_string("HOME"),
        ),
        can_ask: std::io::stdin().is_terminal(),
    });
    let (inbox_tx, inbox_rx) = mpsc::channel();
    let conn = match conn::open(&addr, tls.as_ref(), inbox_tx.clone()) {
        Ok(conn) => conn,
        Err(e) => {
            report!("{e}");
            return EXIT_SERVER;
        }
    };
    // Private messaging needs a listener on the interface the server connection uses, so
    // the server can advertise it (or the --advertise host) to peers. Over TLS to the server,
    // it serves TLS too, with a certificate made now.
    let peer_tls = if conn.is_tls() {
        trust::private_identity()
            .map(Some)
            .map_err(|e| std::io::Error::other(format!("cannot make a TLS key: {e}")))
    } else {
        Ok(None)
    };
    let listener = peer_tls.and_then(|tls| {
        let local = conn.local_addr()?;
        p2p::Listener::bind(
            local.ip(),
            conn.max_line(),
            inbox::peer_sink(&inbox_tx),
            tls,
        )
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen: {e}")))
    });
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
        repl::start(inbox_tx.clone(), names.clone(), history).map(|i| {
            let screen = screen::Screen::interactive(i.printer, terminal, style);
            (i.asks, screen, Some(i.suspender))
        })
    } else {
        script::spawn_reader(inbox_tx.clone(), source)
            .map(|asks| (asks, screen::Screen::piped(), None))
    };
    let (asks, screen, suspender) = match started {
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
        seen: cli::seen_dir(
            env_string("CHAT_SEEN_DIR"),
            env_string("XDG_STATE_HOME"),
            env_string("HOME"),
        )
        .map(|dir| seen::server_dir(&dir, &addr.host, addr.port)),
        style,
        place,
        suspender,
    };
    let inbox = session::Inbox {
        rx: inbox_rx,
        tx: inbox_tx,
    };
    session::Session::new(conn, inbox, asks, screen, names, options)
        .with_listener(listener)
        .run()
}

/// Writes `bytes` to stdout; a closed pipe or a full disk is reported (exit status 2), not
/// a panic.
fn write_stdout(bytes: &[u8], what: &str) -> i32 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            report!("cannot write {what}: {e}");
            EXIT_LOGIN
        }
    }
}

fn main() {
    let status = run(cli::Args::parse());
    std::process::exit(status);
}
