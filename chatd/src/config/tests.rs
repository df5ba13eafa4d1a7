//! Tests of config parsing, checking and overrides.

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("/etc/chat/config.toml"))
}

#[test]
fn defaults_and_relative_paths() {
    let c = parse("port = 6000\n").unwrap();
    assert_eq!(c.port, 6000);
    assert_eq!(c.timeout, Duration::from_secs(600));
    assert_eq!(c.credentials, PathBuf::from("/etc/chat/credentials.txt"));
    assert_eq!(c.data_dir, PathBuf::from("/etc/chat/data"));
    let c = parse("data_dir = \"/var/lib/chat\"\n").unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/chat"));
}

#[test]
fn bad_values_name_key_value_and_line() {
    let e = parse("port = 5000\ntimeout = 0\n").unwrap_err().to_string();
    assert_eq!(
        e,
        "/etc/chat/config.toml:2: timeout = 0: must be at least 1"
    );
    let e = parse("[limits]\nsend_queue = -3\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains(":2: limits.send_queue = -3"), "{e}");
    let e = parse("port = 70000\n").unwrap_err().to_string();
    assert!(e.contains("port = 70000: must be at most 65535"), "{e}");
}

#[test]
fn unknown_keys_and_types_are_refused() {
    let e = parse("prot = 5000\n").unwrap_err().to_string();
    assert!(e.contains("prot") && e.contains("line 1"), "{e}");
    let e = parse("port = \"five\"\n").unwrap_err().to_string();
    assert!(e.contains("line 1") && e.contains("port"), "{e}");
}

#[test]
fn overrides() {
    let mut c = Config::default();
    c.apply(&Overrides {
        port: Some(0),
        timeout: Some(5),
        ..Overrides::default()
    })
    .unwrap();
    assert_eq!((c.port, c.timeout), (0, Duration::from_secs(5)));
    let e = c
        .apply(&Overrides {
            block_duration: Some(-1),
            ..Overrides::default()
        })
        .unwrap_err()
        .to_string();
    assert_eq!(e, "command line: --block-duration = -1: must be at least 0");
}

#[test]
fn the_tables_and_their_keys_come_from_the_structs() {
    let tables = keys::tables::<FileConfig>();
    let names: Vec<&str> = tables.iter().map(|(name, _)| *name).collect();
    assert_eq!(names[0], "");
    assert!(names.contains(&"limits"), "{names:?}");
    let top = tables[0].1;
    assert!(
        top.contains(&"timeout") && top.contains(&"limits"),
        "{top:?}"
    );
    let limits = tables.iter().find(|(n, _)| *n == "limits").unwrap().1;
    assert!(
        limits.contains(&"send_queue") && !limits.contains(&"timeout"),
        "{limits:?}"
    );
    // Every top-level key whose value may be a table is one of the tables, and no other is
    // (a table with required keys refuses an empty one, but not for its type).
    for key in top {
        let reads_a_table = match toml::from_str::<FileConfig>(&format!("[{key}]\n")) {
            Ok(_) => true,
            Err(e) => !e.message().contains("invalid type"),
        };
        assert_eq!(reads_a_table, names.contains(key), "{key}");
    }
}

#[test]
fn a_key_in_the_wrong_table_gets_a_hint() {
    // A top-level key written below [limits].
    let e = parse("port = 5000\n\n[limits]\nsend_queue = 10\ntimeout = 60 # seconds\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "/etc/chat/config.toml:5: limits.timeout = 60: timeout belongs at the top level, \
         above the first [table] line, not in [limits]"
    );
    // A [limits] key at the top level.
    let e = parse("port = 5000\nsend_queue = 10\n[limits]\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "/etc/chat/config.toml:2: send_queue = 10: send_queue belongs in [limits], not at the \
         top level"
    );
    // Dotted and quoted forms, and a string value shown as written.
    let e = parse("limits.\"credentials\" = \"x.txt\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("/etc/chat/config.toml:1: limits.credentials = \"x.txt\": credentials belongs at the top level"),
        "{e}"
    );
    // A key unknown everywhere keeps toml's message, which lists the valid keys.
    let e = parse("[limits]\nsend_queu = 10\n").unwrap_err().to_string();
    assert!(
        e.contains("unknown field `send_queu`") && e.contains("line 2"),
        "{e}"
    );
    // A table name as a key is not "misplaced".
    let e = parse("[limits]\nlimits = 3\n").unwrap_err().to_string();
    assert!(e.contains("unknown field `limits`"), "{e}");
}

#[test]
fn registrations_per_ip_per_hour() {
    assert_eq!(parse("").unwrap().limits.registrations_per_ip_per_hour, 10);
    let c = parse("[limits]\nregistrations_per_ip_per_hour = 0\n").unwrap();
    assert_eq!(c.limits.registrations_per_ip_per_hour, 0, "0 = unlimited");
    let e = parse("[limits]\nregistrations_per_ip_per_hour = -1\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "/etc/chat/config.toml:2: limits.registrations_per_ip_per_hour = -1: must be at least 0"
    );
    // Loopback clients are spared unless asked for.
    let (lo, lo6, net): (std::net::IpAddr, std::net::IpAddr, std::net::IpAddr) = (
        "127.0.0.2".parse().unwrap(),
        "::1".parse().unwrap(),
        "192.0.2.7".parse().unwrap(),
    );
    let c = parse("").unwrap();
    assert_eq!(c.limits.registrations_per_hour_for(lo), 0);
    assert_eq!(c.limits.registrations_per_hour_for(lo6), 0);
    assert_eq!(c.limits.registrations_per_hour_for(net), 10);
    let c = parse("[limits]\nregistration_limit_loopback = true\n").unwrap();
    assert_eq!(c.limits.registrations_per_hour_for(lo), 10);
    let e = parse("[limits]\nregistration_limit_loopback = 1\n").unwrap_err();
    assert!(e.to_string().contains("registration_limit_loopback"), "{e}");
}

#[test]
fn the_bundled_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let c = Config::from_toml(&text, &path).unwrap();
    assert_eq!(c.limits.registrations_per_ip_per_hour, 10);
}

#[test]
fn tls_table() {
    assert_eq!(parse("port = 5000\n").unwrap().tls, None);
    let c = parse("port = 5000\n\n[tls]\ncert = \"cert.pem\"\nkey = \"/keys/key.pem\"\n").unwrap();
    let tls = c.tls.unwrap();
    assert_eq!(tls.cert, PathBuf::from("/etc/chat/cert.pem"));
    assert_eq!(tls.key, PathBuf::from("/keys/key.pem"));
    assert_eq!(tls.port, DEFAULT_TLS_PORT);
    assert_eq!(tls.bind, IpAddr::from([0, 0, 0, 0]));
    assert_eq!(tls.cert_origin, "/etc/chat/config.toml:4");
    assert_eq!(tls.key_origin, "/etc/chat/config.toml:5");
    let c = parse("[tls]\ncert = \"c\"\nkey = \"k\"\nport = 0\nbind = \"::1\"\n").unwrap();
    let tls = c.tls.unwrap();
    assert_eq!((tls.port, tls.bind), (0, "::1".parse::<IpAddr>().unwrap()));
}

#[test]
fn bad_tls_tables_name_key_value_and_line() {
    let e = parse("port = 1\n[tls]\nkey = \"k\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("/etc/chat/config.toml:2: [tls]"), "{e}");
    assert!(e.contains("cert is required"), "{e}");
    let e = parse("[tls]\ncert = \"c\"\n").unwrap_err().to_string();
    assert!(e.contains("key is required"), "{e}");
    let e = parse("[tls]\ncert = \"c\"\nkey = \"k\"\nport = 65536\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "/etc/chat/config.toml:4: tls.port = 65536: must be at most 65535"
    );
    let e = parse("[tls]\ncert = \"\"\nkey = \"k\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains(":2: tls.cert = \"\": must not be empty"), "{e}");
    let e = parse("[tls]\ncert = \"c\"\nkey = \"k\"\nbind = \"everywhere\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains(":4: tls.bind = \"everywhere\""), "{e}");
    let e = parse("[tls]\ncert = \"c\"\nkey = \"k\"\nciphers = \"all\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("ciphers") && e.contains("line 4"), "{e}");
}
