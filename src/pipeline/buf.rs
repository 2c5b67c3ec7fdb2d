//! The buffer trait the pipeline is generic over, and a `Vec`-backed one.

/// Where a reframed packet starts ([`PacketBuf::reframe`]): `n` bytes of
/// headroom taken in front of it, or its first `n` bytes stripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    Grow(usize),
    Strip(usize),
}

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
    /// The packet becomes the `len` bytes from `front` on, in one step,
    /// and is returned; `None` (unchanged) if the headroom or the packet is
    /// too short. Only ever shortens the received bytes: a grown front is
    /// headroom, never new tail.
    fn reframe(&mut self, front: Front, len: usize) -> Option<&mut [u8]>;
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

    /// A buffer that takes `frame` as it is, without headroom and
    /// without a copy (a frame built in memory, to be rewritten in place).
    pub fn from_vec(frame: Vec<u8>) -> VecBuf {
        let end = frame.len();
        VecBuf {
            mem: frame,
            start: 0,
            end,
        }
    }

    /// The data, as a `Vec` of its own (no copy when it starts at the
    /// front of the buffer, as `from_vec`'s does until it is moved).
    pub fn into_data(mut self) -> Vec<u8> {
        self.mem.truncate(self.end);
        self.mem.drain(..self.start);
        self.mem
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
    fn reframe(&mut self, front: Front, len: usize) -> Option<&mut [u8]> {
        let start = match front {
            Front::Grow(n) => self.start.checked_sub(n)?,
            Front::Strip(n) => self.start.checked_add(n)?,
        };
        let end = start.checked_add(len).filter(|&e| e <= self.end)?;
        (self.start, self.end) = (start, end);
        Some(&mut self.mem[start..end])
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
    fn reframe_takes_headroom_or_strips_and_refuses_what_does_not_fit() {
        let frame: Vec<u8> = (0..64u8).collect();
        let mut b = VecBuf::new(16, 64);
        b.reset(16, &frame);
        let before = b.clone();
        assert!(b.reframe(Front::Grow(17), 20).is_none());
        assert!(b.reframe(Front::Grow(8), 8 + 65).is_none());
        assert!(b.reframe(Front::Strip(60), 5).is_none());
        assert!(b.reframe(Front::Strip(usize::MAX), 1).is_none());
        assert!(b.reframe(Front::Strip(8), usize::MAX - 4).is_none());
        assert_eq!(b, before);
        let f = b.reframe(Front::Grow(8), 8 + 60).unwrap();
        assert_eq!(f.len(), 68);
        f[..8].copy_from_slice(&[0xee; 8]);
        assert_eq!((b.headroom(), b.len()), (8, 68));
        assert_eq!(&b.data()[8..], &frame[..60]);
        assert_eq!(b.reframe(Front::Strip(10), 50).unwrap(), &frame[2..52]);
        assert_eq!((b.headroom(), b.len()), (18, 50));
    }

    #[test]
    fn reset_reuses_memory() {
        let mut b = VecBuf::from_frame(&[0u8; 100]);
        let cap = b.mem.capacity();
        b.reset(DEFAULT_HEADROOM, &[7u8; 60]);
        assert_eq!(b.data(), &[7u8; 60][..]);
        assert_eq!(b.mem.capacity(), cap);
    }

    /// A frame taken as it is and given back, as the data stands after
    /// the buffer's cuts, with no copy while it starts at the front.
    #[test]
    fn a_vec_is_taken_and_given_back_without_a_copy() {
        let frame: Vec<u8> = (0..100).collect();
        let at = frame.as_ptr();
        let mut b = VecBuf::from_vec(frame);
        assert_eq!(b.data().len(), 100);
        assert!(b.trim(10) && b.prepend(1).is_none());
        let back = b.into_data();
        assert_eq!(back, (0..90).collect::<Vec<u8>>());
        assert_eq!(back.as_ptr(), at);
        let mut b = VecBuf::from_vec((0..100).collect());
        assert!(b.adj(4) && b.trim(6));
        assert_eq!(b.into_data(), (4..94).collect::<Vec<u8>>());
    }
}
