//! Keeps the fragments of one datagram on one way out.
//!
//! A fragment too big for its next hop goes to the slow path to be cut
//! again; the datagram's last fragment is usually small enough to be
//! forwarded at once, so it would leave before the pieces of the rest.
//! Out-of-order fragments reassemble, but Linux drops a datagram when more
//! than `net.ipv4.ipfrag_max_dist` (64) fragments from its source arrive
//! between two of its own, and under load the detour is longer than that.
//! So a worker remembers the datagrams whose fragments it sent to the slow
//! path, and sends their later fragments the same way, behind them.
//! Datagrams whose fragments all fit stay in the worker.

/// Datagrams remembered per worker: fragments of one datagram arrive close
/// together, so a slot is reused long after its datagram is complete. A
/// collision can only send a fitting fragment through the slow path too.
const SLOTS: usize = 256;

/// What identifies a datagram (RFC 791: source, destination, protocol and
/// ident), folded into one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DatagramKey(u64);

impl DatagramKey {
    pub(crate) fn new(src: u32, dst: u32, proto: u8, ident: u16) -> DatagramKey {
        // Never zero (an empty slot): a forwarded packet's destination is
        // never 0.0.0.0, and the low 32 bits are the destination's.
        let hi = u64::from(src) ^ (u64::from(ident) << 16 | u64::from(proto));
        DatagramKey(hi << 32 | u64::from(dst.max(1)))
    }

    fn slot(self) -> usize {
        // Consecutive datagrams of a sender differ in ident: in
        // neighbouring slots.
        ((self.0 >> 32) ^ (self.0 >> 48)) as usize % SLOTS
    }
}

/// The datagrams a worker sent fragments of to the slow path.
#[derive(Debug, Clone)]
pub struct Detoured {
    keys: [u64; SLOTS],
}

impl Default for Detoured {
    fn default() -> Self {
        Detoured { keys: [0; SLOTS] }
    }
}

impl Detoured {
    /// A fragment of `key` went to the slow path.
    pub(crate) fn mark(&mut self, key: DatagramKey) {
        self.keys[key.slot()] = key.0;
    }

    /// Whether fragments of `key` went to the slow path.
    pub(crate) fn holds(&self, key: DatagramKey) -> bool {
        self.keys[key.slot()] == key.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_datagram_is_held_and_its_neighbours_are_not() {
        let mut d = Detoured::default();
        let k = DatagramKey::new(0x0af4_ff0b, 0x0af4_010a, 17, 0x1234);
        assert!(!d.holds(k));
        d.mark(k);
        assert!(d.holds(k));
        for other in [
            DatagramKey::new(0x0af4_ff0b, 0x0af4_010a, 17, 0x1235),
            DatagramKey::new(0x0af4_ff0c, 0x0af4_010a, 17, 0x1234),
            DatagramKey::new(0x0af4_ff0b, 0x0af4_010b, 17, 0x1234),
            DatagramKey::new(0x0af4_ff0b, 0x0af4_010a, 6, 0x1234),
        ] {
            assert!(!d.holds(other), "{other:?}");
        }
    }

    #[test]
    fn consecutive_datagrams_of_a_sender_keep_their_own_slots() {
        let mut d = Detoured::default();
        let keys: Vec<_> = (0..SLOTS as u16)
            .map(|i| DatagramKey::new(0x0af4_ff0b, 0x0af4_010a, 17, 0x4000 + i))
            .collect();
        for &k in &keys {
            d.mark(k);
        }
        assert!(keys.iter().all(|&k| d.holds(k)));
    }

    #[test]
    fn an_empty_slot_holds_no_datagram() {
        let d = Detoured::default();
        assert!(!d.holds(DatagramKey::new(0, 0, 0, 0)));
        assert_ne!(DatagramKey::new(0, 0, 0, 0).0, 0);
    }
}
