//! `chatd`: parses the command line, loads the config, starts the server and turns signals
//! into shutdown (SIGINT, SIGTERM) and reload (SIGHUP).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chatd::{Config, Overrides};
use clap::Parser;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The chat server.
///
/// Reads ./config.toml (or --config FILE); flags override the file. The original form
/// `chatd PORT BLOCK_DURATION TIMEOUT` also works.
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
    /// Original form: PORT BLOCK_DURATION TIMEOUT
    #[arg(value_name = "PORT BLOCK_DURATION TIMEOUT", num_args = 0..=3)]
    positional: Vec<i64>,
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
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_secs()
        .init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatd: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn load_config(args: &Args) -> anyhow::Result<(Config, Overrides)> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => {
            let default = PathBuf::from("config.toml");
            if default.exists() {
                Config::from_file(&default)?
            } else {
                log::info!("no ./config.toml; using built-in defaults");
                Config::default()
            }
        }
    };
    let pos = |i: usize| args.positional.get(i).copied();
    let overrides = Overrides {
        port: args.port.or(pos(0)),
        block_duration: args.block_duration.or(pos(1)),
        timeout: args.timeout.or(pos(2)),
        bind: args.bind.clone(),
        credentials: args.credentials.clone(),
        data_dir: args.data_dir.clone(),
        admin_socket: args.admin_socket.clone(),
    };
    config.apply(&overrides)?;
    Ok((config, overrides))
}

/// `chatd hash-credentials`: the credentials file is the one named on the subcommand, else
/// the one the server would use with the same top-level flags.
fn hash_credentials(
    args: &Args,
    config: Option<PathBuf>,
    credentials: Option<PathBuf>,
) -> anyhow::Result<()> {
    let path = match (credentials, config) {
        (Some(path), _) => path,
        (None, Some(config)) => Config::from_file(&config)?.credentials,
        (None, None) => load_config(args)?.0.credentials,
    };
    let done = chatd::credentials::hash_credentials(&path)?;
    println!(
        "{}: hashed {} plain-text passwords ({} were already hashed)",
        path.display(),
        done.hashed,
        done.already_hashed
    );
    Ok(())
}

fn run(mut args: Args) -> anyhow::Result<()> {
    if let Some(Command::HashCredentials {
        config,
        credentials,
    }) = args.command.take()
    {
        return hash_credentials(&args, config, credentials);
    }
    let (config, overrides) = match load_config(&args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("chatd: {e:#}");
            std::process::exit(2);
        }
    };
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP]).context("cannot install signal handlers")?;
    let running = chatd::start(config, overrides)?;
    let stop = running.stop_handle();
    let shared = std::sync::Arc::clone(running.shared());
    let signal_thread = signals.handle();
    std::thread::Builder::new()
        .name("chatd-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                match sig {
                    SIGHUP => {
                        if let Err(e) = shared.reload() {
                            log::error!("reload failed, keeping the old configuration: {e}");
                        }
                    }
                    _ => {
                        log::info!("signal {sig}: shutting down");
                        stop.stop();
                    }
                }
            }
        })
        .context("cannot start the signal thread")?;
    running.wait();
    signal_thread.close();
    Ok(())
}
