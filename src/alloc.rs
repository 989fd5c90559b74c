//! The process allocator: the system's, with blocks of 2 MiB or more offered to Linux as transparent huge pages.
//!
//! Every group the command keeps lands in memory it has never touched: the
//! key arena, the sort's items, the merged table. On Linux each new 4 KiB
//! page costs a page fault: about 32,000 of them on A-network (`make
//! bench`), a quarter of the process's CPU time spent in the kernel. A
//! block this large is a mapping of its own in both glibc's and musl's
//! allocator; marking it `MADV_HUGEPAGE` lets the kernel back it with 2 MiB
//! pages, one fault for 512 (13,000 faults left on A-network). The kernel
//! decides: with `transparent_hugepage` set to `never`, as Splunk's
//! documentation asks of splunkd hosts, the advice is ignored; with
//! `madvise` or `always` it is taken. The same allocator serves every
//! request either way, and elsewhere than Linux this is the system
//! allocator and nothing more.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator, advising the kernel on large blocks.
pub struct Allocator;

/// The huge page size of x86_64 and of aarch64 with 4 KiB pages; a block
/// smaller than this can hold no aligned huge page. (With 64 KiB pages, as
/// some aarch64 kernels have, the rounded range below is not page aligned,
/// the kernel refuses the advice, and nothing changes.)
#[cfg(target_os = "linux")]
const HUGE: usize = 2 << 20;

/// The page size the bounds of an advised range are rounded to.
#[cfg(target_os = "linux")]
const PAGE: usize = 4 << 10;

/// Asks for huge pages over the block at `ptr`, `len` bytes long. The range
/// is the block's pages, not only its whole huge pages: a large block is a
/// mapping of its own, from the page its header shares with `ptr` to the
/// page `len` ends in, and advice over all of it keeps that mapping one
/// region, which the allocator can still grow in place (`mremap` refuses a
/// mapping the advice has split, and the allocator then copies the block).
/// Advice only: a kernel that refuses it changes nothing.
#[cfg(target_os = "linux")]
fn advise(ptr: *mut u8, len: usize) {
    if let Some((start, end)) = advised_range(ptr as usize, len) {
        // SAFETY: the range is the pages of a block this allocator just
        // handed out, and MADV_HUGEPAGE changes how they are backed, not
        // their contents.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

/// The pages [`advise`] covers for a block at `addr`, `len` bytes long: none
/// below [`HUGE`] (or for a null block), else from the page `addr` is in to
/// the page the block ends in.
#[cfg(target_os = "linux")]
fn advised_range(addr: usize, len: usize) -> Option<(usize, usize)> {
    if len < HUGE || addr == 0 {
        return None;
    }
    let end = addr.checked_add(len)?.checked_next_multiple_of(PAGE)?;
    Some((addr & !(PAGE - 1), end))
}

#[cfg(not(target_os = "linux"))]
fn advise(_: *mut u8, _: usize) {}

// SAFETY: every call is passed to `System` unchanged; `advise` only gives
// the kernel advice about memory the returned block owns.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        advise(ptr, layout.size());
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        advise(ptr, layout.size());
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if new_size > layout.size() {
            advise(new, new_size);
        }
        new
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The mapping of `/proc/self/smaps` that holds `addr`: its range and flags.
    fn mapping_of(addr: usize) -> (usize, usize, String) {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        let mut found = None;
        for line in smaps.lines() {
            let range = line.split(' ').next().unwrap_or("");
            if let Some((a, b)) = range.split_once('-') {
                if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                {
                    found = (a <= addr && addr < b).then_some((a, b));
                    continue;
                }
            }
            if let (Some((a, b)), Some(flags)) = (found, line.strip_prefix("VmFlags:")) {
                return (a, b, flags.to_string());
            }
        }
        panic!("no mapping holds {addr:#x}");
    }

    /// Whether the mapping's flags carry `hg`, the mark `MADV_HUGEPAGE` sets.
    fn advised(flags: &str) -> bool {
        flags.split_whitespace().any(|f| f == "hg")
    }

    #[test]
    fn a_large_block_is_advised_whole_and_grows_as_one_mapping() {
        // A kernel built without transparent huge pages refuses the advice
        // and has no such folder; then the block must be left unmarked.
        let thp = std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists();
        let layout = Layout::from_size_align(3 << 20, 8).expect("layout");
        // SAFETY: the block is written within its size, grown once with the
        // layout it was allocated with, and freed with the grown layout.
        unsafe {
            let ptr = Allocator.alloc(layout);
            assert!(!ptr.is_null());
            ptr.write_bytes(7, layout.size());
            let (start, end, flags) = mapping_of(ptr as usize);
            assert_eq!(advised(&flags), thp, "flags: {flags}");
            assert!(start <= ptr as usize && ptr as usize + layout.size() <= end);

            // Growing it keeps one advised mapping (a split one makes the
            // allocator copy the block) and keeps its bytes.
            let grown = Allocator.realloc(ptr, layout, 9 << 20);
            assert!(!grown.is_null());
            let (start, end, flags) = mapping_of(grown as usize);
            assert_eq!(advised(&flags), thp, "flags: {flags}");
            assert!(start <= grown as usize && grown as usize + (9 << 20) <= end);
            assert_eq!(*grown.add(layout.size() - 1), 7);
            Allocator.dealloc(grown, Layout::from_size_align(9 << 20, 8).expect("layout"));
        }
    }

    #[test]
    fn only_blocks_of_a_huge_page_or_more_are_advised_and_over_whole_pages() {
        assert_eq!(advised_range(0x7000_0010, HUGE - 1), None);
        assert_eq!(advised_range(0, HUGE), None);
        assert_eq!(
            advised_range(0x7000_0010, HUGE),
            Some((0x7000_0000, 0x7020_1000))
        );
        assert_eq!(
            advised_range(0x7000_0000, HUGE),
            Some((0x7000_0000, 0x7020_0000))
        );
        assert_eq!(advised_range(usize::MAX - 16, HUGE), None);
    }
}
