//! Command-line arguments and the environment: which server to reach, which user to log in as,
//! where the history file lives, and the shell completions and man page generated from the
//! same definition. Only parsing, resolution and generation; nothing here opens a socket or
//! writes anywhere.

use std::path::PathBuf;

use clap::Parser;

/// Where `chat` connects when given no address.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// The port of the bundled `config.toml`.
pub const DEFAULT_PORT: u16 = 5000;
/// The TLS port of the bundled `config.toml` (its commented `[tls]` table), for `--tls`.
pub const DEFAULT_TLS_PORT: u16 = 5001;

const AFTER_HELP: &str = "\
Addresses:
  chat                      127.0.0.1:5000
  chat PORT                 127.0.0.1:PORT
  chat HOST PORT            HOST:PORT
  chat HOST:PORT            (also --server HOST:PORT; IPv6 as [::1]:5000)

Login:
  Without --user the client asks for a user name. The password is asked for (never echoed),
  or taken from the environment variable CHAT_PASSWORD. An unknown user name creates a new
  account with the password given next.

Modes:
  Interactive when stdin and stdout are terminals: line editing, history, Tab completes
  commands and user names, Ctrl-C clears the line, Ctrl-D logs out. Type `help` for commands.
  Piped otherwise: stdin gives the user name, the password, then one command per line; each
  command's result is printed before the next line is read; end of input logs out.
  Script lines: `# comment`, `.sleep SECONDS`, `.wait TEXT [SECONDS]` (wait until a printed
  line contains TEXT; default 10 seconds). `-f FILE` reads the script from FILE instead;
  `-c COMMAND` (repeatable) logs in (from --user/CHAT_PASSWORD or stdin), runs the commands
  and logs out. A script that fails says where on stderr: `chat: <stdin>:3: ...`.
  On a terminal, incoming lines start with their local time; --timestamps does the same when
  piped. Colours on a terminal unless NO_COLOR is set.

Private messaging:
  `startprivate USER` asks USER (who answers y or n); then `private USER MESSAGE` goes
  straight to their client, and `stopprivate USER` ends it. The client listens for peers on
  the interface it reaches the server from; --advertise HOST tells peers another address.

TLS:
  --tls connects over TLS (default port 5001) and checks the server's certificate against the
  system's roots, or only against --ca FILE. A certificate they do not vouch for (a
  self-signed one, from `chatd gen-cert`) is trusted on first use, like ssh: its SHA-256
  fingerprint is shown and you are asked (scripts: --trust-new), then it is pinned in
  $XDG_STATE_HOME/chat/known_hosts (or ~/.local/state/chat/known_hosts). A server whose
  certificate later differs from its pin is refused (exit 3); remove its line there to pin anew.
  Private messages then travel over TLS too.

Environment:
  CHAT_PASSWORD    the password (used for the first attempt)
  CHAT_HISTFILE    history file (empty: no history); default
                   $XDG_STATE_HOME/chat/history or ~/.local/state/chat/history
  CHAT_KNOWN_HOSTS the file of pinned server certificates (--tls); default
                   $XDG_STATE_HOME/chat/known_hosts or ~/.local/state/chat/known_hosts
  CHAT_SEEN_DIR    where the ids of messages shown are kept, so a message delivered again
                   in a later session is shown once (empty: this session only); default
                   $XDG_STATE_HOME/chat/seen or ~/.local/state/chat/seen
  NO_COLOR         (non-empty) no colours
  TZ               the time zone of the times shown

Exit status:
  0 logged out, 1 script failed, 2 login failed (or bad arguments),
  3 connection failed or the server ended the session (shutdown, kick, inactivity).";

/// The terminal client of the chat system.
#[derive(Debug, Parser)]
#[command(name = "chat", version, about, after_help = AFTER_HELP)]
pub struct Args {
    /// PORT, HOST PORT, or HOST:PORT of the server.
    #[arg(value_name = "ADDRESS", num_args = 0..=2)]
    pub address: Vec<String>,

    /// The server as HOST:PORT (or HOST, or PORT), instead of the positional address.
    #[arg(long, value_name = "HOST:PORT")]
    pub server: Option<String>,

    /// Log in as NAME instead of asking for a user name.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// Piped mode: stop at the first `Error.` line or failed `.wait`, exit status 1.
    #[arg(short = 'e', long)]
    pub strict: bool,

    /// The host (name or IP address) peers should connect to for private messaging, instead
    /// of the address the server sees this client come from (behind a known NAT).
    #[arg(long, value_name = "HOST")]
    pub advertise: Option<String>,

    /// Connect over TLS (default port 5001), checking the server's certificate.
    #[arg(long)]
    pub tls: bool,

    /// With --tls: trust only certificates issued by the CA certificate(s) in this PEM file
    /// (no trust on first use).
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca: Option<PathBuf>,

    /// With --tls: trust a server seen for the first time without asking, and pin its
    /// certificate (for scripts). A changed certificate is still refused.
    #[arg(long, requires = "tls", conflicts_with = "ca")]
    pub trust_new: bool,

    /// Piped mode: start incoming lines with their local time, as on a terminal.
    #[arg(long)]
    pub timestamps: bool,

    /// Log in, run COMMAND (repeatable: each in turn), log out. The login comes from --user
    /// and CHAT_PASSWORD, or from stdin.
    #[arg(
        short = 'c',
        long = "command",
        value_name = "COMMAND",
        conflicts_with = "file"
    )]
    pub commands: Vec<String>,

    /// Run the script in FILE (user name, password, commands), as if piped to stdin.
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Print a completion script for SHELL and exit.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    pub completions: Option<clap_complete::Shell>,

    /// Print the man page (roff) and exit.
    #[arg(long, exclusive = true)]
    pub manpage: bool,
}

/// What `--completions SHELL` prints.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut command = <Args as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "chat", &mut script);
    script
}

/// What `--manpage` prints: chat(1) in roff.
pub fn manpage() -> Vec<u8> {
    let command = <Args as clap::CommandFactory>::command();
    let mut page = Vec::new();
    // Rendering into memory cannot fail.
    let _ = clap_mangen::Man::new(command).render(&mut page);
    page
}

/// A host and port to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!(
            "invalid port {s:?}: expected a number from 1 to 65535"
        )),
    }
}

/// Parses one address word: `PORT`, `HOST`, `HOST:PORT` or `[IPV6]:PORT`; a host alone gets
/// `default_port`.
fn parse_one(s: &str, default_port: u16) -> Result<Address, String> {
    if s.is_empty() {
        return Err("empty server address".to_string());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Address {
            host: DEFAULT_HOST.to_string(),
            port: parse_port(s)?,
        });
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("invalid address {s:?}: missing ']'"))?;
        let port = match after {
            "" => default_port,
            _ => parse_port(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("invalid address {s:?}"))?,
            )?,
        };
        return Ok(Address {
            host: host.to_string(),
            port,
        });
    }
    match s.matches(':').count() {
        0 => Ok(Address {
            host: s.to_string(),
            port: default_port,
        }),
        1 => {
            let (host, port) = s.split_once(':').unwrap_or((s, ""));
            if host.is_empty() {
                return Err(format!("invalid address {s:?}: no host before ':'"));
            }
            Ok(Address {
                host: host.to_string(),
                port: parse_port(port)?,
            })
        }
        // A bare IPv6 address.
        _ => Ok(Address {
            host: s.to_string(),
            port: default_port,
        }),
    }
}

impl Args {
    /// The server address the arguments name.
    ///
    /// # Errors
    /// A message for the user when the address is malformed or given twice.
    pub fn address(&self) -> Result<Address, String> {
        let default_port = if self.tls {
            DEFAULT_TLS_PORT
        } else {
            DEFAULT_PORT
        };
        match (self.address.as_slice(), &self.server) {
            ([], None) => Ok(Address {
                host: DEFAULT_HOST.to_string(),
                port: default_port,
            }),
            ([], Some(server)) => parse_one(server, default_port),
            (_, Some(_)) => Err("give the server either as arguments or with --server".into()),
            ([one], None) => parse_one(one, default_port),
            ([host, port], None) => Ok(Address {
                host: host.clone(),
                port: parse_port(port)?,
            }),
            _ => Err("too many arguments: expected PORT, HOST PORT or HOST:PORT".into()),
        }
    }
}

/// Where interactive history is kept: `CHAT_HISTFILE` if set (empty: nowhere), else
/// `$XDG_STATE_HOME/chat/history`, else `~/.local/state/chat/history`. `None` when history is
/// disabled or no home directory is known.
pub fn history_path(
    histfile: Option<String>,
    xdg_state_home: Option<String>,
    home: Option<String>,
) -> Option<PathBuf> {
    if let Some(file) = histfile {
        return (!file.is_empty()).then(|| PathBuf::from(file));
    }
    // The XDG spec says relative paths in these variables are to be ignored.
    let state = xdg_state_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            home.filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".local").join("state"))
        })?;
    Some(state.join("chat").join("history"))
}

/// Where pinned server certificates are kept: `CHAT_KNOWN_HOSTS` if set and not empty, else
/// `$XDG_STATE_HOME/chat/known_hosts`, else `~/.local/state/chat/known_hosts`. `None` when no
/// home directory is known.
pub fn known_hosts_path(
    known_hosts: Option<String>,
    xdg_state_home: Option<String>,
    home: Option<String>,
) -> Option<PathBuf> {
    if let Some(file) = known_hosts.filter(|f| !f.is_empty()) {
        return Some(PathBuf::from(file));
    }
    let history = history_path(None, xdg_state_home, home)?;
    Some(history.with_file_name("known_hosts"))
}

/// The directory of the files of shown message ids (one per server and user, `crate::seen`):
/// `CHAT_SEEN_DIR` if set (empty: none, ids are remembered for the session only), else
/// `$XDG_STATE_HOME/chat/seen`, else `~/.local/state/chat/seen`. `None` when disabled or no
/// home directory is known.
pub fn seen_dir(
    seen_dir: Option<String>,
    xdg_state_home: Option<String>,
    home: Option<String>,
) -> Option<PathBuf> {
    if let Some(dir) = seen_dir {
        return (!dir.is_empty()).then(|| PathBuf::from(dir));
    }
    let history = history_path(None, xdg_state_home, home)?;
    Some(history.with_file_name("seen"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(args: &[&str]) -> Result<String, String> {
        let args = Args::try_parse_from(std::iter::once("chat").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        args.address().map(|a| a.to_string())
    }

    #[test]
    fn address_forms() {
        assert_eq!(addr(&[]).unwrap(), "127.0.0.1:5000");
        assert_eq!(addr(&["6000"]).unwrap(), "127.0.0.1:6000");
        assert_eq!(addr(&["example.org", "6000"]).unwrap(), "example.org:6000");
        assert_eq!(addr(&["example.org:6000"]).unwrap(), "example.org:6000");
        assert_eq!(addr(&["example.org"]).unwrap(), "example.org:5000");
        assert_eq!(addr(&["--server", "10.0.0.1:7"]).unwrap(), "10.0.0.1:7");
        assert_eq!(addr(&["--server", "7000"]).unwrap(), "127.0.0.1:7000");
        assert_eq!(addr(&["[::1]:6000"]).unwrap(), "[::1]:6000");
        assert_eq!(addr(&["::1"]).unwrap(), "[::1]:5000");
        assert!(addr(&["host", "port"]).is_err());
        assert!(addr(&["70000"]).is_err());
        assert!(addr(&["0"]).is_err());
        assert!(addr(&[":5000"]).is_err());
        assert!(addr(&["a", "1", "2"]).is_err());
        assert!(addr(&["6000", "--server", "h:1"]).is_err());
        // --tls changes only the default port.
        assert_eq!(addr(&["--tls"]).unwrap(), "127.0.0.1:5001");
        assert_eq!(addr(&["--tls", "example.org"]).unwrap(), "example.org:5001");
        assert_eq!(addr(&["--tls", "[::1]"]).unwrap(), "[::1]:5001");
        assert_eq!(addr(&["--tls", "example.org:7"]).unwrap(), "example.org:7");
        assert_eq!(addr(&["--tls", "7000"]).unwrap(), "127.0.0.1:7000");
    }

    #[test]
    fn tls_flags_need_tls() {
        assert!(Args::try_parse_from(["chat", "--ca", "ca.pem"]).is_err());
        assert!(Args::try_parse_from(["chat", "--trust-new"]).is_err());
        assert!(Args::try_parse_from(["chat", "--tls", "--ca", "c", "--trust-new"]).is_err());
        let args = Args::try_parse_from(["chat", "--tls", "--ca", "ca.pem"]).unwrap();
        assert_eq!(args.ca, Some(PathBuf::from("ca.pem")));
        assert!(
            Args::try_parse_from(["chat", "--tls", "--trust-new"])
                .unwrap()
                .trust_new
        );
    }

    #[test]
    fn known_hosts_locations() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            known_hosts_path(s("/tmp/k"), s("/x"), s("/home/u")),
            Some(PathBuf::from("/tmp/k"))
        );
        assert_eq!(
            known_hosts_path(s(""), s("/x"), s("/home/u")),
            Some(PathBuf::from("/x/chat/known_hosts"))
        );
        assert_eq!(
            known_hosts_path(None, None, s("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/chat/known_hosts"))
        );
        assert_eq!(known_hosts_path(None, None, None), None);
    }

    #[test]
    fn seen_dir_resolution() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            seen_dir(s("/tmp/s"), s("/x"), s("/home/u")),
            Some(PathBuf::from("/tmp/s"))
        );
        assert_eq!(seen_dir(s(""), s("/x"), s("/home/u")), None);
        assert_eq!(
            seen_dir(None, s("/x"), s("/home/u")),
            Some(PathBuf::from("/x/chat/seen"))
        );
        assert_eq!(
            seen_dir(None, None, s("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/chat/seen"))
        );
        assert_eq!(seen_dir(None, None, None), None);
    }

    #[test]
    fn flags() {
        let args = Args::try_parse_from(["chat", "--user", "hans", "-e", "6000"]).unwrap();
        assert_eq!(args.user.as_deref(), Some("hans"));
        assert!(args.strict);
        let args = Args::try_parse_from(["chat", "--strict"]).unwrap();
        assert!(args.strict);
        assert_eq!(args.advertise, None);
        let args = Args::try_parse_from(["chat", "--advertise", "203.0.113.5"]).unwrap();
        assert_eq!(args.advertise.as_deref(), Some("203.0.113.5"));
        let args = Args::try_parse_from(["chat", "-c", "whoelse", "-c", "logout"]).unwrap();
        assert_eq!(args.commands, ["whoelse", "logout"]);
        assert!(Args::try_parse_from(["chat", "-c", "whoelse", "-f", "x"]).is_err());
        assert!(Args::try_parse_from(["chat", "--manpage", "6000"]).is_err());
    }

    #[test]
    fn completions_and_man_page() {
        let text = String::from_utf8(completions(clap_complete::Shell::Bash)).unwrap();
        assert!(
            text.contains("--timestamps") && text.contains("complete"),
            "{text}"
        );
        let text = String::from_utf8(manpage()).unwrap();
        assert!(
            text.contains(".TH chat") && text.contains("CHAT_PASSWORD"),
            "{text}"
        );
    }

    #[test]
    fn history_locations() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            history_path(s("/tmp/h"), s("/x"), s("/home/u")),
            Some(PathBuf::from("/tmp/h"))
        );
        assert_eq!(history_path(s(""), s("/x"), s("/home/u")), None);
        assert_eq!(
            history_path(None, s("/x"), s("/home/u")),
            Some(PathBuf::from("/x/chat/history"))
        );
        assert_eq!(
            history_path(None, s("relative"), s("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/chat/history"))
        );
        assert_eq!(
            history_path(None, None, s("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/chat/history"))
        );
        assert_eq!(history_path(None, None, None), None);
    }
}
