//! The buffer trait the pipeline is generic over, and a `Vec`-backed one.

/// A packet buffer with headroom in front of the data, like an mbuf.
///
/// Implementations must never panic: out-of-range requests return
/// `None`/`false` and leave the buffer unchanged.
pub trait PacketBuf {
    /// The packet bytes.
    fn data(&self) -> &[u8];
    fn data_mut(&mut self) -> &mut [u8];
    /// Grows the packet at the front by `n` bytes taken from the headroom
    /// and returns them (contents unspecified); `None` if the headroom is
    /// smaller than `n`.
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]>;
    /// Strips `n` bytes from the front; `false` (unchanged) if `n > len`.
    fn adj(&mut self, n: usize) -> bool;
    /// Strips `n` bytes from the tail; `false` (unchanged) if `n > len`.
    fn trim(&mut self, n: usize) -> bool;
    /// Free bytes in front of the data.
    fn headroom(&self) -> usize;
    fn len(&self) -> usize {
        self.data().len()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Headroom DPDK mbufs have by default (RTE_PKTMBUF_HEADROOM).
pub const DEFAULT_HEADROOM: usize = 128;

/// A `Vec`-backed [`PacketBuf`] for tests, benchmarks and the fuzzer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecBuf {
    mem: Vec<u8>,
    start: usize,
    end: usize,
}

impl VecBuf {
    /// An empty buffer with `headroom` bytes in front and room for
    /// `capacity` bytes of data.
    pub fn new(headroom: usize, capacity: usize) -> VecBuf {
        VecBuf {
            mem: vec![0; headroom + capacity],
            start: headroom,
            end: headroom,
        }
    }

    /// A buffer holding `frame` behind [`DEFAULT_HEADROOM`] bytes.
    pub fn from_frame(frame: &[u8]) -> VecBuf {
        let mut b = VecBuf::new(DEFAULT_HEADROOM, frame.len());
        b.reset(DEFAULT_HEADROOM, frame);
        b
    }

    /// Refills the buffer with `frame` behind `headroom` bytes. Allocates
    /// only if the buffer never held that much before.
    pub fn reset(&mut self, headroom: usize, frame: &[u8]) {
        let need = headroom + frame.len();
        if self.mem.len() < need {
            self.mem.resize(need, 0);
        }
        self.start = headroom;
        self.end = need;
        self.mem[headroom..need].copy_from_slice(frame);
    }
}

impl PacketBuf for VecBuf {
    fn data(&self) -> &[u8] {
        &self.mem[self.start..self.end]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.mem[self.start..self.end]
    }
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.start {
            return None;
        }
        self.start -= n;
        Some(&mut self.mem[self.start..self.start + n])
    }
    fn adj(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.start += n;
        true
    }
    fn trim(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.end -= n;
        true
    }
    fn headroom(&self) -> usize {
        self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_adj_trim() {
        let mut b = VecBuf::new(4, 8);
        b.reset(4, &[1, 2, 3]);
        assert_eq!((b.len(), b.headroom()), (3, 4));
        assert!(b.prepend(5).is_none());
        b.prepend(2).unwrap().copy_from_slice(&[9, 8]);
        assert_eq!(b.data(), &[9, 8, 1, 2, 3]);
        assert!(!b.adj(6));
        assert!(b.adj(1));
        assert!(b.trim(1));
        assert_eq!(b.data(), &[8, 1, 2]);
        assert!(!b.trim(4));
        assert!(b.trim(3));
        assert!(b.is_empty());
    }

    #[test]
    fn reset_reuses_memory() {
        let mut b = VecBuf::from_frame(&[0u8; 100]);
        let cap = b.mem.capacity();
        b.reset(DEFAULT_HEADROOM, &[7u8; 60]);
        assert_eq!(b.data(), &[7u8; 60][..]);
        assert_eq!(b.mem.capacity(), cap);
    }
}
