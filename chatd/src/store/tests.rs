//! Tests of the SQLite store: durability across reopen, the offline cap, refusals.

use rusqlite::Connection;

use super::schema::DB_FILE;
use super::*;
use crate::seams::Store;

#[test]
fn offline_messages_survive_reopen_in_order() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = SqliteStore::open(dir.path()).unwrap();
        smol::block_on(async {
            for i in 0..5 {
                let r = store
                    .store_offline("yoda", "hans", &format!("m{i}"), 3)
                    .await
                    .unwrap();
                assert_eq!(r == StoreOutcome::Stored, i < 3);
            }
            store.set_block("yoda", "vader", true).await.unwrap();
            let s = store.record_login("luke", 1000).await.unwrap();
            store.record_logout(s, 2000).await.unwrap();
            store.record_login("leia", 3000).await.unwrap();
        });
    }
    let (store, snap) = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(snap.blocks, vec![("yoda".into(), "vader".into())]);
    assert_eq!(snap.last_seen.get("luke"), Some(&2000));
    assert!(snap.last_seen.get("leia").is_some_and(|&t| t >= 3000));
    let msgs = smol::block_on(store.offline_for("yoda")).unwrap();
    let texts: Vec<_> = msgs.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["m0", "m1", "m2"]);
    smol::block_on(store.delete_offline(vec![msgs[0].id])).unwrap();
    assert_eq!(smol::block_on(store.offline_for("yoda")).unwrap().len(), 2);
}

#[test]
fn cap_counts_follow_stores_and_deletions_and_counters_persist() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, snap) = SqliteStore::open(dir.path()).unwrap();
        assert!(snap.counters.is_empty());
        smol::block_on(async {
            let mut ids = Vec::new();
            for i in 0..3 {
                assert_eq!(
                    store
                        .store_offline("yoda", "hans", &format!("m{i}"), 3)
                        .await
                        .unwrap(),
                    StoreOutcome::Stored
                );
            }
            assert_eq!(
                store.store_offline("yoda", "hans", "m3", 3).await.unwrap(),
                StoreOutcome::Full
            );
            // Another recipient has its own cap.
            assert_eq!(
                store.store_offline("luke", "hans", "x", 3).await.unwrap(),
                StoreOutcome::Stored
            );
            for m in store.offline_for("yoda").await.unwrap() {
                ids.push(m.id);
            }
            store.delete_offline(ids[..2].to_vec()).await.unwrap();
            for i in 4..6 {
                assert_eq!(
                    store
                        .store_offline("yoda", "hans", &format!("m{i}"), 3)
                        .await
                        .unwrap(),
                    StoreOutcome::Stored
                );
            }
            assert_eq!(
                store.store_offline("yoda", "hans", "m6", 3).await.unwrap(),
                StoreOutcome::Full
            );
            store
                .heartbeat(vec![("logins", 7), ("messages_stored", 42)])
                .await
                .unwrap();
        });
    }
    let (store, snap) = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(snap.counters.get("logins"), Some(&7));
    assert_eq!(snap.counters.get("messages_stored"), Some(&42));
    let texts: Vec<String> = smol::block_on(store.offline_for("yoda"))
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["m2", "m4", "m5"]);
}

#[test]
fn refuses_a_damaged_file_without_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let junk: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &junk).unwrap();
    let err = SqliteStore::open(dir.path()).err().unwrap();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), junk);
}

#[test]
fn refuses_a_database_of_another_program() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY);")
        .unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let err = SqliteStore::open(dir.path()).err().unwrap();
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn one_store_per_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = SqliteStore::open(dir.path()).unwrap();
    let err = SqliteStore::open(dir.path()).err().unwrap();
    assert!(matches!(err, StoreError::InUse { .. }), "{err}");
    store.close();
    let (_again, _) = SqliteStore::open(dir.path()).unwrap();
}

#[test]
fn refuses_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("chat.db")).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    let err = SqliteStore::open(dir.path()).err().unwrap().to_string();
    assert!(err.contains("newer than this chatd supports"), "{err}");
}
