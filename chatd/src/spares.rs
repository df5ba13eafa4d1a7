//! Per-thread spares: emptied buffers and queues kept by each executor thread for the next
//! connection that needs one, so that a busy server reuses them instead of allocating and
//! freeing one per read, write or batch, and an idle connection keeps none.

use std::cell::RefCell;
use std::thread::LocalKey;

/// One kind of spare: the thread-local list they are kept in, and how many to keep.
pub(crate) struct Spares<T: 'static> {
    /// The list (a `thread_local!` of an empty `Vec`).
    pub(crate) list: &'static LocalKey<RefCell<Vec<T>>>,
    /// The most kept per thread.
    pub(crate) keep: usize,
}

impl<T> Spares<T> {
    /// A spare, if this thread has one.
    pub(crate) fn take(&self) -> Option<T> {
        self.list.with(|s| s.borrow_mut().pop())
    }

    /// Keeps `item` (emptied by the caller) if there is room; drops it otherwise.
    pub(crate) fn give(&self, item: T) {
        self.list.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < self.keep {
                s.push(item);
            }
        });
    }
}
