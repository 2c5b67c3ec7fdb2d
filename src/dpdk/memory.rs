//! Memory hints for the lookup tables, which live on the process heap
//! (they are built and unit-tested without EAL) and sit here only because
//! this layer holds vxgate's `unsafe`:
//!
//! - `advise_huge_pages`: at a million entries a table is 64 MiB, read at
//!   random by the workers; on 4 KiB pages each read can miss the TLB as
//!   well as the cache, on 2 MB pages the table needs 32 TLB entries.
//!   Debian's kernel gives anonymous memory transparent huge pages only
//!   where asked (`/sys/kernel/mm/transparent_hugepage/enabled` is
//!   `madvise`), so a table asks before its first write faults the pages in.
//! - `prefetch`: a bulk lookup starts the cache misses of a whole burst
//!   before it reads any slot (docs/performance.md has the figures of both).

#[cfg(not(target_arch = "x86_64"))]
use crate::ffi;

/// Below this a range cannot hold a whole 2 MB page at a 2 MB boundary
/// (wherever it starts), and asking would only split the heap's mapping.
pub const HUGE_PAGE_MIN: usize = 4 << 20;

/// The kernel's page size for `madvise`'s alignment: 4 KiB on the machines
/// vxgate runs on; a larger base page only makes the rounding coarser.
const PAGE: usize = 4096;

/// Asks the kernel to back the spare capacity of `v` (the part not written
/// yet, so not faulted in yet when `v` was just made `with_capacity`) with
/// transparent huge pages. A hint: returns whether the kernel took it
/// (false for short vectors, kernels without THP, or THP set to `never`);
/// nothing about `v` changes either way.
pub fn advise_huge_pages<T>(v: &mut Vec<T>) -> bool {
    let spare = v.spare_capacity_mut();
    let bytes = std::mem::size_of_val(spare);
    if bytes < HUGE_PAGE_MIN {
        return false;
    }
    let start = spare.as_ptr() as usize;
    let first = start.next_multiple_of(PAGE);
    let end = (start + bytes) / PAGE * PAGE;
    // SAFETY: [first, end) lies inside `v`'s own allocation (its spare
    // capacity, rounded inwards to whole pages; `bytes` >= 4 MiB leaves it
    // non-empty). MADV_HUGEPAGE only changes how the kernel backs those
    // pages, never their contents or mapping, so no Rust object observes it.
    let rc = unsafe { libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE) };
    rc == 0
}

/// Starts loading the cache line `x` begins in, without waiting for it
/// and without holding the core's out-of-order window: a bulk lookup
/// issues the misses of a whole burst this way before it reads any.
#[inline(always)]
pub fn prefetch<T>(x: &T) {
    prefetch0((x as *const T).cast());
}

/// `rte_prefetch0` as the one instruction it is: DPDK defines it inline
/// in its headers, so through the C shim it would be a call per line.
#[inline(always)]
pub(crate) fn prefetch0(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, whatever the
    // address; SSE, which it needs, is part of the x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: rte_prefetch0 is a hint that never faults.
    unsafe {
        ffi::vxg_prefetch0(p.cast())
    }
}

/// What the kernel did with the advice, read back for tests.
#[cfg(test)]
pub(crate) mod thp {
    /// THP mode from sysfs: `[madvise]` or `[always]` when the kernel
    /// honours the advice; `None` when it has no THP at all.
    pub(crate) fn thp_mode() -> Option<String> {
        let s = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").ok()?;
        let start = s.find('[')? + 1;
        let end = s.find(']')?;
        Some(s[start..end].to_string())
    }

    /// `AnonHugePages` of the mapping that holds `addr`, in KiB.
    pub(crate) fn anon_huge_kib(addr: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        let mut inside = false;
        for line in smaps.lines() {
            let head = line.split_whitespace().next().unwrap_or("");
            if let Some((a, b)) = head.split_once('-') {
                if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                {
                    inside = (a..b).contains(&addr);
                    continue;
                }
            }
            if inside {
                if let Some(kib) = line.strip_prefix("AnonHugePages:") {
                    return kib.trim().trim_end_matches("kB").trim().parse().unwrap();
                }
            }
        }
        panic!("no mapping holds {addr:#x}");
    }

    /// Does the kernel back advised ranges with huge pages?
    pub(crate) fn honoured() -> bool {
        matches!(thp_mode().as_deref(), Some("madvise" | "always"))
    }
}

#[cfg(test)]
mod tests {
    use super::thp::{anon_huge_kib, honoured, thp_mode};
    use super::*;

    #[test]
    fn a_large_vector_is_faulted_in_on_huge_pages() {
        let mut v: Vec<u64> = Vec::with_capacity((16 << 20) / 8);
        let advised = advise_huge_pages(&mut v);
        v.extend((0..v.capacity() as u64).map(|i| i.wrapping_mul(0x9e37_79b9)));
        if honoured() {
            assert!(advised, "madvise refused under THP {:?}", thp_mode());
            // 16 MiB holds at least seven whole 2 MB pages; compaction may
            // not find all of them, but the first fault of an advised range
            // tries, so none would mean the advice was lost.
            let huge = anon_huge_kib(v.as_ptr() as usize + (8 << 20));
            assert!(huge >= 2048, "AnonHugePages {huge} kB");
        } else {
            eprintln!("THP {:?}: advice taken = {advised}", thp_mode());
        }
        // The data went in whole either way.
        assert!(v
            .iter()
            .enumerate()
            .all(|(i, x)| *x == (i as u64).wrapping_mul(0x9e37_79b9)));
    }

    #[test]
    fn short_vectors_are_left_alone() {
        let mut v: Vec<u8> = Vec::with_capacity(HUGE_PAGE_MIN - 1);
        assert!(!advise_huge_pages(&mut v));
        // Written spare capacity is not spare: only what is left counts.
        let mut w: Vec<u8> = Vec::with_capacity(HUGE_PAGE_MIN + 100);
        w.resize(200, 7);
        assert!(!advise_huge_pages(&mut w));
    }
}
