//! The one file that touches `rte_mbuf` fields.
//!
//! `MbufView` is the packet accessors over an mbuf someone else owns (a
//! burst hands out `&mut MbufView`s); `Mbuf` owns its mbuf, frees it on
//! drop, and derefs to the view. Both are `repr(transparent)` over the mbuf
//! pointer so a burst's pointer array can be seen as a slice of views.
use std::ptr::NonNull;

use super::cache::prefetch0;
use crate::ffi;

#[repr(transparent)]
pub struct MbufView {
    ptr: NonNull<ffi::rte_mbuf>,
}

/// An owned mbuf: `Send` (it can move to another lcore), not `Sync`.
#[repr(transparent)]
pub struct Mbuf {
    view: MbufView,
}

// SAFETY: an mbuf is owned by exactly one Mbuf value; moving ownership to
// another thread is how DPDK pipelines work. It is not Sync: no shared access.
unsafe impl Send for Mbuf {}

impl Mbuf {
    pub(crate) fn from_raw_owned(ptr: NonNull<ffi::rte_mbuf>) -> Mbuf {
        Mbuf {
            view: MbufView { ptr },
        }
    }

    /// Gives up ownership without freeing (the pointer goes to a TX ring).
    pub(crate) fn into_raw(self) -> *mut ffi::rte_mbuf {
        let p = self.view.ptr.as_ptr();
        std::mem::forget(self);
        p
    }
}

impl std::ops::Deref for Mbuf {
    type Target = MbufView;
    #[inline(always)]
    fn deref(&self) -> &MbufView {
        &self.view
    }
}

impl std::ops::DerefMut for Mbuf {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut MbufView {
        &mut self.view
    }
}

impl MbufView {
    #[inline(always)]
    fn m(&self) -> &ffi::rte_mbuf {
        // SAFETY: ptr is a live mbuf, owned by us or by the burst we borrow.
        unsafe { self.ptr.as_ref() }
    }

    #[inline(always)]
    fn m_mut(&mut self) -> &mut ffi::rte_mbuf {
        // SAFETY: ptr is a live mbuf, exclusively ours through &mut self.
        unsafe { self.ptr.as_mut() }
    }

    /// Bytes of the first (and, for our pools, only) segment.
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        let m = self.m();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the mbuf's data
        // buffer by DPDK's invariants; the borrow is tied to &self.
        unsafe {
            std::slice::from_raw_parts(
                (m.buf_addr as *const u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    #[inline(always)]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let m = self.m_mut();
        // SAFETY: as in data(); exclusive through &mut self.
        unsafe {
            std::slice::from_raw_parts_mut(
                (m.buf_addr as *mut u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    /// Frame length over all segments.
    #[inline(always)]
    pub fn pkt_len(&self) -> u32 {
        self.m().pkt_len
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        self.m().data_len as usize
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the whole frame is in this one segment.
    #[inline(always)]
    pub fn is_contiguous(&self) -> bool {
        let m = self.m();
        m.nb_segs == 1 && m.pkt_len == m.data_len as u32
    }

    #[inline(always)]
    pub fn headroom(&self) -> usize {
        self.m().data_off as usize
    }

    #[inline(always)]
    pub fn tailroom(&self) -> usize {
        let m = self.m();
        (m.buf_len as usize).saturating_sub(m.data_off as usize + m.data_len as usize)
    }

    /// Grows the frame at the front by `n` bytes taken from the headroom and
    /// returns them, or `None` if the headroom is too small.
    #[inline(always)]
    pub fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.headroom() || !self.is_contiguous() {
            return None;
        }
        let m = self.m_mut();
        m.data_off -= n as u16;
        m.data_len += n as u16;
        m.pkt_len += n as u32;
        Some(&mut self.data_mut()[..n])
    }

    /// The frame becomes the `len` bytes that start `grow` bytes before
    /// (headroom taken) and `strip` bytes after the current start, in one
    /// step; returns the new frame. `None` (unchanged) if the headroom or
    /// the frame is too short, or the frame is not in one segment. Encap
    /// and decap each reframe a packet once.
    #[inline(always)]
    pub fn reframe(&mut self, grow: usize, strip: usize, len: usize) -> Option<&mut [u8]> {
        if !self.is_contiguous() {
            return None;
        }
        let m = self.m_mut();
        let (off, have) = (usize::from(m.data_off), usize::from(m.data_len));
        let start = off.checked_add(strip)?.checked_sub(grow)?;
        // The new frame ends at or before the old one's end.
        if start.checked_add(len)? > off + have {
            return None;
        }
        // Fits u16: start and start + len are at most data_off + data_len.
        m.data_off = start as u16;
        m.data_len = len as u16;
        m.pkt_len = len as u32;
        Some(self.data_mut())
    }

    /// Removes `n` bytes from the front; false (unchanged) if too short.
    #[inline(always)]
    pub fn adj(&mut self, n: usize) -> bool {
        if n > self.len() || !self.is_contiguous() {
            return false;
        }
        let m = self.m_mut();
        m.data_off += n as u16;
        m.data_len -= n as u16;
        m.pkt_len -= n as u32;
        true
    }

    /// Removes `n` bytes from the end; false (unchanged) if too short.
    #[inline(always)]
    pub fn trim(&mut self, n: usize) -> bool {
        if n > self.len() || !self.is_contiguous() {
            return false;
        }
        let m = self.m_mut();
        m.data_len -= n as u16;
        m.pkt_len -= n as u32;
        true
    }

    /// Grows the frame at the end by `n` bytes; returns them, or `None` if the
    /// tailroom is too small.
    #[inline(always)]
    pub fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.tailroom() || !self.is_contiguous() {
            return None;
        }
        let old = self.len();
        let m = self.m_mut();
        m.data_len += n as u16;
        m.pkt_len += n as u32;
        Some(&mut self.data_mut()[old..])
    }

    /// Sets the frame to `bytes` (single segment); false if it does not fit.
    pub fn set_bytes(&mut self, bytes: &[u8]) -> bool {
        let cap = self.len() + self.tailroom();
        if bytes.len() > cap || !self.is_contiguous() {
            return false;
        }
        let m = self.m_mut();
        m.data_len = bytes.len() as u16;
        m.pkt_len = bytes.len() as u32;
        self.data_mut().copy_from_slice(bytes);
        true
    }

    /// The RSS hash the NIC computed, when it set one.
    #[inline(always)]
    pub fn rss_hash(&self) -> Option<u32> {
        let m = self.m();
        if m.ol_flags & (1 << 1) != 0 {
            // SAFETY: the union holds the RSS hash when RTE_MBUF_F_RX_RSS_HASH is set.
            Some(unsafe { m.__bindgen_anon_2.hash.rss })
        } else {
            None
        }
    }

    /// The port the frame was received on.
    #[inline(always)]
    pub fn port(&self) -> u16 {
        self.m().port
    }

    /// Asks for the cache lines that hold the bytes from `front` before
    /// the packet data to `len` into it (clamped to the buffer): on a NIC
    /// the headers arrive in memory or the last-level cache, and the
    /// headroom the outer headers go into was last touched when the mbuf
    /// was used before, so the burst's first pass would otherwise wait on
    /// each packet's lines in turn.
    #[inline(always)]
    pub fn prefetch(&self, front: usize, len: usize) {
        let m = self.m();
        let base = m.buf_addr as *const u8;
        let (from, to) = span(m.data_off, m.buf_len, front, len);
        let end = base.wrapping_add(to);
        let start = base.wrapping_add(from);
        let mut line = start.wrapping_sub(start as usize % CACHE_LINE);
        while line < end {
            prefetch0(line);
            line = line.wrapping_add(CACHE_LINE);
        }
    }
}

/// Where the bytes from `front` before the data to `len` into it lie in
/// a buffer of `buf_len` bytes whose data starts at `data_off`, as offsets
/// from its start, clamped to the buffer.
fn span(data_off: u16, buf_len: u16, front: usize, len: usize) -> (usize, usize) {
    let off = usize::from(data_off);
    (
        off.saturating_sub(front),
        (off + len).min(usize::from(buf_len)),
    )
}

/// The cache line of x86-64 (on a CPU with longer lines some prefetches
/// only repeat one another).
const CACHE_LINE: usize = 64;

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf; it returns to its pool.
        unsafe { ffi::vxg_pktmbuf_free(self.view.ptr.as_ptr()) }
    }
}

impl std::fmt::Debug for MbufView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mbuf(len={}, headroom={})", self.len(), self.headroom())
    }
}

#[cfg(test)]
mod tests {
    use super::span;

    #[test]
    fn the_prefetched_span_stays_inside_the_buffer() {
        // Encap's room and headers around data at the default headroom.
        assert_eq!(span(128, 2176, 50, 38), (78, 166));
        // Headroom shorter than the room asked for: from the buffer start.
        assert_eq!(span(10, 2176, 50, 38), (0, 48));
        // Data near the end of the buffer: up to its end, not past it.
        assert_eq!(span(2100, 2176, 0, 84), (2100, 2176));
        assert_eq!(span(2176, 2176, 0, 84), (2176, 2176));
    }
}
