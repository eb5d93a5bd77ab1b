//! A global allocator that keeps freed large blocks for the next request of the same size.
//!
//! A training step allocates and frees the same activation-sized buffers layer after layer and
//! step after step. Above glibc's largest mmap threshold (32 MiB: every level-1 activation of
//! a width-64 U-Net on 4 × 256² pixels is 64 MiB) each one is a fresh mapping: the kernel zeroes
//! it page by page on first touch, and unmapping it flushes the other cores' TLBs. That was 11 %
//! of a width-64 training step on the AVX-512 Xeon. Binaries install it with
//! `#[global_allocator] static ALLOCATOR: urisc_cpu::Recycling = urisc_cpu::Recycling;` and
//! switch it on with [`Recycling::keep_freed_blocks`] for training: kept blocks raise peak
//! memory (streamed prediction of a section: 70 → 101 MiB, no faster), so it is off by default.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Blocks this large or larger are kept when freed (smaller ones are glibc's business: it
/// recycles them itself).
const MIN_BLOCK: usize = 1 << 22;
/// Blocks kept at most.
const SLOTS: usize = 32;
/// Bytes kept at most (the largest blocks come first to go when a new one would pass it).
const MAX_KEPT: usize = 1 << 31;

/// Freed blocks: (address, size, alignment) of each slot, address 0 where empty.
static KEPT: Mutex<[(usize, usize, usize); SLOTS]> = Mutex::new([(0, 0, 0); SLOTS]);
/// Whether freed large blocks are kept (see [`Recycling::keep_freed_blocks`]).
static KEEPING: AtomicBool = AtomicBool::new(false);

/// The system allocator, except that once [`Recycling::keep_freed_blocks`] is on, freed blocks of
/// 4 MiB or more with alignment ≤ 16 are kept (up to 32 blocks and 2 GiB) and handed out again
/// for a request of exactly their layout.
pub struct Recycling;

impl Recycling {
    /// Keeps freed large blocks from now on (`true`), or frees them again (`false`, which also
    /// returns the blocks kept so far to the system).
    pub fn keep_freed_blocks(keep: bool) {
        KEEPING.store(keep, Ordering::Relaxed);
        if keep {
            return;
        }
        let kept = std::mem::replace(&mut *Self::slots(), [(0, 0, 0); SLOTS]);
        for (ptr, size, align) in kept {
            if ptr != 0 {
                // SAFETY: a kept block, owned by the cache alone, allocated by `System` with
                // this size and alignment (see `dealloc`).
                unsafe {
                    System.dealloc(
                        ptr as *mut u8,
                        Layout::from_size_align_unchecked(size, align),
                    )
                };
            }
        }
    }

    /// The slots, locked. A poisoned lock only means a panic elsewhere while it was held; the
    /// slots are always consistent (each update is one assignment).
    fn slots() -> std::sync::MutexGuard<'static, [(usize, usize, usize); SLOTS]> {
        KEPT.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether blocks of `layout` are kept.
    fn kept(layout: Layout) -> bool {
        layout.size() >= MIN_BLOCK && layout.align() <= 16
    }

    /// A kept block of exactly `layout` (size and alignment), taken out of the cache.
    fn take(layout: Layout) -> Option<*mut u8> {
        let mut kept = Self::slots();
        let slot = kept
            .iter_mut()
            .find(|(ptr, s, a)| *ptr != 0 && *s == layout.size() && *a == layout.align())?;
        let ptr = slot.0 as *mut u8;
        *slot = (0, 0, 0);
        Some(ptr)
    }

    /// Keeps `ptr` (allocated with `layout`), or returns false where keeping is off or the cache
    /// is full.
    fn keep(ptr: *mut u8, layout: Layout) -> bool {
        if !KEEPING.load(Ordering::Relaxed) {
            return false;
        }
        let mut kept = Self::slots();
        let total: usize = kept.iter().map(|&(_, s, _)| s).sum();
        if total + layout.size() > MAX_KEPT {
            return false;
        }
        match kept.iter_mut().find(|(p, _, _)| *p == 0) {
            Some(slot) => {
                *slot = (ptr as usize, layout.size(), layout.align());
                true
            }
            None => false,
        }
    }
}

// SAFETY: every block handed out is either fresh from `System` or a kept one allocated by
// `System` with exactly the requested layout; kept blocks are owned by the cache alone until taken
// again or returned to `System` with that layout (`keep_freed_blocks(false)`).
unsafe impl GlobalAlloc for Recycling {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if Self::kept(layout) {
            if let Some(ptr) = Self::take(layout) {
                return ptr;
            }
        }
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if Self::kept(layout) {
            if let Some(ptr) = Self::take(layout) {
                // SAFETY: a kept block of `layout.size()` bytes, owned by the caller now.
                unsafe { std::ptr::write_bytes(ptr, 0, layout.size()) };
                return ptr;
            }
        }
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if Self::kept(layout) && Self::keep(ptr, layout) {
            return;
        }
        // SAFETY: `ptr` was allocated with `layout` (caller's contract; a kept block is only
        // handed out for the layout `System` allocated it with).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc`, whose new layout has `layout`'s alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !Self::kept(layout) && !Self::kept(new_layout) {
            // SAFETY: neither block is one the cache deals with: `System` allocated `ptr`.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: as `alloc` for the new layout.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks hold at least the smaller size; they are distinct blocks.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            // SAFETY: `ptr` was allocated with `layout` (caller's contract).
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_large_block_is_handed_out_again_for_its_size_only() {
        let recycling = Recycling;
        Recycling::keep_freed_blocks(true);
        let layout = Layout::from_size_align(MIN_BLOCK + 4096, 16).unwrap();
        let other = Layout::from_size_align(MIN_BLOCK + 8192, 16).unwrap();
        // SAFETY: layouts of non-zero size; each block is freed once with its own layout.
        unsafe {
            let a = recycling.alloc(layout);
            a.write_bytes(7, layout.size());
            recycling.dealloc(a, layout);
            let b = recycling.alloc(other);
            assert_ne!(a, b, "a block of another size is not reused");
            let c = recycling.alloc_zeroed(layout);
            assert_eq!(c, a, "the kept block comes back for its size");
            assert!(std::slice::from_raw_parts(c, layout.size())
                .iter()
                .all(|&v| v == 0));
            recycling.dealloc(b, other);
            recycling.dealloc(c, layout);
            // Switching off returns the kept blocks: none is handed out again.
            Recycling::keep_freed_blocks(false);
            assert!(Recycling::slots().iter().all(|&(ptr, _, _)| ptr == 0));
            let d = recycling.alloc(layout);
            recycling.dealloc(d, layout);
            assert!(Recycling::slots().iter().all(|&(ptr, _, _)| ptr == 0));
            // Small blocks go to the system allocator untouched.
            let small = Layout::from_size_align(64, 8).unwrap();
            let s = recycling.alloc(small);
            recycling.dealloc(s, small);
        }
    }
}
