//! chatd's configuration: the `config.toml` file, the command-line overrides, and their
//! validation into typed values ([`Config`]). Nothing here opens sockets or files other than the
//! config file itself.
//!
//! Every refusal names the key, the value and, for the file, the line:
//! `config.toml:3: timeout = 0: must be at least 1`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys or wrong types.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message, which names the line, column and key.
        message: String,
    },
    /// A value is out of range.
    #[error("{origin}: {key} = {value}: {reason}")]
    Invalid {
        /// `FILE:LINE` or `command line`.
        origin: String,
        /// The key or flag.
        key: String,
        /// The value as given.
        value: String,
        /// What is wrong.
        reason: String,
    },
}

/// Resource limits (`[limits]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Longest accepted frame, newline excluded.
    pub max_line_bytes: usize,
    /// Open client connections at most.
    pub max_connections: usize,
    /// Open client connections from one IP address at most.
    pub max_connections_per_ip: usize,
    /// Time a connection may take to log in.
    pub login_timeout: Duration,
    /// Frames queued for one client before it is dropped as a slow consumer.
    pub send_queue: usize,
    /// Sustained messages per second per user.
    pub message_rate: u32,
    /// Messages a user may send at once above the rate.
    pub message_burst: u32,
    /// Stored offline messages per recipient at most.
    pub max_offline_per_user: u64,
    /// Lines in a row that fail to decode before the connection is closed.
    pub max_bad_lines: u32,
    /// New accounts one client address may register per hour (0: unlimited). Accounts made
    /// with `chatctl user add` do not count.
    pub registrations_per_ip_per_hour: u32,
    /// Whether that limit applies to loopback addresses too. Off by default: a client on the
    /// server's own machine is the operator's (or a script, test or benchmark of theirs), and
    /// network clients never come from loopback (chatd terminates TLS itself).
    pub registration_limit_loopback: bool,
}

impl Limits {
    /// The registrations-per-hour limit for a client at `ip`: 0 (unlimited) for loopback
    /// unless `registration_limit_loopback` is set.
    pub fn registrations_per_hour_for(&self, ip: std::net::IpAddr) -> u32 {
        if ip.is_loopback() && !self.registration_limit_loopback {
            0
        } else {
            self.registrations_per_ip_per_hour
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_bytes: proto::DEFAULT_MAX_LINE,
            max_connections: 10000,
            max_connections_per_ip: 1000,
            login_timeout: Duration::from_secs(30),
            send_queue: 1024,
            message_rate: 50,
            message_burst: 200,
            max_offline_per_user: 10000,
            max_bad_lines: 100,
            registrations_per_ip_per_hour: 10,
            registration_limit_loopback: false,
        }
    }
}

/// The TLS port `chat --tls` looks at by default.
pub const DEFAULT_TLS_PORT: u16 = 5001;

/// The TLS listener (`[tls]`). The certificate and key files are read by `chatd::tls`, at
/// start and on every reload; the lines they were named on are kept for its errors.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsConfig {
    /// PEM file with the certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// PEM file with the private key.
    pub key: PathBuf,
    /// TCP port of the TLS listener; 0 picks a free one.
    pub port: u16,
    /// Address the TLS listener binds.
    pub bind: IpAddr,
    /// Where `cert` was given (`FILE:LINE`), for errors about the file.
    pub cert_origin: String,
    /// Where `key` was given.
    pub key_origin: String,
}

/// The validated configuration chatd runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Address to listen on.
    pub bind: IpAddr,
    /// TCP port; 0 picks a free one.
    pub port: u16,
    /// How long an account stays locked after three wrong passwords.
    pub block_duration: Duration,
    /// Inactivity before automatic logout.
    pub timeout: Duration,
    /// The accounts file.
    pub credentials: PathBuf,
    /// Where the store lives.
    pub data_dir: PathBuf,
    /// The admin Unix socket.
    pub admin_socket: PathBuf,
    /// Whether unknown names may register.
    pub registration: bool,
    /// How long a `startprivate` request waits for an answer.
    pub private_request_timeout: Duration,
    /// Threads running connections; 0 picks one per CPU core but one (which is left to the
    /// store, password hashing and the kernel's network work).
    pub threads: usize,
    /// Resource limits.
    pub limits: Limits,
    /// The TLS listener, if configured.
    pub tls: Option<TlsConfig>,
    /// The file this was read from, if any (for reload).
    pub source: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: IpAddr::from([0, 0, 0, 0]),
            port: 5000,
            block_duration: Duration::from_secs(60),
            timeout: Duration::from_secs(600),
            credentials: PathBuf::from("credentials.txt"),
            data_dir: PathBuf::from("data"),
            admin_socket: PathBuf::from("chatd.sock"),
            registration: true,
            private_request_timeout: Duration::from_secs(60),
            threads: 0,
            limits: Limits::default(),
            tls: None,
            source: None,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    block_duration: Option<Spanned<i64>>,
    timeout: Option<Spanned<i64>>,
    credentials: Option<Spanned<String>>,
    data_dir: Option<Spanned<String>>,
    admin_socket: Option<Spanned<String>>,
    registration: Option<bool>,
    private_request_timeout: Option<Spanned<i64>>,
    threads: Option<Spanned<i64>>,
    limits: Option<FileLimits>,
    tls: Option<FileTls>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    bind: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_line_bytes: Option<Spanned<i64>>,
    max_connections: Option<Spanned<i64>>,
    max_connections_per_ip: Option<Spanned<i64>>,
    login_timeout: Option<Spanned<i64>>,
    send_queue: Option<Spanned<i64>>,
    message_rate: Option<Spanned<i64>>,
    message_burst: Option<Spanned<i64>>,
    max_offline_per_user: Option<Spanned<i64>>,
    max_bad_lines: Option<Spanned<i64>>,
    registrations_per_ip_per_hour: Option<Spanned<i64>>,
    registration_limit_loopback: Option<bool>,
}

/// Overrides from the command line; `None` keeps the file's value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--port` or the first positional argument.
    pub port: Option<i64>,
    /// `--block-duration` or the second positional argument.
    pub block_duration: Option<i64>,
    /// `--timeout` or the third positional argument.
    pub timeout: Option<i64>,
    /// `--bind`.
    pub bind: Option<String>,
    /// `--credentials`.
    pub credentials: Option<PathBuf>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--admin-socket`.
    pub admin_socket: Option<PathBuf>,
}

/// Checks one integer against a range, naming where it came from.
struct Checker<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Checker<'_> {
    fn origin(&self, span: std::ops::Range<usize>) -> String {
        let line = self.text[..span.start.min(self.text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1;
        format!("{}:{line}", self.path.display())
    }

    /// toml's refusal, or, for a key that belongs in another table, a message saying where:
    /// `config.toml:5: limits.timeout = 60: timeout belongs at the top level, ...`.
    fn parse_error(&self, e: &toml::de::Error) -> ConfigError {
        let hint = e
            .span()
            .filter(|_| e.message().starts_with("unknown field"))
            .and_then(|span| {
                let (key, value, reason) =
                    keys::misplaced(self.text, span.clone(), &keys::tables::<FileConfig>())?;
                Some(ConfigError::Invalid {
                    origin: self.origin(span),
                    key,
                    value,
                    reason,
                })
            });
        hint.unwrap_or_else(|| ConfigError::Parse {
            path: self.path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })
    }

    fn int(&self, key: &str, v: &Spanned<i64>, min: i64, max: i64) -> Result<i64, ConfigError> {
        in_range(key, *v.get_ref(), min, max).map_err(|reason| ConfigError::Invalid {
            origin: self.origin(v.span()),
            key: key.to_string(),
            value: v.get_ref().to_string(),
            reason,
        })
    }
}

/// Validates `[tls]`: `cert` and `key` are required, `port` defaults to
/// [`DEFAULT_TLS_PORT`], `bind` to every interface (TLS is what serves the network).
fn tls_table(c: &Checker<'_>, base: &Path, t: &FileTls) -> Result<TlsConfig, ConfigError> {
    // The line of the `[tls]` header, for a key missing from it. (The table is not read as
    // `Spanned`: `config::keys` must see it as a table.)
    let header = c
        .text
        .split_inclusive('\n')
        .scan(0, |pos, line| {
            let start = *pos;
            *pos += line.len();
            Some((start, line))
        })
        .find(|(_, line)| line.trim_start().starts_with("[tls]"))
        .map_or(0, |(start, _)| start);
    let table = c.origin(header..header);
    let path = |key: &str, v: &Option<Spanned<String>>| -> Result<(PathBuf, String), ConfigError> {
        let Some(v) = v else {
            return Err(ConfigError::Invalid {
                origin: table.clone(),
                key: "[tls]".into(),
                value: format!("(no {key})"),
                reason: format!(
                    "{key} is required: the PEM file with the {}",
                    match key {
                        "cert" => "certificate chain",
                        _ => "private key",
                    }
                ),
            });
        };
        if v.get_ref().is_empty() {
            return Err(ConfigError::Invalid {
                origin: c.origin(v.span()),
                key: format!("tls.{key}"),
                value: "\"\"".into(),
                reason: "must not be empty".into(),
            });
        }
        Ok((resolve(base, v.get_ref()), c.origin(v.span())))
    };
    let (cert, cert_origin) = path("cert", &t.cert)?;
    let (key, key_origin) = path("key", &t.key)?;
    let port = match &t.port {
        Some(v) => c.int("tls.port", v, 0, 65535)? as u16,
        None => DEFAULT_TLS_PORT,
    };
    let bind = match &t.bind {
        Some(v) => v.get_ref().parse().map_err(|_| ConfigError::Invalid {
            origin: c.origin(v.span()),
            key: "tls.bind".into(),
            value: format!("{:?}", v.get_ref()),
            reason: "must be an IP address such as 0.0.0.0 or ::".into(),
        })?,
        None => IpAddr::from([0, 0, 0, 0]),
    };
    Ok(TlsConfig {
        cert,
        key,
        port,
        bind,
        cert_origin,
        key_origin,
    })
}

fn in_range(_key: &str, v: i64, min: i64, max: i64) -> Result<i64, String> {
    if v < min {
        Err(format!("must be at least {min}"))
    } else if v > max {
        Err(format!("must be at most {max}"))
    } else {
        Ok(v)
    }
}

const MAX_SECONDS: i64 = 10 * 365 * 24 * 3600;

fn secs(v: i64) -> Duration {
    Duration::from_secs(v as u64)
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    if p.is_absolute() {
        p
    } else {
        base.join(p)
    }
}

impl Config {
    /// Reads and validates `path`. Relative paths inside resolve against the file's folder.
    ///
    /// # Errors
    /// [`ConfigError`] naming the key, value and line.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses config text as if read from `path`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the key, value and line.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let c = Checker { text, path };
        let file: FileConfig = toml::from_str(text).map_err(|e| c.parse_error(&e))?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut cfg = Config {
            source: Some(path.to_path_buf()),
            ..Config::default()
        };
        cfg.credentials = base.join(&cfg.credentials);
        cfg.data_dir = base.join(&cfg.data_dir);
        cfg.admin_socket = base.join(&cfg.admin_socket);
        if let Some(v) = &file.bind {
            cfg.bind = v.get_ref().parse().map_err(|_| ConfigError::Invalid {
                origin: c.origin(v.span()),
                key: "bind".into(),
                value: format!("{:?}", v.get_ref()),
                reason: "must be an IP address such as 0.0.0.0 or 127.0.0.1".into(),
            })?;
        }
        if let Some(v) = &file.port {
            cfg.port = c.int("port", v, 0, 65535)? as u16;
        }
        if let Some(v) = &file.block_duration {
            cfg.block_duration = secs(c.int("block_duration", v, 0, MAX_SECONDS)?);
        }
        if let Some(v) = &file.timeout {
            cfg.timeout = secs(c.int("timeout", v, 1, MAX_SECONDS)?);
        }
        if let Some(v) = &file.threads {
            cfg.threads = c.int("threads", v, 0, 1024)? as usize;
        }
        if let Some(v) = &file.private_request_timeout {
            cfg.private_request_timeout =
                secs(c.int("private_request_timeout", v, 1, MAX_SECONDS)?);
        }
        for (key, v, dst) in [
            ("credentials", &file.credentials, &mut cfg.credentials),
            ("data_dir", &file.data_dir, &mut cfg.data_dir),
            ("admin_socket", &file.admin_socket, &mut cfg.admin_socket),
        ] {
            if let Some(v) = v {
                if v.get_ref().is_empty() {
                    return Err(ConfigError::Invalid {
                        origin: c.origin(v.span()),
                        key: key.into(),
                        value: "\"\"".into(),
                        reason: "must not be empty".into(),
                    });
                }
                *dst = resolve(base, v.get_ref());
            }
        }
        if let Some(r) = file.registration {
            cfg.registration = r;
        }
        if let Some(l) = &file.limits {
            let lim = &mut cfg.limits;
            if let Some(v) = &l.max_line_bytes {
                lim.max_line_bytes = c.int("limits.max_line_bytes", v, 256, 16 << 20)? as usize;
            }
            if let Some(v) = &l.max_connections {
                lim.max_connections = c.int("limits.max_connections", v, 1, 1_000_000)? as usize;
            }
            if let Some(v) = &l.max_connections_per_ip {
                lim.max_connections_per_ip =
                    c.int("limits.max_connections_per_ip", v, 1, 1_000_000)? as usize;
            }
            if let Some(v) = &l.login_timeout {
                lim.login_timeout = secs(c.int("limits.login_timeout", v, 1, MAX_SECONDS)?);
            }
            if let Some(v) = &l.send_queue {
                lim.send_queue = c.int("limits.send_queue", v, 1, 1_000_000)? as usize;
            }
            if let Some(v) = &l.message_rate {
                lim.message_rate = c.int("limits.message_rate", v, 1, 1_000_000)? as u32;
            }
            if let Some(v) = &l.message_burst {
                lim.message_burst = c.int("limits.message_burst", v, 1, 1_000_000)? as u32;
            }
            if let Some(v) = &l.max_offline_per_user {
                lim.max_offline_per_user =
                    c.int("limits.max_offline_per_user", v, 1, 100_000_000)? as u64;
            }
            if let Some(v) = &l.max_bad_lines {
                lim.max_bad_lines = c.int("limits.max_bad_lines", v, 1, 1_000_000)? as u32;
            }
            if let Some(v) = &l.registrations_per_ip_per_hour {
                lim.registrations_per_ip_per_hour =
                    c.int("limits.registrations_per_ip_per_hour", v, 0, 1_000_000)? as u32;
            }
            if let Some(v) = l.registration_limit_loopback {
                lim.registration_limit_loopback = v;
            }
        }
        if let Some(t) = &file.tls {
            cfg.tls = Some(tls_table(&c, base, t)?);
        }
        Ok(cfg)
    }

    /// Applies command-line overrides on top of this config.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the flag and value.
    pub fn apply(&mut self, o: &Overrides) -> Result<(), ConfigError> {
        let flag = |key: &str, v: i64, min: i64, max: i64| {
            in_range(key, v, min, max).map_err(|reason| ConfigError::Invalid {
                origin: "command line".into(),
                key: key.into(),
                value: v.to_string(),
                reason,
            })
        };
        if let Some(v) = o.port {
            self.port = flag("--port", v, 0, 65535)? as u16;
        }
        if let Some(v) = o.block_duration {
            self.block_duration = secs(flag("--block-duration", v, 0, MAX_SECONDS)?);
        }
        if let Some(v) = o.timeout {
            self.timeout = secs(flag("--timeout", v, 1, MAX_SECONDS)?);
        }
        if let Some(b) = &o.bind {
            self.bind = b.parse().map_err(|_| ConfigError::Invalid {
                origin: "command line".into(),
                key: "--bind".into(),
                value: b.clone(),
                reason: "must be an IP address such as 0.0.0.0 or 127.0.0.1".into(),
            })?;
        }
        if let Some(p) = &o.credentials {
            self.credentials = p.clone();
        }
        if let Some(p) = &o.data_dir {
            self.data_dir = p.clone();
        }
        if let Some(p) = &o.admin_socket {
            self.admin_socket = p.clone();
        }
        Ok(())
    }
}

mod keys;
#[cfg(test)]
mod tests;
