//! The real `chatd` binary and `[tls]`: a certificate or key that cannot be used is refused at
//! start like any config error (exit 2, file and line); serving a network without TLS is
//! warned about, loopback or TLS is not; SIGHUP reloads the certificate as `chatctl reload`
//! does; a connection refused over TLS still gets its reason.

mod common;

use std::sync::Arc;

use common::*;
use proto::client::{Client as ProtoClient, Security};
use testkit::certs;

fn dir_with_config(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    write_credentials(dir.path());
    dir
}

#[test]
fn unusable_certificates_are_config_errors_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::self_signed(dir.path(), "server", &["127.0.0.1"]);
    let other = certs::self_signed(dir.path(), "other", &["127.0.0.1"]);
    let base = "port = 0\nbind = \"127.0.0.1\"\nadmin_socket = \"chatd.sock\"\n";
    let cases = [
        (
            format!("[tls]\ncert = \"missing.pem\"\nkey = {:?}\n", pem.key),
            "config.toml:5: tls.cert = ",
            "No such file",
        ),
        (
            format!("[tls]\ncert = {:?}\nkey = {:?}\n", pem.key, pem.key),
            "config.toml:5: tls.cert = ",
            "no certificate",
        ),
        (
            format!("[tls]\ncert = {:?}\nkey = {:?}\n", pem.cert, pem.cert),
            "config.toml:6: tls.key = ",
            "no private key",
        ),
        (
            format!("[tls]\ncert = {:?}\nkey = {:?}\n", pem.cert, other.key),
            "config.toml:6: tls.key = ",
            "does not belong to the certificate",
        ),
        (
            format!("[tls]\ncert = {:?}\n", pem.cert),
            "config.toml:4: [tls]",
            "key is required",
        ),
    ];
    for (table, origin, reason) in cases {
        std::fs::write(dir.path().join("config.toml"), format!("{base}{table}")).unwrap();
        write_credentials(dir.path());
        let (code, err) = run_chatd(dir.path(), &[]);
        assert_eq!(code, Some(2), "{table}: {err}");
        assert!(
            err.contains(origin) && err.contains(reason),
            "{table}: {err}"
        );
        // Refused before anything was left behind.
        assert!(!dir.path().join("chatd.sock").exists());
    }
}

#[test]
fn serving_a_network_without_tls_is_warned_about() {
    let warning = "without TLS";
    // Loopback: no warning.
    let dir = dir_with_config("port = 0\nbind = \"127.0.0.1\"\n");
    let mut chatd = ChatdProcess::spawn(dir.path(), &[]);
    chatd.stop();
    assert!(
        !chatd.log.iter().any(|l| l.contains(warning)),
        "{:#?}",
        chatd.log
    );
    // Every interface, no TLS: warned, once, before it listens. (Nothing connects to it.)
    let dir = dir_with_config("port = 0\nbind = \"0.0.0.0\"\n");
    let mut chatd = ChatdProcess::spawn(dir.path(), &[]);
    chatd.stop();
    let warned: Vec<_> = chatd.log.iter().filter(|l| l.contains(warning)).collect();
    assert_eq!(warned.len(), 1, "{:#?}", chatd.log);
    assert!(
        warned[0].contains("WARN") && warned[0].contains("[tls]"),
        "{warned:?}"
    );
    // With TLS configured, the plain listener is the operator's choice.
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::self_signed(dir.path(), "server", &["127.0.0.1"]);
    let config = format!("port = 0\nbind = \"0.0.0.0\"\n{}", certs::tls_table(&pem));
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    write_credentials(dir.path());
    let mut chatd = ChatdProcess::spawn(dir.path(), &[]);
    chatd.tls_addr();
    chatd.stop();
    assert!(
        !chatd.log.iter().any(|l| l.contains(warning)),
        "{:#?}",
        chatd.log
    );
}

/// A protocol client over TLS that trusts exactly the certificates `roots`.
fn tls_login(
    port: u16,
    roots: &[proto::tls::rustls::pki_types::CertificateDer<'static>],
    user: &str,
) -> Result<ProtoClient, String> {
    let security = Security::Tls {
        config: Arc::new(proto::tls::client_config_with_roots(roots).unwrap()),
        name: proto::tls::server_name("127.0.0.1").unwrap(),
    };
    let mut c = ProtoClient::connect_with(("127.0.0.1", port), DEADLINE, &security)
        .map_err(|e| e.to_string())?;
    c.login(user, password(user)).map_err(|e| e.to_string())?;
    Ok(c)
}

#[test]
fn sighup_reloads_the_certificate_without_dropping_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let first = certs::self_signed(dir.path(), "server", &["127.0.0.1"]);
    let mut chatd = ChatdProcess::start(&certs::tls_table(&first));
    let port = chatd.tls_port();
    let old = proto::tls::load_certs(&first.cert).unwrap();
    let mut hans = tls_login(port, &old, "hans").unwrap();
    let second = certs::self_signed(dir.path(), "second", &["127.0.0.1"]);
    std::fs::copy(&second.cert, &first.cert).unwrap();
    std::fs::copy(&second.key, &first.key).unwrap();
    chatd.signal(libc::SIGHUP);
    chatd.wait_log(&format!(
        "TLS certificate replaced (SHA-256 {})",
        second.fingerprint
    ));
    let e = tls_login(port, &old, "yoda").expect_err("the old certificate is gone");
    assert!(e.contains("TLS handshake failed"), "{e}");
    let new = proto::tls::load_certs(&second.cert).unwrap();
    let mut yoda = tls_login(port, &new, "yoda").unwrap();
    // hans's session, on the first certificate, carries on.
    let r = hans
        .request(proto::Request::Message {
            to: "yoda".into(),
            text: "still here".into(),
        })
        .unwrap();
    assert_eq!(r, proto::Response::Sent { stored: false });
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        if let proto::Event::Message { from, text, .. } = yoda.next_event_by(deadline).unwrap() {
            assert_eq!((from.as_str(), text.as_str()), ("hans", "still here"));
            break;
        }
    }
    chatd.stop();
}

#[test]
fn a_refused_tls_connection_is_told_why() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::self_signed(dir.path(), "server", &["127.0.0.1"]);
    let config = format!(
        "[limits]\nmax_connections_per_ip = 1\n{}",
        certs::tls_table(&pem)
    );
    let mut chatd = ChatdProcess::start(&config);
    let port = chatd.tls_port();
    let roots = proto::tls::load_certs(&pem.cert).unwrap();
    let _hans = tls_login(port, &roots, "hans").unwrap();
    // The refusal completes the handshake first, so the reason arrives, encrypted.
    let e = tls_login(port, &roots, "yoda").expect_err("one connection per address");
    assert!(e.contains("Too many connections from your address"), "{e}");
    chatd.stop();
}
