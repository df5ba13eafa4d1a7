//! The registrations-per-address limit (`limits.registrations_per_ip_per_hour`): how many new
//! accounts each client address created in the last hour, on the server's clock. Times are
//! passed in; nothing here is persisted (a restart forgets the window).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

/// The window the limit counts in.
const HOUR_MS: i64 = 3600 * 1000;

/// Recent registrations per address.
#[derive(Default)]
pub struct Registrations {
    /// Registration times (ms) per address, oldest first, none older than an hour once
    /// pruned. Held briefly; never across an `.await`.
    map: Mutex<HashMap<IpAddr, VecDeque<i64>>>,
}

impl Registrations {
    /// Whether `ip` may register one more account at `now_ms` under a limit of `per_hour`
    /// (0: unlimited).
    pub fn allows(&self, ip: IpAddr, now_ms: i64, per_hour: u32) -> bool {
        if per_hour == 0 {
            return true;
        }
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(&ip) {
            Some(times) => {
                prune(times, now_ms);
                times.len() < per_hour as usize
            }
            None => true,
        }
    }

    /// Takes one registration for `ip` at `now_ms` if the limit allows it; returns whether it
    /// did. Forgets addresses with nothing in the window, so memory follows recent activity.
    pub fn take(&self, ip: IpAddr, now_ms: i64, per_hour: u32) -> bool {
        if per_hour == 0 {
            return true;
        }
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, times| {
            prune(times, now_ms);
            !times.is_empty()
        });
        let times = map.entry(ip).or_default();
        if times.len() >= per_hour as usize {
            return false;
        }
        times.push_back(now_ms);
        true
    }
}

fn prune(times: &mut VecDeque<i64>, now_ms: i64) {
    while times.front().is_some_and(|&t| t <= now_ms - HOUR_MS) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_address_per_hour() {
        let r = Registrations::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!(r.take(a, 0, 2));
        assert!(r.take(a, 1000, 2));
        assert!(!r.allows(a, 2000, 2));
        assert!(!r.take(a, 2000, 2));
        assert!(r.allows(b, 2000, 2) && r.take(b, 2000, 2));
        // The first one leaves the window an hour later.
        assert!(!r.allows(a, HOUR_MS - 1, 2));
        assert!(r.allows(a, HOUR_MS, 2));
        assert!(r.take(a, HOUR_MS, 2));
        // 0: unlimited, nothing kept.
        for t in 0..100 {
            assert!(r.take(b, t, 0));
        }
    }
}
