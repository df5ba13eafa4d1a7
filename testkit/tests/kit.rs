//! The kit itself, end to end: the binaries it hands out are fresh builds beside this test's
//! own, and the chatd it starts listens, answers and stops cleanly.

use std::path::Path;
use std::time::SystemTime;

use testkit::*;

/// The newest modification time of the `.rs` files under `dir` that go into a binary (unit
/// test modules, `tests.rs` and `tests/`, do not: editing one rebuilds no binary).
fn newest_source(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let time = if stem == "tests" {
            continue;
        } else if path.is_dir() {
            newest_source(&path)
        } else if path.extension().is_some_and(|e| e == "rs") {
            path.metadata().unwrap().modified().unwrap()
        } else {
            continue;
        };
        newest = newest.max(time);
    }
    newest
}

#[test]
fn binaries_are_built_beside_this_test_and_newer_than_their_sources() {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let proto = newest_source(&workspace.join("proto/src"));
    for (bin, package) in [
        (chatd_bin(), "chatd"),
        (chat_bin(), "chat"),
        (chatctl_bin(), "chatctl"),
    ] {
        assert_eq!(bin.parent(), Some(profile_dir), "{}", bin.display());
        let built = bin.metadata().unwrap().modified().unwrap();
        let sources = newest_source(&workspace.join(package).join("src")).max(proto);
        assert!(
            built >= sources,
            "{} is older than the sources it is built from",
            bin.display()
        );
    }
}

#[test]
fn chatd_listens_on_loopback_answers_and_stops_cleanly() {
    let mut chatd = ChatdProcess::start("");
    assert!(chatd.addr.ip().is_loopback() && chatd.port() != 0);
    assert!(chatd.admin_socket().exists());
    let mut hans = Client::login(chatd.addr, "hans", password("hans"));
    let mut yoda = Client::login(chatd.addr, "yoda", password("yoda"));
    assert_eq!(hans.users(proto::Request::Whoelse), ["yoda"]);
    assert_eq!(
        hans.request(msg("yoda", "hi")),
        proto::Response::Sent { stored: false }
    );
    match yoda.next_event() {
        proto::Event::Message {
            from,
            text,
            offline: false,
            msg_id: Some(_),
            ..
        } => assert_eq!((from.as_str(), text.as_str()), ("hans", "hi")),
        other => panic!("{other:?}"),
    }
    chatd.stop();
    assert_eq!(
        hans.events_until_closed().last(),
        Some(&proto::Event::Shutdown)
    );
    assert!(!chatd.admin_socket().exists());
    assert!(chatctl(chatd.dir(), &["who"]).code == 3);
}
