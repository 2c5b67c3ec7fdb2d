//! The pipeline's buffer trait on DPDK mbufs: the same code that runs on
//! `VecBuf` in tests runs on the packets of a burst.
use super::buf::{Front, PacketBuf};
use crate::dpdk::MbufView;

impl PacketBuf for MbufView {
    #[inline(always)]
    fn data(&self) -> &[u8] {
        MbufView::data(self)
    }
    #[inline(always)]
    fn data_mut(&mut self) -> &mut [u8] {
        MbufView::data_mut(self)
    }
    #[inline(always)]
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        MbufView::prepend(self, n)
    }
    #[inline(always)]
    fn adj(&mut self, n: usize) -> bool {
        MbufView::adj(self, n)
    }
    #[inline(always)]
    fn trim(&mut self, n: usize) -> bool {
        MbufView::trim(self, n)
    }
    #[inline(always)]
    fn headroom(&self) -> usize {
        MbufView::headroom(self)
    }
    #[inline(always)]
    fn len(&self) -> usize {
        MbufView::len(self)
    }
    #[inline(always)]
    fn reframe(&mut self, front: Front, len: usize) -> Option<&mut [u8]> {
        match front {
            Front::Grow(n) => MbufView::reframe(self, n, 0, len),
            Front::Strip(n) => MbufView::reframe(self, 0, n, len),
        }
    }
}
