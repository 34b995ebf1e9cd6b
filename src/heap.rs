//! The process's allocator: mimalloc, counting the bytes each thread has allocated and
//! not yet freed, so `segstream bench` can report the engine's state exactly.
//!
//! Contract: [`thread_live_bytes`] is the bytes allocated minus the bytes freed *by the
//! calling thread* (requested sizes, not the allocator's rounding or its free pages). A
//! value allocated on one thread and freed on another moves the count of both, so a
//! difference of two readings is a thread's state only for code that keeps its values
//! on one thread — as the bench's single-threaded engine does.
//!
//! *Why count, when RSS is at hand:* the engine moves its inputs' allocations (event
//! ids, properties, profile rows) into its state and reuses the memory of the ones it
//! drops, so the growth of RSS between two points undercounts what the state holds by
//! what the inputs held. The cost is an add to a thread-local cell per allocation and
//! per free (no atomic, no lock, no allocation: the cell has a constant initialiser and
//! no destructor).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

use mimalloc::MiMalloc;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn add(bytes: isize) {
    LIVE.with(|live| live.set(live.get().wrapping_add(bytes)));
}

/// Bytes allocated and not freed by the calling thread since it started.
pub fn thread_live_bytes() -> isize {
    LIVE.with(Cell::get)
}

/// mimalloc with a per-thread count of live bytes.
pub struct CountingMiMalloc;

// SAFETY: every call is forwarded to mimalloc with the same arguments and its result
// returned unchanged; the count only reads the layouts.
unsafe impl GlobalAlloc for CountingMiMalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is forwarded as is.
        let pointer = unsafe { MiMalloc.alloc(layout) };
        if !pointer.is_null() {
            add(layout.size() as isize);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let pointer = unsafe { MiMalloc.alloc_zeroed(layout) };
        if !pointer.is_null() {
            add(layout.size() as isize);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is forwarded as is.
        unsafe { MiMalloc.dealloc(pointer, layout) };
        add(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is forwarded as is.
        let moved = unsafe { MiMalloc.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            add(new_size as isize - layout.size() as isize);
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_counts_what_it_allocates_until_it_frees_it() {
        let before = thread_live_bytes();
        let block: Vec<u8> = Vec::with_capacity(1 << 20);
        assert_eq!(thread_live_bytes() - before, 1 << 20);
        let mut grown = block;
        grown.reserve_exact(2 << 20);
        assert_eq!(thread_live_bytes() - before, grown.capacity() as isize);
        drop(grown);
        assert_eq!(thread_live_bytes(), before);
    }

    #[test]
    fn another_threads_allocations_are_not_counted_here() {
        let before = thread_live_bytes();
        let kept = std::thread::spawn(|| vec![0u8; 1 << 20]).join().map(|v| v.len());
        assert_eq!(kept.ok(), Some(1 << 20));
        // The vector was allocated on the other thread and freed here; the spawn's own
        // small allocations (its handle, the closure) may be freed on either side.
        let moved = thread_live_bytes() - before;
        assert!((-(1 << 20) - 4096..=-(1 << 20) + 4096).contains(&moved), "{moved}");
    }
}
