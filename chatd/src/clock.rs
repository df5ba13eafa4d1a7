//! Time for the server's logic: the lockout, the login and inactivity timeouts, `whoelsesince`,
//! login and logout times, the message rate limit and private-request expiry all read it
//! through [`Clock`], so a test can run them on a [`ManualClock`] that only moves when told,
//! instead of sleeping on the real one.
//!
//! The server holds an [`AnyClock`], chosen once at start: a match, not a virtual call, on every
//! read. Figures that only describe the process (uptime, the store's own time stamps) use the
//! system clock directly.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, on the system clock.
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A source of time.
pub trait Clock: Send + Sync {
    /// Monotonic time, for deadlines.
    fn now(&self) -> Instant;
    /// Milliseconds since the Unix epoch, for times that are stored or compared across restarts.
    fn now_ms(&self) -> i64;
    /// An alarm that goes off once this clock reaches `at` (and can be moved).
    fn alarm(&self, at: Instant) -> Alarm;
    /// Monotonic time to within a few milliseconds (the kernel's tick), from an arbitrary
    /// start: much cheaper to read than [`Clock::now`], for what is read per message and needs
    /// no finer grain (the message rate limit). Only differences between two readings mean
    /// anything.
    fn coarse(&self) -> Duration;
}

/// The operating system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn now_ms(&self) -> i64 {
        wall_ms()
    }

    fn alarm(&self, at: Instant) -> Alarm {
        Alarm::System(smol::Timer::at(at))
    }

    fn coarse(&self) -> Duration {
        coarse_monotonic()
    }
}

/// `CLOCK_MONOTONIC_COARSE`: the time of the kernel's last tick, read from the vDSO's data
/// without touching the hardware clock (which `Instant::now` reads: 2-3 % of chatd's CPU when
/// it was read per message).
#[cfg(target_os = "linux")]
fn coarse_monotonic() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    if rc != 0 {
        return fine_monotonic();
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

#[cfg(not(target_os = "linux"))]
fn coarse_monotonic() -> Duration {
    fine_monotonic()
}

/// The precise clock as a [`Duration`] since the first call: where there is no coarse one.
#[cfg_attr(target_os = "linux", allow(dead_code))]
fn fine_monotonic() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// A clock that stands still until [`ManualClock::advance`] moves it; alarms waiting on it go
/// off then. Starts at the system's time of its creation.
#[derive(Clone)]
pub struct ManualClock(Arc<Manual>);

struct Manual {
    start: Instant,
    start_ms: i64,
    /// Held briefly, never across an `.await`.
    state: Mutex<ManualState>,
}

struct ManualState {
    elapsed: Duration,
    /// Alarms to re-check when the clock moves.
    waiting: Vec<Waker>,
}

impl ManualClock {
    /// A clock at the current system time, standing still.
    pub fn new() -> ManualClock {
        ManualClock(Arc::new(Manual {
            start: Instant::now(),
            start_ms: wall_ms(),
            state: Mutex::new(ManualState {
                elapsed: Duration::ZERO,
                waiting: Vec::new(),
            }),
        }))
    }

    /// Moves the clock forward by `by` and wakes the alarms, which go off if their time came.
    pub fn advance(&self, by: Duration) {
        let waiting = {
            let mut st = self.0.lock();
            st.elapsed += by;
            std::mem::take(&mut st.waiting)
        };
        for w in waiting {
            w.wake();
        }
    }

    fn elapsed(&self) -> Duration {
        self.0.lock().elapsed
    }
}

impl Manual {
    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.0.start + self.elapsed()
    }

    fn now_ms(&self) -> i64 {
        self.0.start_ms + self.elapsed().as_millis() as i64
    }

    fn alarm(&self, at: Instant) -> Alarm {
        Alarm::Manual {
            clock: self.clone(),
            at,
        }
    }

    fn coarse(&self) -> Duration {
        self.elapsed()
    }
}

/// The clock a server runs on.
#[derive(Clone, Default)]
pub enum AnyClock {
    /// The real one.
    #[default]
    System,
    /// A test's.
    Manual(ManualClock),
}

impl From<ManualClock> for AnyClock {
    fn from(c: ManualClock) -> Self {
        AnyClock::Manual(c)
    }
}

impl Clock for AnyClock {
    fn now(&self) -> Instant {
        match self {
            AnyClock::System => SystemClock.now(),
            AnyClock::Manual(c) => c.now(),
        }
    }

    fn now_ms(&self) -> i64 {
        match self {
            AnyClock::System => SystemClock.now_ms(),
            AnyClock::Manual(c) => c.now_ms(),
        }
    }

    fn alarm(&self, at: Instant) -> Alarm {
        match self {
            AnyClock::System => SystemClock.alarm(at),
            AnyClock::Manual(c) => c.alarm(at),
        }
    }

    fn coarse(&self) -> Duration {
        match self {
            AnyClock::System => SystemClock.coarse(),
            AnyClock::Manual(c) => c.coarse(),
        }
    }
}

impl AnyClock {
    /// Waits `d` on this clock.
    pub(crate) async fn sleep(&self, d: Duration) {
        self.alarm(self.now() + d).await;
    }
}

/// A re-armable timer on some [`Clock`]; a future that completes when the time comes.
pub enum Alarm {
    /// On the system clock: the reactor's timer.
    System(smol::Timer),
    /// On a manual clock.
    Manual {
        /// The clock.
        clock: ManualClock,
        /// When it goes off.
        at: Instant,
    },
}

impl Alarm {
    /// Moves the alarm to `at` (re-using the reactor's registration for the system clock).
    pub fn set_at(&mut self, at: Instant) {
        match self {
            Alarm::System(t) => t.set_at(at),
            Alarm::Manual { at: when, .. } => *when = at,
        }
    }
}

impl Future for Alarm {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.get_mut() {
            Alarm::System(t) => Pin::new(t).poll(cx).map(drop),
            Alarm::Manual { clock, at } => {
                let mut st = clock.0.lock();
                if clock.0.start + st.elapsed >= *at {
                    return Poll::Ready(());
                }
                if !st.waiting.iter().any(|w| w.will_wake(cx.waker())) {
                    st.waiting.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_alarm_goes_off_only_when_the_clock_reaches_it() {
        let clock = ManualClock::new();
        let any = AnyClock::from(clock.clone());
        let t0 = any.now_ms();
        let mut alarm = any.alarm(any.now() + Duration::from_secs(5));
        let waker = futures_lite::future::block_on(futures_lite::future::poll_fn(|cx| {
            Poll::Ready(cx.waker().clone())
        }));
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut alarm).poll(&mut cx).is_pending());
        clock.advance(Duration::from_secs(4));
        assert!(Pin::new(&mut alarm).poll(&mut cx).is_pending());
        clock.advance(Duration::from_secs(1));
        assert!(Pin::new(&mut alarm).poll(&mut cx).is_ready());
        assert_eq!(any.now_ms() - t0, 5000);
        alarm.set_at(any.now() + Duration::from_secs(1));
        assert!(Pin::new(&mut alarm).poll(&mut cx).is_pending());
    }

    #[test]
    fn the_coarse_clock_moves_forward_with_the_clock() {
        let clock = ManualClock::new();
        let any = AnyClock::from(clock.clone());
        let c0 = any.coarse();
        clock.advance(Duration::from_millis(1500));
        assert_eq!(any.coarse() - c0, Duration::from_millis(1500));
        // The system's: never backwards, and it does move (within a generous deadline).
        let system = AnyClock::System;
        let start = system.coarse();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = start;
        while last == start {
            assert!(Instant::now() < deadline, "the coarse clock stood still");
            let now = system.coarse();
            assert!(now >= last);
            last = now;
            std::thread::yield_now();
        }
    }
}
