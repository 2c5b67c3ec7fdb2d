//! Packet mempools (`rte_pktmbuf_pool_create`).
use std::ffi::CString;
use std::ptr::NonNull;

use super::eal::{Eal, Live};
use super::error::{last_errno, strerror, DpdkError, Result};
use super::lcore::no_jobs_running;
use super::mbuf::Mbuf;
use crate::ffi;

/// The largest frame one mbuf of the default pool receives.
pub const FRAME_ROOM: u16 = 2048;

/// Default data room: [`FRAME_ROOM`] plus the 128-byte headroom that encap
/// prepends into.
pub const DEFAULT_DATA_ROOM: u16 = FRAME_ROOM + ffi::RTE_PKTMBUF_HEADROOM as u16;

/// The most mbufs one pool may hold (2^24: 36 GiB of default buffers).
pub const MAX_MBUFS: u32 = 1 << 24;

/// Port MTUs vxgate sets: from the IPv4 datagram size every host must take
/// to the usual top of jumbo frames.
pub const PORT_MTU_RANGE: std::ops::RangeInclusive<u16> = 576..=9600;

const HEADROOM: u32 = ffi::RTE_PKTMBUF_HEADROOM;
/// Ethernet header, FCS and two VLAN tags: what ixgbe, i40e and ice add
/// to the MTU for their frame size (more than that and they chain
/// buffers, which the pipeline does not take).
const FRAME_OVERHEAD: u32 = 14 + 4 + 2 * 4;

/// Data room for buffers that hold a whole (single-segment) frame of each
/// MTU given; `None`, a port left at its own MTU, is served by the default.
pub fn data_room_for_mtus(mtus: impl IntoIterator<Item = Option<u16>>) -> u16 {
    mtus.into_iter()
        .flatten()
        .map(data_room_for_mtu)
        .fold(DEFAULT_DATA_ROOM, u16::max)
}

/// Data room for single-segment frames of `mtu`: the default when its
/// [`FRAME_ROOM`] holds them, else the frame rounded up to 1 KiB, plus
/// the headroom encap prepends into.
fn data_room_for_mtu(mtu: u16) -> u16 {
    let frame = u32::from(mtu) + FRAME_OVERHEAD;
    let room = if frame <= u32::from(FRAME_ROOM) {
        u32::from(FRAME_ROOM)
    } else {
        frame.div_ceil(1024) * 1024
    };
    (room + HEADROOM).min(u32::from(u16::MAX)) as u16
}

/// The largest MTU whose frames one buffer of `data_room` holds whole,
/// the inverse of [`data_room_for_mtu`] (2022 for the default).
pub fn mtu_for_data_room(data_room: u16) -> u16 {
    (u32::from(data_room).saturating_sub(HEADROOM + FRAME_OVERHEAD)).min(u32::from(u16::MAX)) as u16
}

/// A pool of packet buffers. DPDK's mempool is multi-thread safe, so the
/// handle is `Send + Sync`; ports share it as an `Arc` and keep it while
/// they or their queues exist. Freed on drop when that is safe (see Drop),
/// else leaked and logged.
pub struct Mempool {
    ptr: NonNull<ffi::rte_mempool>,
    name: String,
    capacity: u32,
    /// EAL is not cleaned up under the pool; leaked with a leaked pool.
    eal: Option<Live>,
}

// SAFETY: rte_mempool get/put are thread-safe (lockless ring + per-lcore cache);
// the pointer is only freed in Drop, when no other handle can exist.
unsafe impl Send for Mempool {}
// SAFETY: as above; shared references only call thread-safe functions.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `n` mbufs with a per-lcore cache of `cache` and
    /// `data_room` bytes per buffer, on the caller's NUMA socket.
    pub fn new(eal: &Eal, name: &str, n: u32, cache: u32, data_room: u16) -> Result<Mempool> {
        let refuse = |reason: String| DpdkError::Mempool {
            name: name.into(),
            n,
            reason,
        };
        // DPDK wants at least 1.5 x the per-lcore cache, and crashes on its
        // own failure path for very large counts: both refused here.
        let min = cache.saturating_mul(3).div_ceil(2).max(1);
        if n < min {
            return Err(refuse(format!(
                "a per-lcore cache of {cache} needs at least {min}; raise --mbufs"
            )));
        }
        if n > MAX_MBUFS {
            return Err(refuse(format!("at most {MAX_MBUFS}; lower --mbufs")));
        }
        let cname = CString::new(name).map_err(|_| refuse("name contains NUL".into()))?;
        // SAFETY: EAL runs (`eal` proves it); the name is a valid C string
        // copied by DPDK.
        let raw = unsafe {
            ffi::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                n,
                cache,
                0,
                data_room,
                ffi::rte_socket_id() as i32,
            )
        };
        match NonNull::new(raw) {
            Some(ptr) => Ok(Mempool {
                ptr,
                name: name.to_owned(),
                capacity: n,
                eal: Some(Live::new(eal)),
            }),
            None => Err(refuse(format!(
                "{}; reserve more hugepages or lower --mbufs",
                strerror(last_errno())
            ))),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Mbufs in the pool, in use or not.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Mbufs currently allocated (including those in per-lcore caches as DPDK
    /// counts them). Walks the caches: call from a control thread, not per packet.
    pub fn in_use(&self) -> u32 {
        // SAFETY: ptr is a live mempool.
        unsafe { ffi::vxg_mempool_in_use(self.ptr.as_ptr()) }
    }

    /// Mbufs free in the pool.
    pub fn available(&self) -> u32 {
        // SAFETY: ptr is a live mempool.
        unsafe { ffi::vxg_mempool_avail(self.ptr.as_ptr()) }
    }

    /// One mbuf, or `None` when the pool is empty.
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: ptr is a live mempool; a non-null result is a fresh mbuf we own.
        let m = unsafe { ffi::vxg_pktmbuf_alloc(self.ptr.as_ptr()) };
        NonNull::new(m).map(Mbuf::from_raw_owned)
    }

    pub(crate) fn as_ptr(&self) -> *mut ffi::rte_mempool {
        self.ptr.as_ptr()
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // Freed only when no mbuf can still touch the pool's memory; else
        // leaked (and EAL kept, see Live), and said:
        // - an mbuf still out (held by code, or in a ring) would be freed
        //   into freed memory later;
        // - an lcore's put updates its cache (inside the pool) after the
        //   count this reads already says "back": so no lcore other than
        //   this one may be running a job, and this must be the main lcore.
        //   Threads DPDK did not start have no cache: their put ends with
        //   the ring's tail store, which the count reads.
        let out = self.in_use();
        let why = if out != 0 {
            Some("mempool dropped with mbufs still in use")
        } else if !(on_main_lcore() && no_jobs_running()) {
            Some("mempool dropped off the main lcore or while an lcore job runs")
        } else {
            None
        };
        if let Some(why) = why {
            tracing::error!(
                pool = %self.name,
                mbufs_out = out,
                "{why}; leaked rather than freed"
            );
            if let Some(live) = self.eal.take() {
                live.keep_forever();
            }
            return;
        }
        // SAFETY: no mbuf of the pool is out (checked above) and no other
        // lcore runs a job that could be returning one; the ports that used
        // it are closed (each holds an Arc of the pool until it is); this is
        // the last handle; EAL runs (self.eal).
        unsafe { ffi::rte_mempool_free(self.ptr.as_ptr()) }
    }
}

/// True on the thread that started EAL.
fn on_main_lcore() -> bool {
    // SAFETY: EAL runs (the caller holds a Live); plain reads.
    unsafe { ffi::vxg_lcore_id() == ffi::rte_get_main_lcore() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_room_grows_only_for_jumbo_mtus() {
        assert_eq!(data_room_for_mtu(1500), DEFAULT_DATA_ROOM);
        assert_eq!(data_room_for_mtu(576), DEFAULT_DATA_ROOM);
        assert_eq!(mtu_for_data_room(DEFAULT_DATA_ROOM), 2022);
        assert_eq!(data_room_for_mtu(2022), DEFAULT_DATA_ROOM);
        assert_eq!(data_room_for_mtu(2023), 3072 + 128);
        assert_eq!(data_room_for_mtu(9000), 9216 + 128);
        for mtu in PORT_MTU_RANGE {
            let room = data_room_for_mtu(mtu);
            assert!(mtu_for_data_room(room) >= mtu, "mtu {mtu} room {room}");
            assert!(u32::from(room) >= u32::from(mtu) + FRAME_OVERHEAD + HEADROOM);
        }
    }

    #[test]
    fn buffers_grow_for_the_largest_mtu_asked_for() {
        let jumbo = data_room_for_mtu(9000);
        assert_eq!(data_room_for_mtus([]), DEFAULT_DATA_ROOM);
        assert_eq!(data_room_for_mtus([None, None]), DEFAULT_DATA_ROOM);
        assert_eq!(data_room_for_mtus([Some(1500), None]), DEFAULT_DATA_ROOM);
        assert_eq!(data_room_for_mtus([Some(9000), None]), jumbo);
        assert_eq!(data_room_for_mtus([None, Some(9000)]), jumbo);
        assert_eq!(data_room_for_mtus([Some(9000), Some(1500)]), jumbo);
        assert_eq!(
            data_room_for_mtus([Some(9600), Some(9000)]),
            data_room_for_mtu(9600)
        );
    }
}
