//! Whom `chat --tls` trusts, and the private listener's own certificate.
//!
//! The server: a certificate the system's roots vouch for (or, with `--ca FILE`, only those
//! certificates) is accepted as it is. Without `--ca`, one they do not vouch for (self-signed,
//! from `chatd gen-cert`) is trusted on first use, like ssh: the handshake completes (its
//! signatures checked, so the server holds the certificate's key), nothing is sent, and
//! [`check`] compares the certificate's SHA-256 fingerprint with the pin for `HOST:PORT` in
//! the known-hosts file ([`KnownHosts`]): the same, go on; none yet, ask the user (or, with
//! `--trust-new`, accept) and pin it; another one, refuse, naming the file and the line to
//! remove.
//!
//! Private links: [`private_identity`] makes the key and certificate the private listener
//! serves (in memory, new at every start); the requester pins the fingerprint the server hands
//! over (`proto::tls::pinned_client_config`).
//!
//! The bytes of TLS are `proto::tls`'s; the sockets are [`crate::conn`]'s and [`crate::p2p`]'s.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use proto::client::Security;
use proto::tls::{display_fingerprint, rustls, Signatures};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::cli::Address;
use crate::diag::report;
use crate::p2p::PeerTls;

/// How `chat --tls` decides about the server's certificate.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// `--ca FILE`: trust only what these certificates issued; no trust on first use.
    pub ca: Option<PathBuf>,
    /// `--trust-new`: pin a server seen for the first time without asking.
    pub trust_new: bool,
    /// The known-hosts file (`None`: no home directory; pins cannot be kept).
    pub known_hosts: Option<PathBuf>,
    /// Whether the user can be asked (stdin is a terminal).
    pub can_ask: bool,
}

/// Why the server is not trusted. Shown on stderr; `chat` exits with status 3.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// `--ca FILE` is unusable.
    #[error("cannot use --ca {path}: {reason}")]
    Ca {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The host is not usable as a TLS name.
    #[error("{0}")]
    Name(std::io::Error),
    /// A new certificate, and nobody to ask.
    #[error(
        "the certificate of {addr} is not vouched for by a known authority ({reason}) and this \
         server has not been seen before.\nSHA-256 fingerprint: {fingerprint}\nIf that is the \
         server's certificate, run again with --trust-new to trust it and remember it (or give \
         its CA with --ca FILE)."
    )]
    NewHost {
        /// `HOST:PORT`.
        addr: String,
        /// What the roots said.
        reason: String,
        /// Displayed fingerprint.
        fingerprint: String,
    },
    /// The user said no.
    #[error("the certificate of {addr} was not trusted; nothing was sent")]
    Declined {
        /// `HOST:PORT`.
        addr: String,
    },
    /// The certificate differs from the pin.
    #[error(
        "the certificate of {addr} has changed: it is not the one pinned on line {line} of \
         {file}.\npinned:  {pinned}\nnow:     {now}\nSomeone may be intercepting the connection. \
         If the server's certificate was replaced on purpose, remove line {line} of {file} and \
         connect again to pin the new one."
    )]
    Changed {
        /// `HOST:PORT`.
        addr: String,
        /// The known-hosts file.
        file: String,
        /// The line of the pin (1-based).
        line: usize,
        /// Pinned fingerprint, displayed.
        pinned: String,
        /// Presented fingerprint, displayed.
        now: String,
    },
    /// The pin could not be written.
    #[error("cannot remember the certificate of {addr} in {file}: {source}")]
    Save {
        /// `HOST:PORT`.
        addr: String,
        /// The known-hosts file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
}

/// What the verifier concluded about the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// The roots vouch for it.
    Verified,
    /// They do not, for this reason: pins decide.
    Unverified(String),
}

/// A TLS setup for one connection attempt: what [`proto::client::connect_with`] needs, and
/// what its verifier concluded, for [`check`].
pub struct Prepared {
    /// The security to connect with.
    pub security: Security,
    verdict: Arc<Mutex<Option<Verdict>>>,
}

/// Builds the client configuration for `addr`.
///
/// # Errors
/// `--ca FILE` is unreadable or holds no usable certificate; the host is not a valid name.
pub fn prepare(addr: &Address, opts: &TlsOptions) -> Result<Prepared, TrustError> {
    let provider = proto::tls::provider();
    let mut roots = rustls::RootCertStore::empty();
    match &opts.ca {
        Some(path) => {
            let ca_error = |reason: String| TrustError::Ca {
                path: path.clone(),
                reason,
            };
            for cert in proto::tls::load_certs(path).map_err(|e| ca_error(e.to_string()))? {
                roots
                    .add(cert)
                    .map_err(|e| ca_error(format!("not a usable CA certificate: {e}")))?;
            }
        }
        None => {
            // Unreadable system stores are passed over: trust on first use still works.
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    // No roots at all (a bare container): nothing is vouched for, pins decide.
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .ok();
    let verdict = Arc::new(Mutex::new(None));
    let verifier = Verifier {
        webpki,
        strict: opts.ca.is_some(),
        verdict: Arc::clone(&verdict),
        signatures: Signatures::with(provider.clone()),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TrustError::Name(std::io::Error::other(e)))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let name = proto::tls::server_name(&addr.host).map_err(TrustError::Name)?;
    Ok(Prepared {
        security: Security::Tls {
            config: Arc::new(config),
            name,
        },
        verdict,
    })
}

/// After the handshake: decides whether the server whose certificate has `fingerprint` is
/// trusted (see the module's documentation), asking the user or pinning as needed.
///
/// # Errors
/// [`TrustError`]: a changed certificate, a new one nobody accepted, a pin that could not be
/// saved.
pub fn check(
    addr: &Address,
    opts: &TlsOptions,
    prepared: &Prepared,
    fingerprint: &str,
) -> Result<(), TrustError> {
    let verdict = prepared
        .verdict
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let reason = match verdict {
        Some(Verdict::Verified) => return Ok(()),
        Some(Verdict::Unverified(reason)) => reason,
        // The verifier always runs in a completed handshake; be safe anyway.
        None => "the certificate was not checked".to_string(),
    };
    let key = addr.to_string();
    let known = opts
        .known_hosts
        .as_deref()
        .map(KnownHosts::load)
        .unwrap_or_default();
    match known.find(&key) {
        Some((_, pinned)) if pinned == fingerprint => return Ok(()),
        Some((line, pinned)) => {
            return Err(TrustError::Changed {
                addr: key,
                file: known.path_display(),
                line,
                pinned: display_fingerprint(&pinned),
                now: display_fingerprint(fingerprint),
            })
        }
        None => {}
    }
    let shown = display_fingerprint(fingerprint);
    if opts.trust_new {
        report!("trusting {key} on first use (SHA-256 {shown})");
    } else if opts.can_ask {
        if !ask(&key, &reason, &shown) {
            return Err(TrustError::Declined { addr: key });
        }
    } else {
        return Err(TrustError::NewHost {
            addr: key,
            reason,
            fingerprint: shown,
        });
    }
    match &opts.known_hosts {
        Some(path) => {
            KnownHosts::append(path, &key, fingerprint).map_err(|source| TrustError::Save {
                addr: key.clone(),
                file: path.display().to_string(),
                source,
            })?;
            report!("pinned the certificate of {key} in {}", path.display());
        }
        None => report!(
            "no home directory to keep the pin of {key} in (set CHAT_KNOWN_HOSTS); \
             trusted for this session only"
        ),
    }
    Ok(())
}

/// Asks on the terminal (stderr, stdin); anything but `yes`/`y` or `no`/`n` asks again, the
/// end of input is a no.
fn ask(addr: &str, reason: &str, fingerprint: &str) -> bool {
    eprintln!(
        "The certificate of {addr} is not vouched for by a known authority ({}).",
        crate::render::sanitize(reason)
    );
    eprintln!("SHA-256 fingerprint: {fingerprint}");
    let stdin = std::io::stdin();
    loop {
        eprint!("Trust it and remember it for {addr}? (yes/no) ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "yes" | "y" => return true,
            "no" | "n" => return false,
            _ => eprintln!("Please answer yes or no."),
        }
    }
}

/// The known-hosts file: one pinned server per line, `HOST:PORT FINGERPRINT` (SHA-256, 64
/// hex digits); `#` comments and blank lines are kept and skipped, as are lines that do not
/// parse.
#[derive(Debug, Default)]
pub struct KnownHosts {
    path: Option<PathBuf>,
    /// (line number, key, fingerprint).
    entries: Vec<(usize, String, String)>,
}

impl KnownHosts {
    /// Reads `path`; a missing or unreadable file has no pins.
    pub fn load(path: &Path) -> KnownHosts {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let entries = text
            .lines()
            .enumerate()
            .filter_map(|(i, line)| {
                let line = line.trim();
                if line.starts_with('#') {
                    return None;
                }
                let mut words = line.split_whitespace();
                let (key, fp) = (words.next()?, words.next()?);
                proto::tls::is_fingerprint(fp)
                    .then(|| (i + 1, key.to_string(), fp.to_ascii_lowercase()))
            })
            .collect();
        KnownHosts {
            path: Some(path.to_path_buf()),
            entries,
        }
    }

    /// The pin for `key`: its line and fingerprint (the first one, if several).
    pub fn find(&self, key: &str) -> Option<(usize, String)> {
        self.entries
            .iter()
            .find(|(_, k, _)| k == key)
            .map(|(line, _, fp)| (*line, fp.clone()))
    }

    fn path_display(&self) -> String {
        self.path
            .as_deref()
            .map_or_else(String::new, |p| p.display().to_string())
    }

    /// Appends a pin, creating the file (mode 0600) and its directory (0700) if needed.
    ///
    /// # Errors
    /// The directory or file cannot be created or written.
    pub fn append(path: &Path, key: &str, fingerprint: &str) -> std::io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)?;
            }
        }
        let new = !path.exists();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)?;
        let mut text = String::new();
        if new {
            text.push_str(
                "# chat: pinned TLS certificates, one server per line: HOST:PORT SHA-256\n\
                 # Remove a server's line to accept a new certificate for it.\n",
            );
        }
        text.push_str(&format!("{key} {fingerprint}\n"));
        f.write_all(text.as_bytes())?;
        f.sync_all()
    }
}

/// Checks the server's certificate against the roots and records the verdict instead of
/// failing the handshake (unless `strict`: `--ca`). Signatures are always checked.
#[derive(Debug)]
struct Verifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    strict: bool,
    verdict: Arc<Mutex<Option<Verdict>>>,
    signatures: Signatures,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = match &self.webpki {
            Some(v) => v
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(|_| ()),
            None => Err(rustls::Error::General(
                "no trusted root certificates on this system".into(),
            )),
        };
        let verdict = match result {
            Ok(()) => Verdict::Verified,
            Err(e) if self.strict => return Err(e),
            Err(e) => Verdict::Unverified(e.to_string()),
        };
        *self.verdict.lock().unwrap_or_else(|e| e.into_inner()) = Some(verdict);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.schemes()
    }
}

/// A fresh key and self-signed certificate for the private listener, and its fingerprint.
///
/// # Errors
/// Generating the key failed (the text says why).
pub fn private_identity() -> Result<PeerTls, String> {
    let made = rcgen::generate_simple_self_signed(vec!["chat-peer".to_string()])
        .map_err(|e| e.to_string())?;
    let cert = made.cert.der().clone();
    let key = PrivateKeyDer::try_from(made.key_pair.serialize_der())
        .map_err(|e| format!("unusable key: {e}"))?;
    let fingerprint = proto::tls::fingerprint(&cert);
    let config = rustls::ServerConfig::builder_with_provider(proto::tls::provider())
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(vec![cert], key))
        .map_err(|e| e.to_string())?;
    Ok(PeerTls {
        config: Arc::new(config),
        fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_found_by_host_and_port_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/chat/known_hosts");
        let a = "ab".repeat(32);
        let b = "CD".repeat(32);
        KnownHosts::append(&path, "127.0.0.1:5001", &a).unwrap();
        KnownHosts::append(&path, "[::1]:5001", &b).unwrap();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("garbage line\nexample.org:5001 not-a-fingerprint\n");
        std::fs::write(&path, text).unwrap();
        let known = KnownHosts::load(&path);
        // Two comment lines come first.
        assert_eq!(known.find("127.0.0.1:5001"), Some((3, a)));
        assert_eq!(known.find("[::1]:5001"), Some((4, b.to_ascii_lowercase())));
        assert_eq!(known.find("127.0.0.1:5000"), None);
        assert_eq!(known.find("example.org:5001"), None);
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert!(KnownHosts::load(&dir.path().join("missing"))
            .find("127.0.0.1:5001")
            .is_none());
    }

    #[test]
    fn a_private_identity_is_fresh_each_time() {
        let a = private_identity().unwrap();
        let b = private_identity().unwrap();
        assert!(proto::tls::is_fingerprint(&a.fingerprint));
        assert_ne!(a.fingerprint, b.fingerprint);
    }
}
