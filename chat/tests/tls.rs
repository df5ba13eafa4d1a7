//! TLS end to end, with the real binaries on 127.0.0.1: a TLS client and a plain client in one
//! conversation; `chat --tls --ca FILE` against a CA-issued full chain (and a CA that did not
//! issue it refused); trust on first use with `--trust-new`, refused without it, and a changed
//! certificate refused with the known-hosts line to remove; a certificate replaced on disk and
//! picked up by `chatctl reload` while a TLS session stays up; `chatd gen-cert` output used as
//! is; private sessions over TLS, and a peer whose certificate is not the announced one
//! refused; the wrong kind of port on either side named.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use common::{password, ChatdProcess, Piped, DEADLINE};
use proto::client::{Client, Security};
use proto::tls::Stream;
use proto::{Event, Request, Response};
use testkit::certs::{self, Ca, Pem};

const WELCOME: &str = "Welcome to the greatest messaging application ever!";

/// A chatd serving TLS with `pem` (and plain TCP), both on 127.0.0.1.
fn tls_server(pem: &Pem) -> ChatdProcess {
    ChatdProcess::start(&certs::tls_table(pem))
}

/// `chat --tls` for `user` on `port` with `args`, its known-hosts file at `known_hosts`.
fn tls_client(user: &str, port: u16, args: &[&str], known_hosts: &Path) -> Piped {
    let mut all = vec!["--tls"];
    all.extend_from_slice(args);
    let kh = known_hosts.display().to_string();
    Piped::start(user, port, &all, &[("CHAT_KNOWN_HOSTS", kh.as_str())])
}

/// Logs `p` in as the sample user it is named after.
fn log_in(p: &mut Piped) {
    let user = p.name.clone();
    p.send(&user);
    p.send(password(&user));
    p.expect(WELCOME);
}

/// Runs `chat` with `script` to its end; returns (exit code, stdout, stderr).
fn run(port: u16, args: &[&str], known_hosts: &Path, script: &str) -> (i32, Vec<String>, String) {
    let mut p = tls_client("script", port, args, known_hosts);
    p.send_raw(script.as_bytes());
    p.close_stdin();
    let code = p.finish();
    (code, p.lines.clone(), p.stderr())
}

fn login_script(user: &str) -> String {
    format!("{user}\n{}\nwhoelse\n", password(user))
}

#[test]
fn a_tls_client_and_a_plain_client_talk() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::self_signed(dir.path(), "server", &["127.0.0.1"]);
    let mut server = tls_server(&pem);
    let tls_port = server.tls_port();
    let kh = dir.path().join("known_hosts");
    let ca = pem.cert.display().to_string();
    let mut hans = tls_client("hans", tls_port, &["--ca", &ca], &kh);
    log_in(&mut hans);
    let mut yoda = Piped::start("yoda", server.port(), &[], &[]);
    log_in(&mut yoda);
    hans.expect("yoda logged in");
    hans.send("message yoda Hey Dude");
    yoda.expect("hans: Hey Dude");
    yoda.send("message hans over plain TCP");
    hans.expect("yoda: over plain TCP");
    yoda.send("broadcast to everyone");
    hans.expect("yoda: to everyone");
    hans.send("whoelse");
    hans.expect("yoda");
    hans.send("logout");
    yoda.expect("hans logged out");
    assert_eq!(hans.finish(), 0, "{}", hans.stderr());
    // Verified by the CA: nothing to pin.
    assert!(!kh.exists());
    server.stop();
}

#[test]
fn ca_issued_full_chains_are_verified_and_other_cas_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let pem = ca.issue(dir.path(), "server", &["127.0.0.1"]);
    let mut server = tls_server(&pem);
    let port = server.tls_port();
    let kh = dir.path().join("known_hosts");
    let ca_path = ca.path.display().to_string();
    let (code, out, err) = run(port, &["--ca", &ca_path], &kh, &login_script("hans"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, [WELCOME]);
    // Another CA did not issue it: refused, with no trust on first use.
    let other = Ca::new(dir.path(), "other");
    let other_path = other.path.display().to_string();
    let (code, out, err) = run(port, &["--ca", &other_path], &kh, &login_script("hans"));
    assert_eq!(code, 3, "{out:?}");
    assert!(out.is_empty(), "{out:?}");
    assert!(
        err.contains("TLS with 127.0.0.1:") && err.contains("UnknownIssuer"),
        "{err}"
    );
    // A --ca file that is no certificate.
    let key = pem.key.display().to_string();
    let (code, _, err) = run(port, &["--ca", &key], &kh, &login_script("hans"));
    assert_eq!(code, 3);
    assert!(
        err.contains("cannot use --ca") && err.contains("no certificate"),
        "{err}"
    );
    assert!(!kh.exists());
    server.stop();
}

#[test]
fn first_use_pins_and_a_changed_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::self_signed(dir.path(), "server", &["127.0.0.1"]);
    let mut server = tls_server(&pem);
    let port = server.tls_port();
    let kh = dir.path().join("state/chat/known_hosts");

    // A script without --trust-new is refused, and told how to go on.
    let (code, out, err) = run(port, &[], &kh, &login_script("hans"));
    assert_eq!(code, 3, "{out:?}");
    assert!(out.is_empty(), "{out:?}");
    assert!(err.contains("--trust-new"), "{err}");
    let shown = proto::tls::display_fingerprint(&pem.fingerprint);
    assert!(err.contains(&shown), "{err}");
    assert!(!kh.exists());

    // With it, the certificate is pinned...
    let (code, out, err) = run(port, &["--trust-new"], &kh, &login_script("hans"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, [WELCOME]);
    let pins = std::fs::read_to_string(&kh).unwrap();
    let key = format!("127.0.0.1:{port} {}", pem.fingerprint);
    let line = pins.lines().position(|l| l == key).expect("the pin") + 1;
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&kh).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // ...and later connections need no flag.
    let (code, _, err) = run(port, &[], &kh, &login_script("yoda"));
    assert_eq!(code, 0, "{err}");

    // The server gets another certificate: refused, even with --trust-new, naming the file
    // and the line to remove.
    let new = certs::self_signed(dir.path(), "new", &["127.0.0.1"]);
    std::fs::copy(&new.cert, &pem.cert).unwrap();
    std::fs::copy(&new.key, &pem.key).unwrap();
    let reload = testkit::chatctl(server.dir(), &["reload"]);
    assert_eq!(reload.code, 0, "{reload:?}");
    for args in [&[][..], &["--trust-new"][..]] {
        let (code, out, err) = run(port, args, &kh, &login_script("hans"));
        assert_eq!(code, 3, "{out:?}");
        assert!(out.is_empty(), "{out:?}");
        assert!(err.contains("has changed"), "{err}");
        assert!(
            err.contains(&format!("remove line {line} of {}", kh.display())),
            "{err}"
        );
        assert!(
            err.contains(&proto::tls::display_fingerprint(&new.fingerprint)),
            "{err}"
        );
    }
    // Removing the line, as told, pins the new one.
    let kept: String = pins
        .lines()
        .enumerate()
        .filter(|(i, _)| i + 1 != line)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(&kh, kept).unwrap();
    let (code, _, err) = run(port, &["--trust-new"], &kh, &login_script("hans"));
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(&kh)
        .unwrap()
        .contains(&new.fingerprint));
    server.stop();
}

#[test]
fn a_replaced_certificate_is_picked_up_by_reload_while_sessions_stay() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    // At first self-signed, then renewed as issued by the CA.
    let first = certs::self_signed(dir.path(), "server", &["127.0.0.1"]);
    let mut server = tls_server(&first);
    let port = server.tls_port();
    let kh = dir.path().join("known_hosts");
    let first_ca = dir.path().join("first.pem");
    let first_ca_path = first_ca.display().to_string();
    std::fs::copy(&first.cert, &first_ca).unwrap();
    let mut hans = tls_client("hans", port, &["--ca", &first_ca_path], &kh);
    log_in(&mut hans);

    // Renewed on disk (a new key too), then reloaded.
    let renewed = ca.issue(dir.path(), "renewed", &["127.0.0.1"]);
    std::fs::copy(&renewed.cert, &first.cert).unwrap();
    std::fs::copy(&renewed.key, &first.key).unwrap();
    let reload = testkit::chatctl(server.dir(), &["reload"]);
    assert_eq!(reload.code, 0, "{reload:?}");
    assert!(
        reload.out.contains("TLS certificate replaced")
            && reload.out.contains(&renewed.fingerprint),
        "{reload:?}"
    );

    // New handshakes get the new certificate: the old one as the only root fails...
    let (code, _, err) = run(port, &["--ca", &first_ca_path], &kh, &login_script("yoda"));
    assert_eq!(code, 3);
    assert!(err.contains("TLS with"), "{err}");
    // ...the CA verifies it.
    let ca_path = ca.path.display().to_string();
    let mut yoda = tls_client("yoda", port, &["--ca", &ca_path], &kh);
    log_in(&mut yoda);

    // The session from before the reload is still up, on the old certificate.
    hans.expect("yoda logged in");
    hans.send("message yoda still here");
    yoda.expect("hans: still here");
    yoda.send("message hans and so am I");
    hans.expect("yoda: and so am I");

    // A certificate that cannot be loaded keeps the one in force.
    std::fs::write(&first.key, "not a key\n").unwrap();
    let reload = testkit::chatctl(server.dir(), &["reload"]);
    assert_eq!(reload.code, 1, "{reload:?}");
    assert!(
        reload.err.contains("tls.key") && reload.err.contains("config.toml:"),
        "{reload:?}"
    );
    let (code, _, err) = run(port, &["--ca", &ca_path], &kh, &login_script("luke"));
    assert_eq!(code, 0, "{err}");
    hans.send("logout");
    assert_eq!(hans.finish(), 0);
    server.stop();
}

#[test]
fn gen_cert_output_serves_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(testkit::chatd_bin())
        .args(["gen-cert", "--host", "127.0.0.1", "--host", "localhost"])
        .arg("--out-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let pem = Pem {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
        fingerprint: proto::tls::fingerprint(
            &proto::tls::load_certs(&dir.path().join("cert.pem")).unwrap()[0],
        ),
    };
    assert!(
        stdout.contains(&proto::tls::display_fingerprint(&pem.fingerprint)),
        "{stdout}"
    );
    assert!(stdout.contains("[tls]"), "{stdout}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&pem.key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // A second run does not overwrite the key.
    let again = std::process::Command::new(testkit::chatd_bin())
        .args(["gen-cert", "--host", "127.0.0.1", "--out-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let mut server = tls_server(&pem);
    let port = server.tls_port();
    let line = server.wait_log("listening for TLS on");
    assert!(line.contains(&pem.fingerprint), "{line}");
    let kh = dir.path().join("known_hosts");
    // Usable as the CA of itself, and on first use.
    let cert = pem.cert.display().to_string();
    let (code, _, err) = run(port, &["--ca", &cert], &kh, &login_script("hans"));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(port, &["--trust-new"], &kh, &login_script("hans"));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&proto::tls::display_fingerprint(&pem.fingerprint)));
    server.stop();
}

#[test]
fn the_wrong_kind_of_port_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::self_signed(dir.path(), "server", &["127.0.0.1"]);
    let mut server = tls_server(&pem);
    let kh = dir.path().join("known_hosts");
    // TLS to the plain port: the greeting is not TLS.
    let (code, out, err) = run(server.port(), &["--trust-new"], &kh, &login_script("hans"));
    assert_eq!(code, 3, "{out:?}");
    assert!(err.contains("is that the server's TLS port?"), "{err}");
    // Plain protocol to the TLS port: chatd sees no TLS handshake and drops the connection;
    // the others are not disturbed.
    let mut raw = std::net::TcpStream::connect(server.tls_addr()).unwrap();
    raw.set_read_timeout(Some(DEADLINE)).unwrap();
    let _ = raw.write_all(b"{\"id\":1,\"type\":\"login\",\"user\":\"hans\"}\n");
    let mut buf = Vec::new();
    let _ = std::io::Read::read_to_end(&mut raw, &mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("hello"), "{buf:?}");
    let (code, _, err) = run(
        server.tls_port(),
        &["--trust-new"],
        &kh,
        &login_script("hans"),
    );
    assert_eq!(code, 0, "{err}");
    server.stop();
}

/// `a` asks `b`, `b` says yes, both see the session start.
fn start_private(a: &mut Piped, b: &mut Piped) {
    let (an, bn) = (a.name.clone(), b.name.clone());
    a.send(&format!("startprivate {bn}"));
    b.expect(&format!(
        "{an} would like to private message, enter y or n: "
    ));
    b.send("y");
    a.expect(&format!("{bn} accepts private messaging"));
    a.expect(&format!("Start private messaging with {bn}"));
    b.expect(&format!("Start private messaging with {an}"));
}

#[test]
fn private_sessions_run_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::self_signed(dir.path(), "server", &["127.0.0.1"]);
    let mut server = tls_server(&pem);
    let port = server.tls_port();
    let kh = dir.path().join("known_hosts");
    let ca = pem.cert.display().to_string();
    let mut hans = tls_client("hans", port, &["--ca", &ca], &kh);
    log_in(&mut hans);
    let mut luke = tls_client("luke", port, &["--ca", &ca], &kh);
    log_in(&mut luke);
    start_private(&mut hans, &mut luke);
    hans.send("private luke hey dude");
    luke.expect("hans(private): hey dude");
    luke.send("private hans over TLS both ways");
    hans.expect("luke(private): over TLS both ways");
    luke.send("stopprivate hans");
    luke.expect("Stopped private messaging with hans");
    hans.expect("luke stopped private messaging");
    hans.send("logout");
    luke.send("logout");
    assert_eq!(hans.finish(), 0, "{}", hans.stderr());
    assert_eq!(luke.finish(), 0, "{}", luke.stderr());
    server.stop();
}

/// A client of the test's own over TLS (trusting `pem`), logged in as `user`.
fn proto_client(port: u16, pem: &Pem, user: &str) -> Client {
    let roots = proto::tls::load_certs(&pem.cert).unwrap();
    let security = Security::Tls {
        config: Arc::new(proto::tls::client_config_with_roots(&roots).unwrap()),
        name: proto::tls::server_name("127.0.0.1").unwrap(),
    };
    let mut c = Client::connect_with(("127.0.0.1", port), DEADLINE, &security).unwrap();
    assert_eq!(c.fingerprint(), Some(pem.fingerprint.as_str()));
    c.login(user, password(user)).unwrap();
    c
}

#[test]
fn a_peer_showing_another_certificate_than_announced_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::self_signed(dir.path(), "server", &["127.0.0.1"]);
    let mut server = tls_server(&pem);
    let port = server.tls_port();
    let kh = dir.path().join("known_hosts");
    let ca = pem.cert.display().to_string();

    // vader's "listener" announces one certificate's fingerprint and serves another.
    let announced = certs::self_signed(dir.path(), "announced", &["chat-peer"]);
    let served = certs::self_signed(dir.path(), "served", &["chat-peer"]);
    let config = Arc::new(
        proto::tls::rustls::ServerConfig::builder_with_provider(proto::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                proto::tls::load_certs(&served.cert).unwrap(),
                proto::tls::load_key(&served.key).unwrap(),
            )
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let listen_port = listener.local_addr().unwrap().port();
    let fake = std::thread::spawn(move || {
        // Whatever the requester sends, it must not be the token: the handshake fails first.
        let (socket, _) = listener.accept().unwrap();
        let stream = Stream::tls_server(socket, config).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut line = String::new();
        let got = BufReader::new(&stream).read_line(&mut line);
        (got.is_ok() && !line.is_empty(), line)
    });
    let mut vader = proto_client(port, &pem, "vader");
    let r = vader
        .request(Request::PrivateListen {
            port: listen_port,
            host: None,
            fingerprint: Some(announced.fingerprint.clone()),
        })
        .unwrap();
    assert_eq!(r, Response::Ok);

    let mut luke = tls_client("luke", port, &["--ca", &ca], &kh);
    log_in(&mut luke);
    luke.send("startprivate vader");
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        match vader.next_event_by(deadline).unwrap() {
            Event::PrivateRequest { from } if from == "luke" => break,
            _ => {}
        }
    }
    let r = vader
        .request(Request::PrivateAnswer {
            user: "luke".into(),
            accept: true,
        })
        .unwrap();
    assert_eq!(r, Response::Ok);
    luke.expect("vader accepts private messaging");
    luke.expect("Error. Cannot connect to vader for private messaging");
    let (read_something, line) = fake.join().unwrap();
    assert!(!read_something, "the fake listener read {line:?}");
    // The session goes on.
    luke.send("whoelse");
    luke.expect("vader");
    luke.send("logout");
    assert_eq!(luke.finish(), 0);
    assert!(
        luke.stderr()
            .contains("is not the one the server announced"),
        "{}",
        luke.stderr()
    );
    drop(vader);
    server.stop();
}

#[test]
fn interactive_first_use_shows_the_fingerprint_and_asks() {
    use common::pty::Pty;
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::self_signed(dir.path(), "server", &["127.0.0.1"]);
    let mut server = tls_server(&pem);
    let port = server.tls_port();
    let kh = dir.path().join("known_hosts");
    let chat = || {
        let mut cmd = std::process::Command::new(common::chat_bin());
        cmd.args(["--tls", "127.0.0.1", &port.to_string()])
            .env("CHAT_KNOWN_HOSTS", &kh)
            .env("CHAT_HISTFILE", "")
            .env("CHAT_SEEN_DIR", "")
            .env_remove("CHAT_PASSWORD");
        Pty::spawn(cmd)
    };
    let shown = proto::tls::display_fingerprint(&pem.fingerprint);
    // No: nothing is pinned, nothing sent.
    let mut c = chat();
    c.expect(&shown);
    c.expect(&format!(
        "Trust it and remember it for 127.0.0.1:{port}? (yes/no)"
    ));
    c.send("maybe\r");
    c.expect("Please answer yes or no.");
    c.send("no\r");
    c.expect("was not trusted; nothing was sent");
    assert_eq!(c.finish(), 3);
    assert!(!kh.exists());
    // Yes: pinned, then the login.
    let mut c = chat();
    c.expect(&shown);
    c.send("yes\r");
    c.expect("Username: ");
    c.send("hans\r");
    c.expect("Password: ");
    c.send("falcon*solo\r");
    c.expect(WELCOME);
    c.send("logout\r");
    assert_eq!(c.finish(), 0);
    assert!(std::fs::read_to_string(&kh)
        .unwrap()
        .contains(&format!("127.0.0.1:{port} {}", pem.fingerprint)));
    // Next time: no question.
    let mut c = chat();
    c.expect("Username: ");
    assert!(!c.text().contains("yes/no"), "{}", c.text());
    server.stop();
}
