//! `chatd`: parses the command line, loads the config, binds, optionally forks into the
//! background, serves, and hands signals to the signal thread (SIGINT/SIGTERM shut down,
//! SIGHUP reloads). The process-level pieces live in `chatd::daemon`.
//!
//! Order matters: the pid file is locked and the sockets are bound while the terminal is still
//! attached (so those errors reach it), the fork happens before any thread exists, and the
//! signal handlers are in place before readiness is announced.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chatd::daemon::{self, Forked, PidFile, Readiness};
use chatd::{Bound, Config, Overrides};
use clap::{CommandFactory, Parser};

/// The chat server.
///
/// Reads ./config.toml (or --config FILE); flags override the file. The original form
/// `chatd PORT BLOCK_DURATION TIMEOUT` also works (all three values).
#[derive(Parser, Debug)]
#[command(version, about, allow_negative_numbers = true)]
struct Args {
    /// Config file [default: ./config.toml if it exists]
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// TCP port to listen on (0 picks a free one)
    #[arg(long, value_name = "PORT")]
    port: Option<i64>,
    /// Seconds an account stays locked after 3 wrong passwords
    #[arg(long, value_name = "SECONDS")]
    block_duration: Option<i64>,
    /// Seconds without a valid command before automatic logout
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<i64>,
    /// IP address to listen on
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    /// Accounts file
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// Directory for the store
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Admin Unix socket path
    #[arg(long, value_name = "PATH")]
    admin_socket: Option<PathBuf>,
    /// Run in the background: fork once the sockets are bound, and return when the daemon
    /// serves (exit 0) or failed to start (exit 1, with the reason)
    #[arg(long)]
    daemonize: bool,
    /// Write the server's pid to FILE (locked while chatd runs, removed at exit); a pid file
    /// held by a running chatd makes this one refuse to start
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Append log lines to FILE instead of stderr
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,
    /// Original form: all three of PORT BLOCK_DURATION TIMEOUT, or none
    #[arg(value_names = ["PORT", "BLOCK_DURATION", "TIMEOUT"], num_args = 3, action = clap::ArgAction::Set)]
    positional: Option<Vec<i64>>,
    /// Print a completion script for SHELL and exit
    #[arg(long, value_name = "SHELL", exclusive = true)]
    completions: Option<clap_complete::Shell>,
    /// Print the man page (roff) and exit
    #[arg(long, exclusive = true)]
    manpage: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// One-off commands that do not start the server.
#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Rewrite the plain-text passwords of the credentials file as argon2id hashes, atomically,
    /// keeping comments and order; then exit
    HashCredentials {
        /// Config file whose `credentials` names the file [default: as the server would]
        #[arg(long, short = 'c', value_name = "FILE", conflicts_with = "credentials")]
        config: Option<PathBuf>,
        /// The credentials file itself
        #[arg(long, value_name = "FILE")]
        credentials: Option<PathBuf>,
    },
    /// Write a self-signed TLS certificate (cert.pem) and its key (key.pem, mode 0600) for a
    /// quick start; clients trust it on first use (`chat --tls`). Then exit
    GenCert {
        /// A DNS name or IP address clients use to reach this server (repeat for several)
        #[arg(long = "host", value_name = "NAME", required = true)]
        hosts: Vec<String>,
        /// Where to write cert.pem and key.pem
        #[arg(long, value_name = "DIR", default_value = ".")]
        out_dir: PathBuf,
        /// Replace existing cert.pem and key.pem
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(shell) = args.completions {
        return print_completions(shell);
    }
    if args.manpage {
        return print_manpage();
    }
    let log_file = match open_log_file(&args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("chatd: {}", report(&e));
            return ExitCode::from(1);
        }
    };
    let for_logger = match log_file.as_ref().map(|(f, _)| f.try_clone()).transpose() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("chatd: cannot share the log file: {e}");
            return ExitCode::from(1);
        }
    };
    daemon::init_logging(for_logger);
    match run(args, log_file) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("chatd: {}", report(&e));
            ExitCode::from(1)
        }
    }
}

/// `path` made absolute against the current directory: daemon mode changes directory to `/`,
/// and a reload must find the same files.
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

fn load_config(args: &Args) -> anyhow::Result<(Config, Overrides)> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(&absolute(path)?)?,
        None => {
            let default = PathBuf::from("config.toml");
            if default.exists() {
                Config::from_file(&absolute(&default)?)?
            } else {
                log::info!("no ./config.toml; using built-in defaults");
                let mut c = Config::default();
                c.credentials = absolute(&c.credentials)?;
                c.data_dir = absolute(&c.data_dir)?;
                c.admin_socket = absolute(&c.admin_socket)?;
                c
            }
        }
    };
    let pos = |i: usize| args.positional.as_ref().and_then(|p| p.get(i).copied());
    let path_flag = |p: &Option<PathBuf>| p.as_deref().map(absolute).transpose();
    let overrides = Overrides {
        port: args.port.or(pos(0)),
        block_duration: args.block_duration.or(pos(1)),
        timeout: args.timeout.or(pos(2)),
        bind: args.bind.clone(),
        credentials: path_flag(&args.credentials)?,
        data_dir: path_flag(&args.data_dir)?,
        admin_socket: path_flag(&args.admin_socket)?,
    };
    config.apply(&overrides)?;
    Ok((config, overrides))
}

/// `--log-file`, opened (and its absolute path, for messages) before anything is logged.
fn open_log_file(args: &Args) -> anyhow::Result<Option<(File, PathBuf)>> {
    match &args.log_file {
        Some(p) => {
            let p = absolute(p)?;
            Ok(Some((daemon::open_log_file(&p)?, p)))
        }
        None => Ok(None),
    }
}

/// `chatd hash-credentials`: the credentials file is the one named on the subcommand, else
/// the one the server would use with the same top-level flags.
fn hash_credentials(
    args: &Args,
    config: Option<PathBuf>,
    credentials: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let path = match (credentials, config) {
        (Some(path), _) => path,
        (None, Some(config)) => Config::from_file(&absolute(&config)?)?.credentials,
        (None, None) => load_config(args)?.0.credentials,
    };
    let done = chatd::credentials::hash_credentials(&path)?;
    println!("{}: {}", path.display(), hashed_summary(&done));
    Ok(ExitCode::SUCCESS)
}

/// `chatd gen-cert`: writes the pair and tells how to use it.
fn gen_cert(hosts: &[String], out_dir: &Path, force: bool) -> anyhow::Result<ExitCode> {
    let made = chatd::tls::gen_cert(hosts, &absolute(out_dir)?, force)?;
    println!("wrote {} and {}", made.cert.display(), made.key.display());
    println!(
        "SHA-256 fingerprint: {}",
        proto::tls::display_fingerprint(&made.fingerprint)
    );
    println!("In config.toml:");
    println!();
    println!("[tls]");
    println!("cert = {:?}", made.cert.display().to_string());
    println!("key = {:?}", made.key.display().to_string());
    println!("port = {}", chatd::config::DEFAULT_TLS_PORT);
    Ok(ExitCode::SUCCESS)
}

/// `hashed 2 plain-text passwords (1 was already hashed)`, singular and plural alike.
fn hashed_summary(done: &chatd::credentials::Rewritten) -> String {
    let passwords = if done.hashed == 1 {
        "password"
    } else {
        "passwords"
    };
    let were = if done.already_hashed == 1 {
        "was"
    } else {
        "were"
    };
    format!(
        "hashed {} plain-text {passwords} ({} {were} already hashed)",
        done.hashed, done.already_hashed
    )
}

/// `--completions SHELL`: the completion script for chatd, on stdout.
fn print_completions(shell: clap_complete::Shell) -> ExitCode {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Args::command(), "chatd", &mut script);
    write_stdout(&script, "completion script")
}

/// `--manpage`: chatd(8) in roff, on stdout.
fn print_manpage() -> ExitCode {
    let mut page = Vec::new();
    // Rendering into memory cannot fail.
    let _ = clap_mangen::Man::new(Args::command())
        .section("8")
        .render(&mut page);
    write_stdout(&page, "man page")
}

/// Writes `bytes` to stdout; a closed pipe or a full disk is reported, not a panic.
fn write_stdout(bytes: &[u8], what: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatd: cannot write the {what}: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(mut args: Args, log_file: Option<(File, PathBuf)>) -> anyhow::Result<ExitCode> {
    match args.command.take() {
        Some(Command::HashCredentials {
            config,
            credentials,
        }) => return hash_credentials(&args, config, credentials),
        Some(Command::GenCert {
            hosts,
            out_dir,
            force,
        }) => return gen_cert(&hosts, &out_dir, force),
        None => {}
    }
    let (config, overrides) = match load_config(&args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("chatd: {}", report(&e));
            return Ok(ExitCode::from(2));
        }
    };
    let pid_file = match &args.pid_file {
        Some(p) => Some(PidFile::acquire(&absolute(p)?)?),
        None => None,
    };
    let bound = match chatd::bind(config, overrides) {
        Ok(bound) => bound,
        // A [tls] file that cannot be used is a config error, like the others.
        Err(chatd::StartError::Config(e)) => {
            eprintln!("chatd: {e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    if !args.daemonize {
        // Panic messages and anything else written to stderr join the log lines from here on;
        // start-up errors above still reached the terminal.
        if let Some((file, path)) = &log_file {
            daemon::redirect_stderr(file, path)?;
        }
        return serve(bound, pid_file, None);
    }
    match daemon::daemonize(log_file.as_ref().map(|(f, _)| f))? {
        Forked::Parent(report) => {
            // The daemon owns the pid file (and its lock) and the socket files now: this
            // process must not remove them on its way out.
            std::mem::forget(pid_file);
            drop(bound);
            match report.wait() {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(why) => {
                    eprintln!("chatd: {why}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Forked::Daemon(readiness) => serve(bound, pid_file, Some(readiness)),
    }
}

/// Serves until a stop signal, in the foreground or as the daemon. Start-up failures go to the
/// waiting parent too, when there is one.
fn serve(
    bound: Bound,
    mut pid_file: Option<PidFile>,
    readiness: Option<Readiness>,
) -> anyhow::Result<ExitCode> {
    let started = (|| -> anyhow::Result<_> {
        let signals = daemon::install_signals()?;
        if let Some(p) = pid_file.as_mut() {
            p.write_pid()?;
        }
        let running = bound.on_reload(daemon::reload).serve()?;
        Ok((signals, running))
    })();
    let (signals, running) = match started {
        Ok(v) => v,
        Err(e) => {
            if let Some(r) = readiness {
                r.failed(&report(&e));
            }
            return Err(e);
        }
    };
    let thread = match daemon::spawn_signal_thread(
        signals,
        running.stop_handle(),
        Arc::clone(running.shared()),
        give_up,
    ) {
        Ok(t) => t,
        Err(e) => {
            running.shutdown();
            if let Some(r) = readiness {
                r.failed(&e.to_string());
            }
            return Err(e.into());
        }
    };
    let mut status = format!("listening on {}", running.local_addr());
    if let Some(tls) = running.tls_addr() {
        status.push_str(&format!(", TLS on {tls}"));
    }
    daemon::notify_ready(&status);
    if let Some(r) = readiness {
        log::info!("running in the background as pid {}", std::process::id());
        r.ready();
    }
    running.wait();
    thread.close();
    drop(pid_file);
    log::info!("exiting");
    Ok(ExitCode::SUCCESS)
}

/// The signal thread's last resort (second stop signal, or a shutdown that hangs).
fn give_up(why: &str) {
    log::error!("{why}");
    std::process::exit(1);
}

/// An error and its causes on one line, skipping a cause whose text the message before it
/// already ends with (our error types name their cause in their own message).
fn report(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}
