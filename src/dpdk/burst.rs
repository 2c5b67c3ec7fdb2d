//! Fixed-size bursts of mbufs: an array of 32 on the stack, never a heap
//! allocation per burst. A burst owns its mbufs: whatever is left in it when
//! it is dropped is freed, so no mbuf can leak or be dropped silently.
use std::ptr::{self, NonNull};

use super::mbuf::{Mbuf, MbufView};
use super::mempool::Mempool;
use crate::ffi;

/// Packets per burst (a multiple of 8, as every PMD's vector path wants).
pub const BURST: usize = 32;

pub struct Burst {
    pkts: [*mut ffi::rte_mbuf; BURST],
    len: usize,
    /// A `take` left a null in `pkts[..len]` (compaction is skipped otherwise).
    holes: bool,
}

// SAFETY: a Burst owns its mbufs exclusively, like Vec<Mbuf> would.
unsafe impl Send for Burst {}

impl Default for Burst {
    fn default() -> Self {
        Self::new()
    }
}

impl Burst {
    pub const fn new() -> Burst {
        Burst {
            pkts: [ptr::null_mut(); BURST],
            len: 0,
            holes: false,
        }
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    pub fn is_full(&self) -> bool {
        self.len == BURST
    }

    /// Appends an mbuf; gives it back when the burst is full.
    #[inline(always)]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == BURST {
            return Err(m);
        }
        self.pkts[self.len] = m.into_raw();
        self.len += 1;
        Ok(())
    }

    /// Takes the mbuf at `i` out, leaving a hole (skipped by everything
    /// else); `None` when out of range or already taken.
    #[inline(always)]
    pub fn take(&mut self, i: usize) -> Option<Mbuf> {
        if i >= self.len {
            return None;
        }
        let p = std::mem::replace(&mut self.pkts[i], ptr::null_mut());
        self.holes = true;
        NonNull::new(p).map(Mbuf::from_raw_owned)
    }

    /// Borrows the mbuf at `i` to read; `None` when out of range or taken.
    #[inline(always)]
    pub fn get(&self, i: usize) -> Option<&MbufView> {
        if i >= self.len || self.pkts[i].is_null() {
            return None;
        }
        // SAFETY: as in `get_mut`, the borrow tied to &self.
        Some(unsafe { &*(&self.pkts[i] as *const *mut ffi::rte_mbuf as *const MbufView) })
    }

    /// Borrows the mbuf at `i`; `None` when out of range or taken.
    #[inline(always)]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut MbufView> {
        if i >= self.len || self.pkts[i].is_null() {
            return None;
        }
        // SAFETY: MbufView is repr(transparent) over NonNull<rte_mbuf>, which has
        // the layout of a non-null *mut rte_mbuf; pkts[i] is non-null and owned
        // by this burst, and the borrow is tied to &mut self.
        Some(unsafe { &mut *(&mut self.pkts[i] as *mut *mut ffi::rte_mbuf as *mut MbufView) })
    }

    /// The packets as a slice of views (holes left by `take` are closed
    /// first, so indices shift after a take).
    #[inline(always)]
    pub fn as_mut_slice(&mut self) -> &mut [MbufView] {
        self.compact();
        // SAFETY: after compact the first len pointers are non-null owned mbufs;
        // MbufView is repr(transparent) over NonNull<rte_mbuf> (same layout as a
        // non-null *mut); the slice borrows self mutably.
        unsafe { std::slice::from_raw_parts_mut(self.pkts.as_mut_ptr() as *mut MbufView, self.len) }
    }

    /// Prefetches, for every packet, the cache lines from `front` bytes
    /// before its data to `len` bytes into it (`MbufView::prefetch`): what
    /// the burst's passes will read and write, asked for before the first
    /// of them. Not inlined: a call per burst is nothing, and kept out of
    /// line it leaves the code around it as it was where it is not used.
    #[inline(never)]
    pub fn prefetch(&self, front: usize, len: usize) {
        for v in (0..self.len).filter_map(|i| self.get(i)) {
            v.prefetch(front, len);
        }
    }

    /// Receives up to a full burst from `port`/`queue` into an empty burst.
    #[inline(always)]
    pub(crate) fn rx(&mut self, port: u16, queue: u16) -> usize {
        // What it held is freed, not overwritten (and leaked).
        self.free_all();
        // SAFETY: pkts has room for BURST pointers; the PMD writes at most
        // BURST owned mbufs and returns how many.
        let n = unsafe { ffi::vxg_rx_burst(port, queue, self.pkts.as_mut_ptr(), BURST as u16) };
        self.len = n as usize;
        self.len
    }

    /// Sends every packet it holds on `port`/`queue`; returns how many the
    /// device took. The rest stay in the burst (compacted to the front) for
    /// the caller to retry, count or free.
    #[inline(always)]
    pub(crate) fn tx(&mut self, port: u16, queue: u16) -> usize {
        self.compact();
        if self.len == 0 {
            return 0;
        }
        // SAFETY: the first len pointers are owned, non-null mbufs; the PMD takes
        // ownership of the first `sent` of them.
        let sent =
            unsafe { ffi::vxg_tx_burst(port, queue, self.pkts.as_mut_ptr(), self.len as u16) }
                as usize;
        self.pkts.copy_within(sent..self.len, 0);
        self.len -= sent;
        sent
    }

    /// Moves holes left by `take` out of the way.
    #[inline(always)]
    fn compact(&mut self) {
        if !self.holes {
            return;
        }
        self.holes = false;
        let mut w = 0;
        for r in 0..self.len {
            if !self.pkts[r].is_null() {
                self.pkts[w] = self.pkts[r];
                w += 1;
            }
        }
        self.len = w;
    }

    /// Frees every mbuf held; returns how many.
    #[inline(always)]
    pub fn free_all(&mut self) -> usize {
        self.compact();
        let n = self.len;
        if n > 0 {
            // SAFETY: the first n pointers are owned, non-null mbufs.
            unsafe { ffi::rte_pktmbuf_free_bulk(self.pkts.as_mut_ptr(), n as u32) };
        }
        self.len = 0;
        n
    }

    /// Fills an empty burst with `n` fresh mbufs from `pool`; false (burst
    /// unchanged) when the pool cannot supply all of them.
    pub fn alloc(&mut self, pool: &Mempool, n: usize) -> bool {
        if self.len != 0 {
            return false; // not empty: nothing overwritten
        }
        let n = n.min(BURST);
        // SAFETY: pkts has room for n pointers; on success all n are owned mbufs.
        let rc =
            unsafe { ffi::vxg_pktmbuf_alloc_bulk(pool.as_ptr(), self.pkts.as_mut_ptr(), n as u32) };
        if rc != 0 {
            return false;
        }
        self.len = n;
        true
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        self.free_all();
    }
}
