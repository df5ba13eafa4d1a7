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
}

#[test]
fn the_bundled_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let c = Config::from_toml(&text, &path).unwrap();
    assert_eq!(c.limits.registrations_per_ip_per_hour, 10);
}
