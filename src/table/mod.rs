//! Lockless lookup tables read by workers, written by one control thread.
//!
//! [`map`] is the generic building block: a `u32`-keyed open-addressing hash
//! map of seqlocked 32-byte slots. Lookups never store to shared memory;
//! the single [`Writer`] rebuilds and republishes the table when it fills,
//! and each worker's [`Reader`] picks the new table up in `refresh()` at a
//! burst boundary. [`LeaseTables`] and [`NeighborTables`] are the concrete
//! tables of the data plane. Design notes: `docs/tables.md`.
#![deny(unsafe_code)]

mod lease;
mod map;
mod neighbor;
mod slot;
mod sync;

pub use lease::{LeaseEntry, LeaseReaders, LeaseTables, VtepMacs, MAX_VTEP_MACS};
pub use map::{map, Packed, Reader, Writer, BULK};
pub use neighbor::{NeighborEntry, NeighborPort, NeighborReaders, NeighborTables};
