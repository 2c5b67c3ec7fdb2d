//! A classic-pcap writer (microsecond timestamps, Ethernet link type) for
//! benchmark inputs replayed by DPDK's `net_pcap` (`rx_pcap=FILE,infinite_rx=1`).
use std::io::{self, Write};
use std::path::Path;

use super::flows::FlowPlan;

const MAGIC_USEC: u32 = 0xa1b2_c3d4;
const LINKTYPE_ETHERNET: u32 = 1;
const SNAPLEN: u32 = 65535;

pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&MAGIC_USEC.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        h.extend_from_slice(&SNAPLEN.to_le_bytes());
        h.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out })
    }

    /// Appends one frame stamped `usec` microseconds after the epoch.
    pub fn write(&mut self, usec: u64, frame: &[u8]) -> io::Result<()> {
        let len = u32::try_from(frame.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too long"))?;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((usec / 1_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((usec % 1_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&len.to_le_bytes());
        h[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(frame)
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes `count` frames of `plan` to `path`: frame `k` belongs to flow
/// `k % flows` and carries sequence number `k` and stamp TSC 0; its record
/// is timestamped `k` microseconds after the epoch.
pub fn write_pcap(path: &Path, plan: &FlowPlan, count: u64) -> io::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut w = PcapWriter::new(io::BufWriter::new(file))?;
    let tpl = plan.templates();
    let mut frame = vec![0u8; plan.frame_len];
    for k in 0..count {
        let flow = (k % u64::from(tpl.flows().max(1))) as u32;
        if !tpl.write_frame(flow, k, 0, &mut frame) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame template does not match the frame length",
            ));
        }
        w.write(k, &frame)?;
    }
    w.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout_is_classic_pcap() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write(1_000_002, &[0xab; 3]).unwrap();
        let b = w.finish().unwrap();
        assert_eq!(&b[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&b[4..8], &[2, 0, 4, 0]);
        assert_eq!(&b[16..24], &[0xff, 0xff, 0, 0, 1, 0, 0, 0]);
        assert_eq!(
            &b[24..40],
            &[1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0]
        );
        assert_eq!(&b[40..], &[0xab; 3]);
    }
}
