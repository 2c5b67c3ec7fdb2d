//! A classic-pcap writer (microsecond timestamps, Ethernet link type) for
//! benchmark inputs replayed by DPDK's `net_pcap` (`rx_pcap=FILE,infinite_rx=1`).
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::flows::Templates;

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

/// Writes `count` frames from `tpl` to `path`: frame `k` belongs to flow
/// `k % flows` and carries sequence number `k` and stamp TSC 0; its record
/// is timestamped `k` microseconds after the epoch. The file appears
/// complete or not at all ([`write_atomically`]). `stop` is asked before
/// every frame and after the last: once it says so the write ends with
/// [`stopped`] (and the temporary file is removed).
pub fn write_pcap(
    path: &Path,
    tpl: &Templates,
    count: u64,
    stop: impl Fn() -> bool,
) -> io::Result<()> {
    write_atomically(path, |out| {
        let mut w = PcapWriter::new(io::BufWriter::new(out))?;
        let mut frame = vec![0u8; tpl.frame_len()];
        for k in 0..count {
            if stop() {
                return Err(stopped());
            }
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
        // A stop during the last frame or the flush: still not written.
        if stop() {
            return Err(stopped());
        }
        Ok(())
    })
}

/// The error of a write that `stop` ended (SIGINT/SIGTERM).
pub fn stopped() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "stopped by a signal")
}

/// Runs `write` on a temporary file beside `path` (same directory, so the
/// rename cannot cross file systems) and renames it to `path` once
/// `write` succeeded; on any error the temporary file is removed and
/// `path` is left as it was: never a partial or empty output file. A
/// `path` that exists and is neither a file nor a directory (a FIFO,
/// `/dev/stdout`) is written directly: it cannot be replaced by a rename.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> io::Result<()>,
) -> io::Result<()> {
    let special = std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir());
    if special {
        let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
        return write(&mut f);
    }
    let tmp = temp_path(path);
    let result = std::fs::File::create(&tmp).and_then(|mut f| {
        write(&mut f)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `.NAME.PID.tmp` beside `path`.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(
        || std::ffi::OsString::from("pcap"),
        std::ffi::OsStr::to_os_string,
    );
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(tmp)
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

    fn files_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// A write that fails part-way leaves no file (no partial, no empty
    /// one, no temporary) and an existing file as it was; one that
    /// succeeds leaves exactly the file.
    #[test]
    fn a_failed_write_leaves_no_partial_file() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.pcap");
        let failing = |f: &mut std::fs::File| {
            f.write_all(b"half a capture")?;
            Err(io::Error::other("allocation failed"))
        };
        let e = write_atomically(&path, failing).unwrap_err();
        assert_eq!(e.to_string(), "allocation failed");
        assert!(
            files_in(dir.path()).is_empty(),
            "{:?}",
            files_in(dir.path())
        );
        std::fs::write(&path, b"earlier capture").unwrap();
        write_atomically(&path, failing).unwrap_err();
        assert_eq!(std::fs::read(&path).unwrap(), b"earlier capture");
        assert_eq!(files_in(dir.path()), ["out.pcap"]);
        write_atomically(&path, |f| f.write_all(b"new capture")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new capture");
        assert_eq!(files_in(dir.path()), ["out.pcap"]);
        // A directory in the way: the rename's error, no temporary left.
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let e = write_atomically(&sub, |f| f.write_all(b"x")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(21), "{e}");
        assert_eq!(files_in(dir.path()), ["out.pcap", "sub"]);
    }

    #[test]
    fn a_pcap_is_written_whole_from_templates() {
        use crate::pktgen::flows::{tests_support::plan, Mode};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pcap");
        let tpl = plan(Mode::Inner, 60, 3).templates().unwrap();
        write_pcap(&path, &tpl, 5, || false).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 24 + 5 * (16 + 60));
        assert_eq!(files_in(dir.path()), ["t.pcap"]);
    }

    /// A stop during the write ends it: no file, no temporary left, an
    /// earlier file as it was, the error says it was stopped.
    #[test]
    fn a_stopped_write_leaves_no_file() {
        use crate::pktgen::flows::{tests_support::plan, Mode};
        use std::cell::Cell;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pcap");
        let tpl = plan(Mode::Inner, 60, 3).templates().unwrap();
        // Stopped after 1000 frames (asked once per frame).
        let asked = Cell::new(0u64);
        let stop = || {
            asked.set(asked.get() + 1);
            asked.get() > 1000
        };
        let e = write_pcap(&path, &tpl, 1_000_000, stop).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Interrupted);
        assert_eq!(e.to_string(), "stopped by a signal");
        assert_eq!(asked.get(), 1001, "stopped at the first frame after");
        assert!(
            files_in(dir.path()).is_empty(),
            "{:?}",
            files_in(dir.path())
        );
        // Stopped after the last frame: still no file, an earlier one kept.
        std::fs::write(&path, b"earlier capture").unwrap();
        let asked = Cell::new(0u64);
        let stop = || {
            asked.set(asked.get() + 1);
            asked.get() > 5
        };
        write_pcap(&path, &tpl, 5, stop).unwrap_err();
        assert_eq!(std::fs::read(&path).unwrap(), b"earlier capture");
        assert_eq!(files_in(dir.path()), ["t.pcap"]);
    }
}
