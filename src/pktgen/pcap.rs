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
        // Synced here, not only after: a stop during the last frame, the
        // flush or the sync (seconds for gigabytes on a slow disk) still
        // leaves nothing written. A pipe or a device (`/dev/stdout`) has
        // nothing to sync: fsync refuses them (EINVAL).
        sync_if_file(w.finish()?.get_ref())?;
        if stop() {
            return Err(stopped());
        }
        Ok(())
    })
}

/// fsync for a regular file; anything else (a FIFO, a terminal, a
/// character device) is left as written.
fn sync_if_file(f: &std::fs::File) -> io::Result<()> {
    if f.metadata()?.is_file() {
        f.sync_all()?;
    }
    Ok(())
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
/// A symlink is written through: the file it resolves to (existing or
/// not) is the one replaced, the link stays. An existing file's
/// permissions are kept (given to the temporary file before anything is
/// written to it); a new file gets the default mode.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> io::Result<()>,
) -> io::Result<()> {
    let special = std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir());
    if special {
        let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
        return write(&mut f);
    }
    let target = resolve_links(path)?;
    let keep = std::fs::metadata(&target)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map(|m| m.permissions());
    let (tmp, mut f) = create_temp(&target)?;
    let fill = || -> io::Result<()> {
        if let Some(p) = keep {
            f.set_permissions(p)?;
        }
        write(&mut f)?;
        f.sync_all()
    };
    let result = fill().and_then(|()| {
        drop(f);
        std::fs::rename(&tmp, &target)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// How many symlinks [`resolve_links`] follows (Linux's own limit).
const MAX_LINKS: usize = 40;

/// `path` with its final component's symlinks followed (a link's relative
/// target taken from the link's directory), to the file they name, which
/// need not exist; `path` itself if it is no symlink.
fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("more than {MAX_LINKS} symlinks to follow"),
    ))
}

/// How many names [`create_temp`] tries before it gives up.
const TEMP_TRIES: usize = 16;

/// A new file `.NAME.RANDOM.tmp` beside `path`, created exclusively
/// (`O_CREAT | O_EXCL`, which follows no symlink): a name guessed in
/// advance in a shared directory such as /tmp, or a link planted there,
/// cannot make us write through it; an existing name is skipped.
fn create_temp(path: &Path) -> io::Result<(PathBuf, std::fs::File)> {
    let name = path.file_name().map_or_else(
        || std::ffi::OsString::from("pcap"),
        std::ffi::OsStr::to_os_string,
    );
    let mut last = None;
    for _ in 0..TEMP_TRIES {
        let mut tmp = std::ffi::OsString::from(".");
        tmp.push(&name);
        tmp.push(format!(".{:016x}.tmp", rand::random::<u64>()));
        let tmp = path.with_file_name(tmp);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no temporary file name left to try")))
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

    /// The temporary file is a new hidden file beside the target with a
    /// name nobody can guess, created exclusively: the name the writer
    /// used before (`.NAME.PID.tmp`), planted as a symlink to a file of
    /// someone else's, is neither written through nor in the way.
    #[test]
    fn the_temporary_file_is_new_unguessable_and_follows_no_link() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.pcap");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let planted = dir
            .path()
            .join(format!(".out.pcap.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let (a, _fa) = create_temp(&path).unwrap();
        let (b, _fb) = create_temp(&path).unwrap();
        assert_ne!(a, b);
        for t in [&a, &b] {
            assert_eq!(t.parent(), Some(dir.path()));
            let name = t.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                name.starts_with(".out.pcap.") && name.ends_with(".tmp"),
                "{name}"
            );
            assert_ne!(t, &planted);
            assert!(std::fs::symlink_metadata(t).unwrap().is_file());
        }
        std::fs::remove_file(&a).unwrap();
        std::fs::remove_file(&b).unwrap();
        write_atomically(&path, |f| f.write_all(b"capture")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"capture");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        let mut left = files_in(dir.path());
        left.retain(|n| n.as_str() != planted.file_name().unwrap().to_string_lossy());
        assert_eq!(left, ["out.pcap", "victim"]);
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

    /// A device or a FIFO is written directly and not synced (fsync
    /// refuses both): `/dev/null` and a FIFO a reader drains take the
    /// whole pcap.
    #[test]
    fn a_pcap_goes_to_a_device_or_a_fifo() {
        use crate::pktgen::flows::{tests_support::plan, Mode};
        let tpl = plan(Mode::Inner, 60, 3).templates().unwrap();
        write_pcap(Path::new("/dev/null"), &tpl, 5, || false).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap().len())
        };
        write_pcap(&fifo, &tpl, 5, || false).unwrap();
        assert_eq!(reader.join().unwrap(), 24 + 5 * (16 + 60));
        assert_eq!(files_in(dir.path()), ["f"]);
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

    /// A symlink is written through: its target gets the frames, the link
    /// stays a link (also a dangling one, a relative one into another
    /// directory, a chain of two); no temporary is left in either
    /// directory.
    #[test]
    fn a_symlink_is_written_through() {
        use std::io::Write as _;
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let real = sub.join("real.pcap");
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link.pcap");
        symlink("sub/real.pcap", &link).unwrap();
        write_atomically(&link, |f| f.write_all(b"new")).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("sub/real.pcap")
        );
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        assert_eq!(files_in(dir.path()), ["link.pcap", "sub"]);
        assert_eq!(files_in(&sub), ["real.pcap"]);
        // A chain: link2 -> link.pcap -> sub/real.pcap.
        let link2 = dir.path().join("link2.pcap");
        symlink(&link, &link2).unwrap();
        write_atomically(&link2, |f| f.write_all(b"newer")).unwrap();
        assert_eq!(std::fs::read(&real).unwrap(), b"newer");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        // A dangling link: the file it names is created, the link stays.
        let dangling = dir.path().join("dangling.pcap");
        symlink("sub/new.pcap", &dangling).unwrap();
        write_atomically(&dangling, |f| f.write_all(b"created")).unwrap();
        assert_eq!(std::fs::read(sub.join("new.pcap")).unwrap(), b"created");
        assert!(std::fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(files_in(&sub), ["new.pcap", "real.pcap"]);
        // A failed write through a link: the target as it was.
        write_atomically(&link, |_| Err(io::Error::other("no"))).unwrap_err();
        assert_eq!(std::fs::read(&real).unwrap(), b"newer");
        assert_eq!(files_in(&sub), ["new.pcap", "real.pcap"]);
        // A loop: an error, nothing written.
        let a = dir.path().join("a");
        symlink("b", &a).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        write_atomically(&a, |f| f.write_all(b"x")).unwrap_err();
        assert_eq!(
            files_in(dir.path()),
            ["a", "b", "dangling.pcap", "link.pcap", "link2.pcap", "sub"]
        );
    }

    /// An existing file's permissions are kept (0600 stays 0600, also
    /// through a symlink); a new file gets the default mode, as a file
    /// `File::create` makes.
    #[test]
    fn an_existing_files_permissions_are_kept() {
        use std::io::Write as _;
        use std::os::unix::fs::{symlink, PermissionsExt};
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("private.pcap");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomically(&path, |f| f.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.pcap");
        symlink("private.pcap", &link).unwrap();
        write_atomically(&link, |f| f.write_all(b"newer")).unwrap();
        assert_eq!(mode(&path), 0o640);
        // The temporary file has the old mode before anything is in it.
        write_atomically(&path, |f| {
            assert_eq!(f.metadata()?.permissions().mode() & 0o7777, 0o640);
            f.write_all(b"x")
        })
        .unwrap();
        // New: the default mode (0666 less the umask).
        let reference = dir.path().join("reference");
        std::fs::File::create(&reference).unwrap();
        let fresh = dir.path().join("fresh.pcap");
        write_atomically(&fresh, |f| f.write_all(b"x")).unwrap();
        assert_eq!(mode(&fresh), mode(&reference));
    }
}
