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
}
