//! How an executor thread runs: its tasks, and the reactor (the sockets' readiness and the
//! timers) on the same thread, and when connections write.
//!
//! `smol::block_on(executor.run(..))` drives the reactor only when the executor has nothing
//! to run; while it is busy, async-io's own helper thread takes the reactor over, and then
//! every socket event crosses threads (a wake-up, a context switch) to reach the task it is
//! for. Measured on two cores, that helper thread took 12 % of chatd's CPU in the direct
//! message benchmark. [`drive`] runs the tasks in batches and, between batches, lets
//! `block_on` poll the reactor without waiting (one `epoll_wait` with a zero timeout), so the
//! reactor ticks on this thread and the helper thread stays asleep; with nothing to run it
//! waits in the reactor as before.
//!
//! Writes wait for the end of the batch ([`flush_point`]), as a Redis event loop writes its
//! replies just before it sleeps: a connection that has something to write lets every task
//! already runnable go first, so what they queue for it (the next broadcast, more presence,
//! the answers to more requests) leaves in the same write. When the thread has nothing else to
//! run, that is at once.
//!
//! Background work that should not crowd the connections out waits for the thread to be
//! idle ([`idle`]): nothing runnable, no writer waiting at a flush point. The presence rounds
//! do: with 15,000 clients online, writing one round's presence to all of them can take
//! as long as the delay between rounds, and rounds back to back left the logins waiting.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::thread::LocalKey;

use futures_lite::future;
use smol::Executor;

/// Tasks run between two looks at the reactor while the executor is busy.
const BATCH: u32 = 64;
/// Batches run before the writers waiting at a flush point go, while the executor is busy.
const FLUSH_EVERY: u32 = 4;

thread_local! {
    /// Whether this thread runs [`drive`] (a flush point elsewhere passes at once).
    static DRIVING: Cell<bool> = const { Cell::new(false) };
    /// The tasks waiting at a flush point.
    static FLUSH: RefCell<Vec<Waker>> = const { RefCell::new(Vec::new()) };
    /// The tasks waiting for the thread to be idle.
    static IDLE: RefCell<Vec<Waker>> = const { RefCell::new(Vec::new()) };
}

type Waiters = LocalKey<RefCell<Vec<Waker>>>;

/// Wakes the tasks waiting in `list`; false if there were none.
fn wake_all(list: &'static Waiters) -> bool {
    let waiting = list.with(|f| std::mem::take(&mut *f.borrow_mut()));
    let any = !waiting.is_empty();
    for w in waiting {
        w.wake();
    }
    any
}

/// Wakes the tasks waiting at a flush point; false if there were none.
fn flush() -> bool {
    wake_all(&FLUSH)
}

/// Runs `ex`'s tasks on this thread, with the reactor, until `until` completes.
pub(crate) fn drive<T>(ex: &Executor<'_>, until: impl Future<Output = T>) -> T {
    DRIVING.with(|d| d.set(true));
    let out = smol::block_on(future::or(until, async {
        let mut busy = 0u32;
        loop {
            let mut ran = 0;
            while ran < BATCH && ex.try_tick() {
                ran += 1;
            }
            if ran == BATCH {
                // Still busy: every few batches let the writers waiting for the end of the
                // batch go, then back to `block_on`, which finds itself woken, polls the
                // reactor without waiting, and polls this again.
                busy += 1;
                if busy >= FLUSH_EVERY {
                    busy = 0;
                    flush();
                }
                future::yield_now().await;
            } else {
                busy = 0;
                if !flush() && !wake_all(&IDLE) {
                    // Nothing runnable and nobody to flush or to tell: wait (in the reactor)
                    // for a task, and run it.
                    ex.tick().await;
                }
            }
        }
    }));
    DRIVING.with(|d| d.set(false));
    out
}

/// Waits until the tasks runnable now on this executor thread have had their turn (at most a
/// batch of them): see the module docs. Passes at once on a thread [`drive`] does not run.
pub(crate) fn flush_point() -> Turn {
    Turn {
        list: &FLUSH,
        waited: false,
    }
}

/// Waits until this executor thread has nothing runnable and no writer waiting at a flush
/// point (see the module docs). Passes at once on a thread [`drive`] does not run.
pub(crate) fn idle() -> Turn {
    Turn {
        list: &IDLE,
        waited: false,
    }
}

/// A wait for [`drive`] to reach a point of its loop: a flush point ([`flush_point`]) or an
/// idle thread ([`idle`]). The task waits in `list` once, and goes on when woken from it.
pub(crate) struct Turn {
    list: &'static Waiters,
    waited: bool,
}

impl Future for Turn {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.waited || !DRIVING.with(Cell::get) {
            return Poll::Ready(());
        }
        self.waited = true;
        self.list.with(|f| f.borrow_mut().push(cx.waker().clone()));
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn a_flush_point_lets_the_runnable_tasks_go_first() {
        let ex = Executor::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        let o = Arc::clone(&order);
        tasks.push(ex.spawn(async move {
            o.lock().unwrap().push("first, before its flush point");
            flush_point().await;
            o.lock().unwrap().push("flushed");
        }));
        for _ in 0..3 {
            let o = Arc::clone(&order);
            tasks.push(ex.spawn(async move { o.lock().unwrap().push("other") }));
        }
        drive(&ex, async {
            for t in tasks {
                t.await;
            }
        });
        assert_eq!(
            *order.lock().unwrap(),
            [
                "first, before its flush point",
                "other",
                "other",
                "other",
                "flushed"
            ]
        );
    }

    #[test]
    fn a_flush_point_passes_at_once_where_drive_does_not_run() {
        assert!(future::block_on(future::poll_once(flush_point())).is_some());
        assert!(future::block_on(future::poll_once(idle())).is_some());
    }

    #[test]
    fn idle_waits_for_the_runnable_tasks_and_the_flushed_writers() {
        let ex = Executor::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        let o = Arc::clone(&order);
        tasks.push(ex.spawn(async move {
            idle().await;
            o.lock().unwrap().push("idle");
        }));
        let o = Arc::clone(&order);
        tasks.push(ex.spawn(async move {
            flush_point().await;
            o.lock().unwrap().push("flushed");
        }));
        for _ in 0..100 {
            let o = Arc::clone(&order);
            tasks.push(ex.spawn(async move { o.lock().unwrap().push("other") }));
        }
        drive(&ex, async {
            for t in tasks {
                t.await;
            }
        });
        let order = order.lock().unwrap();
        // Over a batch of others first, then the writer at its flush point, then idle.
        assert_eq!(order.len(), 102);
        assert_eq!(order[100..], ["flushed", "idle"]);
    }
}
