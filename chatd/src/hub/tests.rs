//! Routing and presence without sockets: connections are bare queues, the store is a real
//! SQLite store in a temp dir, time is a manual clock.

use std::collections::HashMap;
use std::time::Duration;

use proto::{Event, ServerFrame};

use super::*;
use crate::clock::ManualClock;
use crate::store::SqliteStore;

struct Fixture {
    hub: Hub,
    /// Each connection opened and its queue, to read its presence as its task would.
    conns: std::cell::RefCell<Vec<(ConnId, Outbox)>>,
    clock: ManualClock,
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

fn fixture(blocks: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = SqliteStore::open(dir.path()).unwrap();
    let clock = ManualClock::new();
    let blocks = blocks
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let hub = Hub::new(
        blocks,
        HashMap::new(),
        &HashMap::new(),
        clock.clone().into(),
    );
    Fixture {
        hub,
        conns: Default::default(),
        clock,
        store,
        _dir: dir,
    }
}

impl Fixture {
    /// A logged-in user on a fresh connection, and what their connection receives.
    fn login(&self, user: &str) -> (ConnId, Outbox) {
        let (id, rx, _) = self.login_acks(user);
        (id, rx)
    }

    /// [`Fixture::login`], with the connection's in-flight list.
    fn login_acks(&self, user: &str) -> (ConnId, Outbox, Acks) {
        let acks = Acks::default();
        let out = Outbox::new(64, acks.clone());
        let id = self.login_on(&out, user);
        (id, out, acks)
    }

    /// A new connection with queue `out`.
    fn open(&self, out: &Outbox) -> ConnId {
        let (id, _) = self
            .hub
            .connect("127.0.0.1:9".parse().unwrap(), out.clone(), 100, 100)
            .unwrap();
        self.conns.borrow_mut().push((id, out.clone()));
        id
    }

    /// `user` logged in on a new connection with queue `out`.
    fn login_on(&self, out: &Outbox, user: &str) -> ConnId {
        let id = self.open(out);
        let load = self.hub.begin_login(id, user, &self.store).unwrap();
        let backlog = smol::block_on(load).unwrap();
        self.hub
            .finish_login(id, Outgoing::Close, Some(backlog), &self.store);
        // The stand-in welcome.
        assert!(matches!(out.try_recv(), Ok(Outgoing::Close)));
        id
    }

    fn disconnect(&self, id: ConnId) -> Option<String> {
        self.hub.disconnect(id, Default::default(), &self.store)
    }
}

impl Fixture {
    /// The events queued so far for connection `rx`, and the presence waiting for it in the
    /// hub's log, read as its task writes them: a batch of presence changes reads as the
    /// changes, one by one.
    fn events(&self, rx: &Outbox) -> Vec<Event> {
        let id = self
            .conns
            .borrow()
            .iter()
            .find(|(_, out)| out.same(rx))
            .map(|(id, _)| *id)
            .expect("a connection of this fixture");
        let head = self.hub.presence_head();
        let mut items = rx.take().items;
        if rx.seen() < head {
            items.push_back(Outgoing::PresenceUpTo(head));
        }
        let mut lines = Vec::new();
        for item in items {
            match item {
                Outgoing::Frame(line) => lines.push(line.to_string()),
                Outgoing::Direct(d) => lines.push(d.frame.into()),
                Outgoing::PresenceUpTo(upto) => {
                    let mut buf = Vec::new();
                    assert!(self.hub.presence_into(id, upto, &mut buf, usize::MAX));
                    let text = String::from_utf8(buf).unwrap();
                    lines.extend(text.lines().map(str::to_string));
                }
                other => panic!("{other:?}"),
            }
        }
        let mut v = Vec::new();
        for line in lines {
            match ServerFrame::decode(line.trim_end().as_bytes()).unwrap() {
                ServerFrame::Event(Event::PresenceBatch { users, online, ts }) => v.extend(
                    users
                        .into_iter()
                        .map(|user| Event::Presence { user, online, ts }),
                ),
                ServerFrame::Event(e) => v.push(e),
                other => panic!("{other:?}"),
            }
        }
        v
    }
}

#[test]
fn a_direct_message_goes_live_to_an_online_user() {
    let f = fixture(&[]);
    let (_, hans) = f.login("hans");
    let (_, yoda) = f.login("yoda");
    assert_eq!(
        f.events(&hans),
        [Event::Presence {
            user: "yoda".into(),
            online: true,
            ts: Some(f.clock.now_ms() as u64),
        }]
    );
    let routed = f
        .hub
        .message("hans", "yoda", "hi", &f.store, 10, 1_000)
        .unwrap();
    assert!(matches!(routed, Routed::Live));
    match &f.events(&yoda)[..] {
        [Event::Message { from, text, ts, .. }] => {
            assert_eq!((&**from, &**text, *ts), ("hans", "hi", Some(1_000)))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.hub.stats().messages_delivered, 1);
}

#[test]
fn a_blocked_sender_is_refused_and_nothing_is_stored() {
    let f = fixture(&[("yoda", "hans")]);
    let _hans = f.login("hans");
    let err = f
        .hub
        .message("hans", "yoda", "hi", &f.store, 10, 1_000)
        .err();
    assert_eq!(err, Some(RouteError::BlockedByRecipient));
    assert_eq!(f.hub.stats().messages_dropped, 1);
    let waiting = smol::block_on(f.store.offline_for("yoda")).unwrap();
    assert!(waiting.is_empty());
}

#[test]
fn a_message_to_an_offline_user_is_stored_and_delivered_at_login_with_its_time() {
    let f = fixture(&[]);
    let Ok(Routed::Offline(job)) = f.hub.message("hans", "yoda", "later", &f.store, 10, 1_000)
    else {
        panic!("not routed to the store");
    };
    assert_eq!(
        smol::block_on(job).unwrap(),
        crate::store::StoreOutcome::Stored
    );
    // Delivered later: it still says when it was sent.
    f.clock.advance(Duration::from_secs(3600));
    let (_, yoda) = f.login("yoda");
    // The writer streams the backlog from the store when it reaches this.
    match yoda.try_recv() {
        Ok(Outgoing::Backlog { user, upto }) => {
            assert_eq!(&*user, "yoda");
            let chunk = smol::block_on(f.store.backlog_chunk("yoda", 0, upto, 1)).unwrap();
            assert_eq!(chunk.len(), 1);
            assert_eq!(chunk[0].text, "later");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.hub.stats().messages_delivered, 1);
}

#[test]
fn what_a_connection_never_acknowledged_is_stored_under_its_id() {
    let f = fixture(&[]);
    let (_, _hans) = f.login("hans");
    let (yoda, queue, acks) = f.login_acks("yoda");
    for text in ["one", "two", "three"] {
        assert!(matches!(
            f.hub.message("hans", "yoda", text, &f.store, 10, 1_000),
            Ok(Routed::Live)
        ));
    }
    // The writer wrote two of them; the client acknowledged the first.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let Ok(Outgoing::Direct(d)) = queue.try_recv() else {
            panic!("not queued")
        };
        ids.push(d.msg_id);
        assert!(acks.lock().written_live(d).is_empty());
    }
    assert!(acks.lock().ack(ids[0]).is_empty());
    assert_eq!(
        f.hub.disconnect(yoda, Default::default(), &f.store),
        Some("yoda".into())
    );
    let stored = smol::block_on(f.store.offline_for("yoda")).unwrap();
    let texts: Vec<&str> = stored.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["two", "three"], "in flight, then still queued");
    assert_eq!(
        stored[0].msg_id, ids[1],
        "stored under the id it was sent with"
    );
    assert!(stored[1].msg_id > ids[1]);
    // Storing one again (a repeated end of connection) keeps one copy.
    smol::block_on(
        f.store
            .store_offline("yoda", "hans", "two", u64::MAX, 1_000, ids[1]),
    )
    .unwrap();
    assert_eq!(
        smol::block_on(f.store.offline_for("yoda")).unwrap().len(),
        2
    );
}

#[test]
fn presence_skips_users_blocked_either_way() {
    let f = fixture(&[("luke", "vader")]);
    let (_, luke) = f.login("luke");
    let (_, hans) = f.login("hans");
    let (vader_conn, _vader) = f.login("vader");
    f.disconnect(vader_conn);
    let seen = f.events(&luke);
    assert!(
        seen.iter()
            .all(|e| !matches!(e, Event::Presence { user, .. } if user == "vader")),
        "{seen:?}"
    );
    let seen = f.events(&hans);
    assert!(seen.contains(&Event::Presence {
        user: "vader".into(),
        online: false,
        ts: Some(f.clock.now_ms() as u64),
    }));
}

#[test]
fn whoelsesince_follows_the_clock() {
    let f = fixture(&[]);
    let (_, _hans) = f.login("hans");
    let (vader, _) = f.login("vader");
    f.disconnect(vader);
    assert_eq!(f.hub.whoelsesince("hans", 1), ["vader"]);
    f.clock.advance(Duration::from_millis(1500));
    assert!(f.hub.whoelsesince("hans", 1).is_empty());
    assert_eq!(f.hub.whoelsesince("hans", 2), ["vader"]);
    assert!(f.hub.whoelse("hans").is_empty());
}

#[test]
fn private_requests_are_checked_and_answered() {
    let f = fixture(&[]);
    let (hans_conn, hans) = f.login("hans");
    let (yoda_conn, yoda) = f.login("yoda");
    assert_eq!(
        f.hub.start_private("hans", "yoda"),
        Err(PrivateError::Unavailable)
    );
    f.hub
        .set_private_listen(yoda_conn, None, 4000, Some("ab".repeat(32)));
    f.hub.set_private_listen(hans_conn, None, 4001, None);
    let serial = f.hub.start_private("hans", "yoda").unwrap();
    assert_eq!(
        f.hub.start_private("yoda", "hans"),
        Err(PrivateError::AlreadyActive)
    );
    assert_eq!(
        f.hub.answer_private("hans", "yoda", true),
        Err(PrivateError::NoRequest)
    );
    f.hub.answer_private("yoda", "hans", true).unwrap();
    // Expiring an answered request changes nothing.
    f.hub.expire_private("hans", "yoda", serial);
    assert_eq!(f.hub.who()[0].private, ["yoda"]);
    // The requester gets where to connect and the fingerprint of the target's listener; the
    // target, who waits for the connection, gets neither.
    let start = |events: Vec<Event>| {
        events
            .into_iter()
            .find_map(|e| match e {
                Event::PrivateStart {
                    addr, fingerprint, ..
                } => Some((addr, fingerprint)),
                _ => None,
            })
            .expect("a private_start")
    };
    let (addr, fingerprint) = start(f.events(&hans));
    assert!(addr.is_some_and(|a| a.ends_with(":4000")));
    assert_eq!(fingerprint, Some("ab".repeat(32)));
    assert_eq!(start(f.events(&yoda)), (None, None));
    f.disconnect(yoda_conn);
    assert!(f.events(&hans).contains(&Event::PrivateEnded {
        peer: "yoda".into()
    }));
}

/// Sessions ended by the shutdown are not announced (every other session is being closed
/// too: announcing each to all was N² frames), yet each still counts as a logout: the
/// connection is told to record it, and `whoelsesince` has its time.
#[test]
fn shutdown_queues_no_presence_but_notes_logouts() {
    let f = fixture(&[]);
    let (hans_conn, hans) = f.login("hans");
    let (yoda_conn, yoda) = f.login("yoda");
    let (_, leia) = f.login("leia");
    for rx in [&hans, &yoda, &leia] {
        f.events(rx);
    }
    f.hub.shutdown();
    let shutdown: Arc<str> = event_line(&Event::Shutdown);
    for rx in [&hans, &yoda, &leia] {
        assert!(matches!(rx.try_recv(), Ok(Outgoing::Frame(l)) if l == shutdown));
        assert!(matches!(rx.try_recv(), Ok(Outgoing::Close)));
    }
    assert_eq!(f.disconnect(yoda_conn).as_deref(), Some("yoda"));
    assert_eq!(f.disconnect(hans_conn).as_deref(), Some("hans"));
    // Nothing queued behind the Close: no presence for anyone.
    for rx in [&hans, &yoda, &leia] {
        assert!(rx.try_recv().is_err());
    }
    f.clock.advance(Duration::from_secs(5));
    assert_eq!(f.hub.whoelsesince("leia", 10), ["hans", "yoda"]);
    assert!(f.hub.whoelse("leia").is_empty());
}

/// Who logged in or out, in the order `events` were written, and whether each was in.
fn changes(events: &[Event]) -> Vec<(String, bool)> {
    events
        .iter()
        .map(|e| match e {
            Event::Presence { user, online, .. } => (user.clone(), *online),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn presence_is_logged_once_and_written_by_each_connection_as_batches() {
    let f = fixture(&[]);
    let (hans_conn, hans) = f.login("hans");
    let ids: Vec<ConnId> = ["yoda", "luke", "leia"]
        .iter()
        .map(|u| f.login(u).0)
        .collect();
    // Nothing is queued per recipient: hans's queue holds nothing, the log holds the changes.
    assert_eq!(hans.len(), 0);
    assert!(hans.seen() < f.hub.presence_head());
    // Written as the task writes them: one line for the three logins, in order.
    let mut buf = Vec::new();
    assert!(f
        .hub
        .presence_into(hans_conn, u64::MAX, &mut buf, usize::MAX));
    let text = String::from_utf8(buf).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    match ServerFrame::decode(text.trim_end().as_bytes()).unwrap() {
        ServerFrame::Event(Event::PresenceBatch { users, online, .. }) => {
            assert!(online);
            assert_eq!(users, ["yoda", "luke", "leia"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(hans.seen(), f.hub.presence_head(), "and not again");
    assert!(f.events(&hans).is_empty());
    // Then two logouts, a batch of their own kind; the last one sees only what came after
    // its own login.
    for id in &ids[..2] {
        f.disconnect(*id);
    }
    assert_eq!(
        changes(&f.events(&hans)),
        [("yoda".to_string(), false), ("luke".to_string(), false)]
    );
    let leia = f.conns.borrow()[3].1.clone();
    assert_eq!(
        changes(&f.events(&leia)),
        [("yoda".to_string(), false), ("luke".to_string(), false)]
    );
}

#[test]
fn presence_keeps_its_place_among_the_other_items() {
    let f = fixture(&[]);
    let (_, hans) = f.login("hans");
    let (_, luke) = f.login("luke");
    f.events(&hans);
    // Queued before yoda logs in: written before yoda's login.
    f.hub
        .message("luke", "hans", "one", &f.store, 10, 1)
        .unwrap();
    let (yoda_conn, _) = f.login("yoda");
    // Queued after: written after it, though the login is in the log, not the queue.
    f.hub
        .message("luke", "hans", "two", &f.store, 10, 2)
        .unwrap();
    f.disconnect(yoda_conn);
    // The connection's own answers too (a `whoelse` answer after the logout it reflects).
    f.hub
        .push_own(&hans, Outgoing::Frame(event_line(&Event::Shutdown)))
        .unwrap();
    let seen: Vec<String> = f
        .events(&hans)
        .into_iter()
        .map(|e| match e {
            Event::Message { text, .. } => text,
            Event::Presence { user, online, .. } => format!("{user}:{online}"),
            Event::Shutdown => "own".into(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seen, ["one", "yoda:true", "two", "yoda:false", "own"]);
    assert_eq!(
        changes(&f.events(&luke)),
        [("yoda".to_string(), true), ("yoda".to_string(), false)]
    );
}

#[test]
fn presence_during_a_login_comes_after_its_welcome() {
    let f = fixture(&[]);
    let (_, _hans) = f.login("hans");
    let out = Outbox::new(64, Acks::default());
    let id = f.open(&out);
    let load = f.hub.begin_login(id, "yoda", &f.store).unwrap();
    // Logins while yoda's backlog loads: not written before the welcome.
    let (luke_conn, _) = f.login("luke");
    let mut buf = Vec::new();
    assert!(f.hub.presence_into(id, u64::MAX, &mut buf, usize::MAX));
    assert!(buf.is_empty(), "held until the login is finished");
    let backlog = smol::block_on(load).unwrap();
    let welcome = event_line(&Event::Shutdown);
    f.hub.finish_login(
        id,
        Outgoing::Frame(Arc::clone(&welcome)),
        Some(backlog),
        &f.store,
    );
    f.disconnect(luke_conn);
    let seen = f.events(&out);
    assert_eq!(seen[0], Event::Shutdown, "the stand-in welcome first");
    assert_eq!(
        changes(&seen[1..]),
        [("luke".to_string(), true), ("luke".to_string(), false)]
    );
}

#[test]
fn presence_rounds_wake_the_idle_trim_the_log_and_drop_who_lags_too_far() {
    let f = fixture(&[]);
    let (_, hans) = f.login("hans");
    // A queue of 1 item: at most PRESENCE_RUN_MAX changes behind.
    let small = Outbox::new(1, Acks::default());
    let slow = f.login_on(&small, "slow");
    f.events(&hans);
    // A round: the idle connections get a marker (and a wake-up); the log is kept for them.
    let (yoda_conn, _) = f.login("yoda");
    assert!(f.hub.presence_round(), "changes still unwritten");
    assert!(matches!(hans.try_recv(), Ok(Outgoing::PresenceUpTo(_))));
    assert!(matches!(
        small.take().items.pop_front(),
        Some(Outgoing::PresenceUpTo(_))
    ));
    assert_eq!(changes(&f.events(&hans)), [("yoda".to_string(), true)]);
    // Too far behind: dropped as a slow consumer, like a full queue.
    for i in 0..presence::PRESENCE_RUN_MAX {
        f.hub.disconnect(yoda_conn, Default::default(), &f.store);
        let (id, _) = f.login(&format!("u{i}"));
        f.disconnect(id);
    }
    f.events(&hans);
    assert!(f.hub.presence_round());
    assert!(small.is_killed());
    assert_eq!(f.hub.counters.slow_dropped.load(Ordering::Relaxed), 1);
    // Once everyone still logged in has written its changes, the log is empty again.
    f.hub.disconnect(slow, Default::default(), &f.store);
    f.events(&hans);
    assert!(!f.hub.presence_round(), "nothing left to write");
}

#[test]
fn block_lists_are_kept_both_ways_and_forgotten_both_ways() {
    let mut b = super::Blocks::default();
    b.insert("hans", "vader");
    b.insert("luke", "vader");
    b.insert("vader", "yoda");
    assert!(b.blocks("hans", "vader") && !b.blocks("vader", "hans"));
    let blockers: Vec<&String> = {
        let mut v: Vec<&String> = b.blockers_of("vader").unwrap().iter().collect();
        v.sort();
        v
    };
    assert_eq!(blockers, ["hans", "luke"]);
    b.remove("hans", "vader");
    assert!(!b.blocks("hans", "vader"));
    assert!(b.blocked_by("hans").is_none(), "an emptied list is dropped");
    assert_eq!(b.blockers_of("vader").unwrap().len(), 1);
    b.forget("vader");
    assert!(b.blockers_of("vader").is_none());
    assert!(b.blocked_by("vader").is_none());
    assert!(b.blockers_of("yoda").is_none());
    assert!(b.blocked_by("luke").is_none());
}
