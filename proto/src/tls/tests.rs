use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread;

use super::*;

/// A self-signed certificate for `names` and its key, as rustls takes them.
fn self_signed(names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let ck = rcgen::generate_simple_self_signed(names).expect("rcgen");
    (
        ck.cert.der().clone(),
        PrivateKeyDer::try_from(ck.key_pair.serialize_der()).expect("key"),
    )
}

fn server_config(
    cert: &CertificateDer<'static>,
    key: &PrivateKeyDer<'static>,
) -> Arc<rustls::ServerConfig> {
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key.clone_key())
            .unwrap(),
    )
}

/// An echo server over TLS on 127.0.0.1: echoes each line, prefixed with "echo ".
fn echo_server(config: Arc<rustls::ServerConfig>) -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        let stream = Stream::tls_server(socket, config).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let reader = BufReader::new(stream);
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if writer
                .write_all(format!("echo {line}\n").as_bytes())
                .is_err()
            {
                return;
            }
        }
        let _ = writer.shutdown(Shutdown::Both);
    });
    (addr, handle)
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

#[test]
fn fingerprints_are_64_lowercase_hex_digits() {
    let fp = fingerprint(b"hello");
    assert_eq!(
        fp,
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    assert!(is_fingerprint(&fp));
    assert!(is_fingerprint(&fp.to_ascii_uppercase()));
    assert!(!is_fingerprint(&fp[1..]));
    assert!(!is_fingerprint(&format!("{}g", &fp[1..])));
    assert_eq!(&display_fingerprint(&fp)[..8], "2C:F2:4D");
}

#[test]
fn a_shared_stream_reads_and_writes_from_two_threads() {
    let (cert, key) = self_signed(&["localhost"]);
    let (addr, server) = echo_server(server_config(&cert, &key));
    let config = Arc::new(client_config_with_roots(std::slice::from_ref(&cert)).unwrap());
    let socket = TcpStream::connect(addr).unwrap();
    let stream = Stream::tls_client(socket, config, server_name("localhost").unwrap()).unwrap();
    stream.handshake(deadline()).unwrap();
    assert_eq!(stream.peer_fingerprint(), Some(fingerprint(&cert)));
    let writer = stream.try_clone().unwrap();
    // Many lines written from one thread while another reads the echoes: neither blocks the
    // other, and every record arrives in order.
    let lines = 2000;
    let sending = thread::spawn(move || {
        for i in 0..lines {
            (&writer)
                .write_all(format!("line {i} {}\n", "x".repeat(i % 300)).as_bytes())
                .unwrap();
        }
        writer
    });
    let mut reader = BufReader::new(stream);
    for i in 0..lines {
        let mut got = String::new();
        reader.read_line(&mut got).unwrap();
        assert_eq!(got, format!("echo line {i} {}\n", "x".repeat(i % 300)));
    }
    let writer = sending.join().unwrap();
    writer.shutdown(Shutdown::Write).unwrap();
    // The server saw our close_notify, ended its loop and closed: a clean end of stream.
    let mut rest = String::new();
    assert_eq!(reader.read_line(&mut rest).unwrap(), 0);
    server.join().unwrap();
}

#[test]
fn an_unknown_issuer_or_a_wrong_name_is_refused() {
    let (cert, key) = self_signed(&["localhost"]);
    let (other, _) = self_signed(&["localhost"]);
    for (roots, name) in [(other, "localhost"), (cert.clone(), "elsewhere.example")] {
        let (addr, _server) = echo_server(server_config(&cert, &key));
        let config = Arc::new(client_config_with_roots(&[roots]).unwrap());
        let socket = TcpStream::connect(addr).unwrap();
        let stream = Stream::tls_client(socket, config, server_name(name).unwrap()).unwrap();
        let e = stream.handshake(deadline()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
    }
}

#[test]
fn a_pinned_certificate_is_accepted_and_any_other_refused() {
    let (cert, key) = self_signed(&["peer"]);
    let (addr, server) = echo_server(server_config(&cert, &key));
    let config = Arc::new(pinned_client_config(&fingerprint(&cert)).unwrap());
    let socket = TcpStream::connect(addr).unwrap();
    // Any name: only the fingerprint counts.
    let stream = Stream::tls_client(socket, config, server_name("chat-peer").unwrap()).unwrap();
    (&stream).write_all(b"hi\n").unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    assert_eq!(line, "echo hi\n");
    stream.shutdown(Shutdown::Both).unwrap();
    server.join().unwrap();

    let (addr, _server) = echo_server(server_config(&cert, &key));
    let (other, _) = self_signed(&["peer"]);
    let config = Arc::new(pinned_client_config(&fingerprint(&other)).unwrap());
    let socket = TcpStream::connect(addr).unwrap();
    let stream = Stream::tls_client(socket, config, server_name("chat-peer").unwrap()).unwrap();
    let e = stream.handshake(deadline()).unwrap_err();
    assert!(
        e.to_string().contains("not the one the server announced"),
        "{e}"
    );
}

#[test]
fn a_plain_server_fails_the_handshake_with_a_clear_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let _ = socket.write_all(b"{\"type\":\"hello\",\"protocol\":1}\n");
        // Keep the socket open until the client gives up.
        let mut buf = [0u8; 1024];
        let _ = std::io::Read::read(&mut socket, &mut buf);
    });
    let (cert, _) = self_signed(&["localhost"]);
    let config = Arc::new(client_config_with_roots(&[cert]).unwrap());
    let socket = TcpStream::connect(addr).unwrap();
    let stream = Stream::tls_client(socket, config, server_name("localhost").unwrap()).unwrap();
    let e = stream.handshake(deadline()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
    drop(stream);
    server.join().unwrap();
}

#[test]
fn pem_files_load_and_bad_ones_are_named() {
    let dir = std::env::temp_dir().join(format!("proto-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, ck.cert.pem()).unwrap();
    std::fs::write(&key_path, ck.key_pair.serialize_pem()).unwrap();
    assert_eq!(load_certs(&cert_path).unwrap(), vec![ck.cert.der().clone()]);
    assert!(load_key(&key_path).is_ok());
    let e = load_certs(&key_path).unwrap_err();
    assert!(e.to_string().contains("no certificate"), "{e}");
    let e = load_key(&cert_path).unwrap_err();
    assert!(e.to_string().contains("no private key"), "{e}");
    assert!(load_certs(&dir.join("missing.pem")).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
