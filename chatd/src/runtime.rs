//! How an executor thread runs: its tasks, and the reactor (the sockets' readiness and the
//! timers) on the same thread.
//!
//! `smol::block_on(executor.run(..))` drives the reactor only when the executor has nothing
//! to run; while it is busy, async-io's own helper thread takes the reactor over, and then
//! every socket event crosses threads (a wake-up, a context switch) to reach the task it is
//! for. Measured on two cores, that helper thread took 12 % of chatd's CPU in the direct
//! message benchmark. [`drive`] runs the tasks in batches and, between batches, lets
//! `block_on` poll the reactor without waiting (one `epoll_wait` with a zero timeout), so the
//! reactor ticks on this thread and the helper thread stays asleep; with nothing to run it
//! waits in the reactor as before.

use std::future::Future;

use futures_lite::future;
use smol::Executor;

/// Tasks run between two looks at the reactor while the executor is busy.
const BATCH: u32 = 64;

/// Runs `ex`'s tasks on this thread, with the reactor, until `until` completes.
pub(crate) fn drive<T>(ex: &Executor<'_>, until: impl Future<Output = T>) -> T {
    smol::block_on(future::or(until, async {
        loop {
            let mut ran = 0;
            while ran < BATCH && ex.try_tick() {
                ran += 1;
            }
            if ran == BATCH {
                // Still busy: back to `block_on`, which finds itself woken, polls the reactor
                // without waiting, and polls this again.
                future::yield_now().await;
            } else {
                // Nothing runnable: wait (in the reactor) for a task, and run it.
                ex.tick().await;
            }
        }
    }))
}
