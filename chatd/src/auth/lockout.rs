//! The three-strikes lockout: consecutive wrong passwords per user name, across connections
//! and addresses, and the lock they lead to. Times are passed in (from the server's clock).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::store::LockState;

/// Wrong passwords in a row that lock an account.
pub const MAX_FAILURES: u32 = 3;

/// Consecutive-failure counting and locks, per user name, across connections.
pub struct Lockout {
    /// Held briefly; never across an `.await`.
    map: Mutex<HashMap<String, LockState>>,
}

/// What a wrong password did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strike {
    /// Try again.
    Retry,
    /// This one locked the account.
    Locked,
}

impl Lockout {
    /// Starts from the persisted state.
    pub fn new(initial: HashMap<String, LockState>) -> Self {
        Lockout {
            map: Mutex::new(initial),
        }
    }

    /// Whether `user` is locked at `now_ms`.
    pub fn is_locked(&self, user: &str, now_ms: i64) -> bool {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .is_some_and(|s| s.locked_until > now_ms)
    }

    /// Counts a wrong password; returns what it did and the state to persist.
    pub fn fail(&self, user: &str, now_ms: i64, block: Duration) -> (Strike, LockState) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let state = map.entry(user.to_string()).or_insert(LockState {
            failures: 0,
            locked_until: 0,
        });
        if state.locked_until != 0 && state.locked_until <= now_ms {
            // An expired lock starts a fresh count.
            *state = LockState {
                failures: 0,
                locked_until: 0,
            };
        }
        state.failures += 1;
        if state.failures >= MAX_FAILURES {
            state.failures = 0;
            state.locked_until = now_ms + block.as_millis() as i64;
            (Strike::Locked, *state)
        } else {
            (Strike::Retry, *state)
        }
    }

    /// Forgets `user`'s failures (successful login, or an admin unlock). Returns whether the
    /// account was locked.
    pub fn clear(&self, user: &str, now_ms: i64) -> bool {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(user)
            .is_some_and(|s| s.locked_until > now_ms)
    }

    /// Whether `user` has state worth clearing.
    pub fn has_state(&self, user: &str) -> bool {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(user)
    }

    /// Accounts locked at `now_ms`.
    pub fn locked_count(&self, now_ms: i64) -> usize {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|s| s.locked_until > now_ms)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_strikes() {
        let l = Lockout::new(HashMap::new());
        let d = Duration::from_secs(60);
        assert_eq!(l.fail("hans", 0, d).0, Strike::Retry);
        assert_eq!(l.fail("hans", 0, d).0, Strike::Retry);
        assert_eq!(l.fail("hans", 0, d).0, Strike::Locked);
        assert!(l.is_locked("hans", 59_999));
        assert!(!l.is_locked("hans", 60_000));
        assert_eq!(l.fail("hans", 60_001, d).0, Strike::Retry);
    }
}
