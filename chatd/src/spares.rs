//! Per-thread spares: emptied buffers and queues kept by each executor thread for the next
//! connection that needs one, so that a busy server reuses them instead of allocating and
//! freeing one per read, write or batch, and an idle connection keeps none.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::thread::LocalKey;

/// Declares a [`Spares`] with its own thread-local list:
/// `spares!(/// docs\n static NAME: Type, keep N, largest M);`.
macro_rules! spares {
    ($(#[$doc:meta])* static $name:ident: $t:ty, keep $keep:expr, largest $largest:expr) => {
        $(#[$doc])*
        static $name: $crate::spares::Spares<$t> = {
            thread_local! {
                static LIST: std::cell::RefCell<Vec<$t>> =
                    const { std::cell::RefCell::new(Vec::new()) };
            }
            $crate::spares::Spares {
                list: &LIST,
                keep: $keep,
                largest: $largest,
            }
        };
    };
}
pub(crate) use spares;

/// What can be kept as a spare: a buffer with a capacity that can be emptied.
pub(crate) trait Reusable {
    /// Room it has, in elements.
    fn capacity(&self) -> usize;
    /// Empties it, keeping its room.
    fn clear(&mut self);
}

impl<T> Reusable for Vec<T> {
    fn capacity(&self) -> usize {
        Vec::capacity(self)
    }
    fn clear(&mut self) {
        Vec::clear(self);
    }
}

impl<T> Reusable for VecDeque<T> {
    fn capacity(&self) -> usize {
        VecDeque::capacity(self)
    }
    fn clear(&mut self) {
        VecDeque::clear(self);
    }
}

/// One kind of spare: the thread-local list they are kept in, how many to keep, and the
/// largest kept (one burst's big buffer is not held for good).
pub(crate) struct Spares<T: 'static> {
    /// The list (a `thread_local!` of an empty `Vec`).
    pub(crate) list: &'static LocalKey<RefCell<Vec<T>>>,
    /// The most kept per thread.
    pub(crate) keep: usize,
    /// The largest capacity kept.
    pub(crate) largest: usize,
}

impl<T: Reusable> Spares<T> {
    /// A spare, if this thread has one.
    pub(crate) fn take(&self) -> Option<T> {
        self.list.with(|s| s.borrow_mut().pop())
    }

    /// Keeps `item`, emptied, if it has room worth keeping (none is not, more than
    /// `largest` is too much) and there is room for it; drops it otherwise.
    pub(crate) fn give(&self, mut item: T) {
        let room = item.capacity();
        if room == 0 || room > self.largest {
            return;
        }
        item.clear();
        self.list.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < self.keep {
                s.push(item);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static KEPT: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    }

    #[test]
    fn spares_keep_only_emptied_buffers_of_a_useful_size_and_only_so_many() {
        let spares = Spares {
            list: &KEPT,
            keep: 2,
            largest: 64,
        };
        spares.give(Vec::new());
        spares.give(Vec::with_capacity(65));
        assert!(spares.take().is_none(), "no room, or too much, is not kept");
        for _ in 0..3 {
            let mut v = Vec::with_capacity(8);
            v.push(1);
            spares.give(v);
        }
        let kept = spares.take().unwrap();
        assert!(kept.is_empty() && kept.capacity() >= 8);
        assert!(spares.take().is_some());
        assert!(spares.take().is_none(), "two kept at most");
    }
}
