//! Certificates for TLS tests, made with rcgen into PEM files: a self-signed server
//! certificate ([`self_signed`]), a CA and certificates it issues ([`Ca`]), and the `[tls]`
//! table of a test chatd's config ([`tls_table`]). It starts nothing: see [`crate::server`].

use std::path::{Path, PathBuf};

/// A certificate and its key, written as PEM files.
#[derive(Debug, Clone)]
pub struct Pem {
    /// The certificate file (the chain, the server's own certificate first).
    pub cert: PathBuf,
    /// The key file.
    pub key: PathBuf,
    /// The SHA-256 fingerprint of the server's own certificate (lowercase hex).
    pub fingerprint: String,
}

/// Writes `dir/NAME.pem` and `dir/NAME.key`: a self-signed certificate for `hosts`.
pub fn self_signed(dir: &Path, name: &str, hosts: &[&str]) -> Pem {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params(hosts).self_signed(&key).expect("self-signed");
    write(dir, name, &cert.pem(), &key.serialize_pem(), cert.der())
}

fn params(hosts: &[&str]) -> rcgen::CertificateParams {
    let names: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    let mut p = rcgen::CertificateParams::new(names).expect("names");
    p.distinguished_name.push(
        rcgen::DnType::CommonName,
        hosts.first().copied().unwrap_or("test"),
    );
    p
}

fn write(dir: &Path, name: &str, cert: &str, key: &str, der: &[u8]) -> Pem {
    let pem = Pem {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
        fingerprint: proto::tls::fingerprint(der),
    };
    std::fs::write(&pem.cert, cert).expect("write the certificate");
    std::fs::write(&pem.key, key).expect("write the key");
    pem
}

/// A certificate authority for tests.
pub struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
    /// Its certificate, as a PEM file (what `chat --ca` takes).
    pub path: PathBuf,
}

impl Ca {
    /// A new CA, its certificate written to `dir/NAME.pem`.
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = p.self_signed(&key).expect("CA");
        let path = dir.join(format!("{name}.pem"));
        std::fs::write(&path, cert.pem()).expect("write the CA");
        Ca { cert, key, path }
    }

    /// A certificate for `hosts` issued by this CA, written as `dir/NAME.pem` (the full
    /// chain: the certificate, then the CA's) and `dir/NAME.key`.
    pub fn issue(&self, dir: &Path, name: &str, hosts: &[&str]) -> Pem {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params(hosts)
            .signed_by(&key, &self.cert, &self.key)
            .expect("issue");
        let chain = format!("{}{}", cert.pem(), self.cert.pem());
        write(dir, name, &chain, &key.serialize_pem(), cert.der())
    }
}

/// The `[tls]` table of a test chatd: `pem`'s files, on 127.0.0.1, port 0.
pub fn tls_table(pem: &Pem) -> String {
    format!(
        "[tls]\ncert = {:?}\nkey = {:?}\nport = 0\nbind = \"127.0.0.1\"\n",
        pem.cert.display().to_string(),
        pem.key.display().to_string()
    )
}
