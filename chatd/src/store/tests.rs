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
                    .store_offline(
                        "yoda",
                        "hans",
                        &format!("m{i}"),
                        3,
                        1_000 + i as i64,
                        100 + i as u64,
                    )
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
    // Each keeps the time it was sent, not the time it was stored or read.
    let times: Vec<_> = msgs.iter().map(|m| m.sent_ms).collect();
    assert_eq!(times, [1_000, 1_001, 1_002]);
    smol::block_on(store.delete_offline("yoda", vec![msgs[0].msg_id])).unwrap();
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
                        .store_offline("yoda", "hans", &format!("m{i}"), 3, 1_000, 100 + i)
                        .await
                        .unwrap(),
                    StoreOutcome::Stored
                );
            }
            assert_eq!(
                store
                    .store_offline("yoda", "hans", "m3", 3, 1_000, 103)
                    .await
                    .unwrap(),
                StoreOutcome::Full
            );
            // Another recipient has its own cap.
            assert_eq!(
                store
                    .store_offline("luke", "hans", "x", 3, 1_000, 200)
                    .await
                    .unwrap(),
                StoreOutcome::Stored
            );
            for m in store.offline_for("yoda").await.unwrap() {
                ids.push(m.msg_id);
            }
            store
                .delete_offline("yoda", ids[..2].to_vec())
                .await
                .unwrap();
            for i in 4..6 {
                assert_eq!(
                    store
                        .store_offline("yoda", "hans", &format!("m{i}"), 3, 1_000, 100 + i)
                        .await
                        .unwrap(),
                    StoreOutcome::Stored
                );
            }
            assert_eq!(
                store
                    .store_offline("yoda", "hans", "m6", 3, 1_000, 106)
                    .await
                    .unwrap(),
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

#[test]
fn the_backlog_is_read_in_chunks_in_order_up_to_its_last_row() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = SqliteStore::open(dir.path()).unwrap();
    smol::block_on(async {
        for i in 0..10u64 {
            let text = format!("{i:03}").repeat(100);
            store
                .store_offline("yoda", "hans", &text, 100, 1_000, 1000 - i)
                .await
                .unwrap();
        }
        store
            .store_offline("luke", "hans", "x", 100, 1_000, 5)
            .await
            .unwrap();
        let backlog = store.backlog("yoda").await.unwrap();
        assert_eq!(backlog.count, 10);
        // Stored after the count: not part of this backlog.
        store
            .store_offline("yoda", "hans", "late", 100, 1_000, 2000)
            .await
            .unwrap();
        let mut after = 0;
        let mut seen = Vec::new();
        loop {
            // 700 bytes: two messages of 303 bytes, then a third goes over.
            let chunk = store
                .backlog_chunk("yoda", after, backlog.last, 700)
                .await
                .unwrap();
            if chunk.is_empty() {
                break;
            }
            assert!(chunk.len() <= 3, "{}", chunk.len());
            after = chunk.last().unwrap().id;
            seen.extend(chunk.into_iter().map(|m| m.msg_id));
        }
        assert_eq!(seen, (991..=1000).rev().collect::<Vec<u64>>());
        // A single message larger than the budget still comes.
        let one = store
            .backlog_chunk("yoda", 0, backlog.last, 1)
            .await
            .unwrap();
        assert_eq!(one.len(), 1);
    });
}

#[test]
fn a_message_is_stored_once_per_id_and_deleted_only_for_its_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = SqliteStore::open(dir.path()).unwrap();
    smol::block_on(async {
        for _ in 0..3 {
            store
                .store_offline("yoda", "hans", "hi", 10, 1_000, 77)
                .await
                .unwrap();
        }
        assert_eq!(store.backlog("yoda").await.unwrap().count, 1);
        store.delete_offline("luke", vec![77]).await.unwrap();
        assert_eq!(store.backlog("yoda").await.unwrap().count, 1);
        store.delete_offline("yoda", vec![77, 78]).await.unwrap();
        assert_eq!(store.backlog("yoda").await.unwrap().count, 0);
    });
    drop(store);
    let (_, snap) = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(snap.max_msg_id, 0);
}

#[test]
fn the_backlog_is_read_when_the_store_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = SqliteStore::open(dir.path()).unwrap();
        smol::block_on(async {
            for i in 0..50u64 {
                store
                    .store_offline("yoda", "hans", &"x".repeat(2000), 100, 1_000, i + 1)
                    .await
                    .unwrap();
            }
        });
    }
    let (store, snap) = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(snap.max_msg_id, 50);
    // A full disk: every write fails, the commit included.
    store.fail_writes_for_tests();
    smol::block_on(async {
        assert!(store
            .store_offline("yoda", "hans", "hi", 100, 1_000, 99)
            .await
            .is_err());
        assert!(store.delete_offline("yoda", vec![1]).await.is_err());
        let backlog = store.backlog("yoda").await.unwrap();
        assert_eq!(backlog.count, 50);
        let chunk = store
            .backlog_chunk("yoda", 0, backlog.last, usize::MAX)
            .await
            .unwrap();
        assert_eq!(chunk.len(), 50);
    });
}

#[test]
fn a_job_that_fails_part_way_leaves_none_of_its_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = SqliteStore::open(dir.path()).unwrap();
    let insert = |blocker: &'static str, fail: bool| {
        store.call(move |c| {
            c.execute(
                "INSERT INTO blocks (blocker, blocked) VALUES (?1, 'x')",
                [blocker],
            )?;
            if fail {
                // A second write that fails after the first one succeeded.
                c.execute("INSERT INTO no_such_table VALUES (1)", [])?;
            }
            Ok(())
        })
    };
    // Queued together, so they usually share one transaction; either way the failed job's
    // first insert must not be committed.
    let (a, b, c) = (insert("a", false), insert("b", true), insert("c", false));
    smol::block_on(async {
        assert!(a.await.is_ok());
        assert!(b.await.is_err());
        assert!(c.await.is_ok());
    });
    drop(store);
    let (_, snap) = SqliteStore::open(dir.path()).unwrap();
    let blockers: Vec<_> = snap.blocks.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(blockers, ["a", "c"]);
}
