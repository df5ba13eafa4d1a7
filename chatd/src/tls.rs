//! The server's certificate: loading `[tls]`'s PEM files into a rustls configuration (at start
//! and on every reload, errors worded like the config file's), the configuration in force
//! ([`Certificate`], swapped whole so that new handshakes use the new one while open sessions
//! keep theirs), and `chatd gen-cert` ([`gen_cert`]).
//!
//! The bytes of a TLS connection are the transport's (`transport::TlsSocket`); the listener
//! is the server's. This module only decides which certificate is shown.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;

use crate::config::{ConfigError, TlsConfig};

/// The server's TLS configuration in force, replaced whole on reload.
pub(crate) struct Certificate {
    current: RwLock<Loaded>,
}

/// A loaded configuration and the fingerprint of its certificate.
#[derive(Clone)]
pub(crate) struct Loaded {
    /// What each new handshake uses.
    pub config: Arc<ServerConfig>,
    /// SHA-256 of the server's own certificate (the first of the chain).
    pub fingerprint: String,
}

impl Certificate {
    pub(crate) fn new(loaded: Loaded) -> Certificate {
        Certificate {
            current: RwLock::new(loaded),
        }
    }

    /// The configuration for a new connection.
    pub(crate) fn config(&self) -> Arc<ServerConfig> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .config,
        )
    }

    /// The fingerprint of the certificate in force.
    pub(crate) fn fingerprint(&self) -> String {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .fingerprint
            .clone()
    }

    /// Puts `loaded` in force for every later handshake.
    pub(crate) fn replace(&self, loaded: Loaded) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = loaded;
    }
}

fn invalid(origin: &str, key: &str, path: &Path, reason: String) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.to_string(),
        key: key.to_string(),
        value: format!("{:?}", path.display().to_string()),
        reason,
    }
}

/// Reads the certificate chain and key `tls` names and builds the server configuration.
///
/// # Errors
/// [`ConfigError::Invalid`] naming the key (`tls.cert`, `tls.key`), the file and the line it
/// was given on: unreadable, not PEM, no certificate or key in it, a key that does not belong
/// to the certificate.
pub(crate) fn load(tls: &TlsConfig) -> Result<Loaded, ConfigError> {
    let certs = proto::tls::load_certs(&tls.cert)
        .map_err(|e| invalid(&tls.cert_origin, "tls.cert", &tls.cert, e.to_string()))?;
    let key = proto::tls::load_key(&tls.key)
        .map_err(|e| invalid(&tls.key_origin, "tls.key", &tls.key, e.to_string()))?;
    let fingerprint = proto::tls::fingerprint(&certs[0]);
    let config = ServerConfig::builder_with_provider(proto::tls::provider())
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| {
            let reason = match e {
                rustls::Error::InconsistentKeys(_) => {
                    format!(
                        "does not belong to the certificate in {}",
                        tls.cert.display()
                    )
                }
                other => format!("cannot be used with the certificate: {other}"),
            };
            invalid(&tls.key_origin, "tls.key", &tls.key, reason)
        })?;
    Ok(Loaded {
        config: Arc::new(config),
        fingerprint,
    })
}

/// Why `chatd gen-cert` failed.
#[derive(Debug, thiserror::Error)]
pub enum GenCertError {
    /// No host name given.
    #[error("give at least one --host NAME (a DNS name or an IP address clients connect to)")]
    NoHost,
    /// A file is in the way.
    #[error("{0} exists; remove it or pass --force to replace it")]
    Exists(PathBuf),
    /// Generating failed (a name rcgen refuses).
    #[error("cannot make the certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// Writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What `chatd gen-cert` wrote.
#[derive(Debug)]
pub struct GeneratedCert {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// The private key (PEM, mode 0600).
    pub key: PathBuf,
    /// The certificate's SHA-256 fingerprint (what `chat` shows on first use).
    pub fingerprint: String,
}

/// Years a generated certificate is valid.
const VALID_YEARS: i32 = 10;

/// Writes a self-signed certificate for `hosts` (DNS names or IP addresses) to `dir/cert.pem`
/// and its key to `dir/key.pem` (mode 0600), refusing to replace existing files unless
/// `force`.
///
/// # Errors
/// [`GenCertError`].
pub fn gen_cert(hosts: &[String], dir: &Path, force: bool) -> Result<GeneratedCert, GenCertError> {
    if hosts.is_empty() {
        return Err(GenCertError::NoHost);
    }
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if !force {
        for p in [&cert_path, &key_path] {
            if p.exists() {
                return Err(GenCertError::Exists(p.clone()));
            }
        }
    }
    let mut params = rcgen::CertificateParams::new(hosts.to_vec())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hosts[0].clone());
    let year = 1970 + (unix_now() / 31_556_952) as i32;
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + VALID_YEARS, 1, 1);
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    write_file(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_file(&cert_path, cert.pem().as_bytes(), 0o644)?;
    Ok(GeneratedCert {
        cert: cert_path,
        key: key_path,
        fingerprint: proto::tls::fingerprint(cert.der()),
    })
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes `bytes` to `path` with `mode` from the start (a key is never readable by others,
/// not even for a moment), replacing what was there.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), GenCertError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |source| GenCertError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    // An existing file keeps its old mode through open(2): set it.
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls_config(dir: &Path) -> TlsConfig {
        TlsConfig {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            port: 0,
            bind: std::net::IpAddr::from([127, 0, 0, 1]),
            cert_origin: "config.toml:8".into(),
            key_origin: "config.toml:9".into(),
        }
    }

    #[test]
    fn a_generated_certificate_loads_and_its_key_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let hosts = vec!["chat.example.org".to_string(), "127.0.0.1".to_string()];
        let made = gen_cert(&hosts, dir.path(), false).unwrap();
        let mode = std::fs::metadata(&made.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = load(&tls_config(dir.path())).unwrap();
        assert_eq!(loaded.fingerprint, made.fingerprint);
        let e = gen_cert(&hosts, dir.path(), false).unwrap_err();
        assert!(matches!(e, GenCertError::Exists(_)), "{e}");
        let again = gen_cert(&hosts, dir.path(), true).unwrap();
        assert_ne!(again.fingerprint, made.fingerprint);
        assert!(matches!(
            gen_cert(&[], dir.path(), true),
            Err(GenCertError::NoHost)
        ));
    }

    #[test]
    fn bad_files_are_named_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = tls_config(dir.path());
        let e = load(&cfg).err().unwrap().to_string();
        assert!(e.starts_with("config.toml:8: tls.cert = \""), "{e}");
        assert!(e.contains("cert.pem"), "{e}");
        gen_cert(&["localhost".to_string()], dir.path(), false).unwrap();
        std::fs::write(&cfg.key, "not a key\n").unwrap();
        let e = load(&cfg).err().unwrap().to_string();
        assert!(
            e.starts_with("config.toml:9: tls.key = ") && e.contains("no private key"),
            "{e}"
        );
        // A key that belongs to another certificate.
        let other = tempfile::tempdir().unwrap();
        gen_cert(&["localhost".to_string()], other.path(), false).unwrap();
        std::fs::copy(other.path().join("key.pem"), &cfg.key).unwrap();
        let e = load(&cfg).err().unwrap().to_string();
        assert!(e.contains("does not belong to the certificate"), "{e}");
    }
}
