//! What EAL leaves on disk after its cleanup, removed at a clean stop,
//! and after a failed start, removed when it is provably ours.
//!
//! `rte_eal_cleanup` unmaps EAL's memory but keeps the page files of the
//! hugepages it still held (`<hugetlbfs>/<prefix>map_<n>`) and the
//! runtime directory (`/var/run/dpdk/<prefix>`: config, fbarrays,
//! hugepage info), so that a secondary process could attach; EAL removes unlocked page files only
//! at the next start. A stopped gateway should leave nothing behind: the
//! 2 MB pages its files hold stay taken from the pool until then. The
//! process still holds its `--file-prefix` lock, so no other process can
//! be using these files. A killed process leaves them as before (the next
//! start of any DPDK process removes them).
use std::path::{Path, PathBuf};

/// Removes our page files (found in `maps`, the text of `/proc/self/maps`
/// read just before the cleanup: exactly the pages EAL held) and
/// `runtime_dir` (whose last component is the file prefix), best effort:
/// what cannot be removed is logged.
pub(crate) fn remove(runtime_dir: &Path, maps: &str) {
    let Some(prefix) = runtime_dir.file_name().and_then(|p| p.to_str()) else {
        return;
    };
    let pages = page_files(prefix, maps);
    for page in &pages {
        match std::fs::remove_file(page) {
            // Gone already: EAL freed its page (memory released before the
            // cleanup, as after a port that failed to start).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %page.display(), error = %e, "could not remove a hugepage file")
            }
            Ok(()) => {}
        }
    }
    match std::fs::remove_dir_all(runtime_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(
            dir = %runtime_dir.display(),
            error = %e,
            "could not remove EAL's runtime directory"
        ),
    }
    tracing::debug!(
        pages = pages.len(),
        dir = %runtime_dir.display(),
        "removed EAL's files"
    );
}

/// After a failed start: removes EAL's runtime directory `dir` when it is
/// provably this process's, and only then: when it is empty (EAL made it
/// and failed before it put anything there; `--in-memory` puts nothing
/// there), or when this process holds the lock on its `config`. EAL takes
/// that lock first (it makes a process the prefix's primary) and keeps it
/// whatever fails later (hugepage information, memory, devices); what is
/// in the directory then (config, mp socket, fbarrays) is this process's.
/// A directory whose lock another live process holds (a second process on
/// its --file-prefix, or a secondary one) is left to it.
pub(crate) fn remove_after_failure(dir: &Path) {
    let config = std::fs::File::open(dir.join("config"));
    match config {
        Ok(config) if locked_by_this_process(&config) => {
            remove(dir, "");
            // Closing any descriptor of the file drops this process's
            // lock: only now, with the directory gone, can another process
            // on this prefix start.
            drop(config);
        }
        _ => {
            // Not empty: another process's (or of unknown owner).
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Whether this process holds a (POSIX, `fcntl`) lock on `file`.
fn locked_by_this_process(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // An open-file-description lock conflicts with every POSIX lock, this
    // process's too, so the query reports the holder's pid.
    let mut lock = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        // The whole file.
        l_len: 0,
        l_pid: 0,
    };
    // SAFETY: `file` is an open descriptor for the call's duration and
    // `lock` a valid, initialised flock (l_pid 0, as F_OFD_GETLK wants).
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut lock) };
    rc == 0
        && lock.l_type != libc::F_UNLCK as libc::c_short
        && i64::from(lock.l_pid) == i64::from(std::process::id())
}

/// The page files of `prefix` mapped in `maps`: paths whose file name is
/// exactly `<prefix>map_<digits>` (not another prefix that merely starts
/// the same: `rte2map_0` is not `rte`'s), not already unlinked
/// (`--huge-unlink` maps show ` (deleted)`), each once.
pub(crate) fn page_files(prefix: &str, maps: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for line in maps.lines() {
        // address perms offset dev inode path: the path is the sixth field
        // and may hold spaces.
        let Some(path) = line
            .splitn(6, char::is_whitespace)
            .nth(5)
            .map(str::trim_start)
        else {
            continue;
        };
        if !path.starts_with('/') || path.ends_with(" (deleted)") {
            continue;
        }
        let path = Path::new(path);
        let ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.strip_prefix("map_"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if ours && !out.iter().any(|p| p == path) {
            out.push(path.to_path_buf());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c0a00000-55d0c0a21000 r--p 00000000 08:01 1311 /usr/bin/vxgate
100000000-100200000 rw-s 00000000 00:2f 41 /dev/hugepages/qa-climap_0
100200000-100400000 rw-s 00000000 00:2f 42 /dev/hugepages/qa-climap_1
100400000-100600000 rw-s 00200000 00:2f 42 /dev/hugepages/qa-climap_1
100600000-100800000 rw-s 00000000 00:2f 43 /dev/hugepages/qa-cli2map_0
100800000-100a00000 rw-s 00000000 00:2f 44 /dev/hugepages/qa-climap_2 (deleted)
100a00000-100c00000 rw-s 00000000 00:2f 45 /mnt/huge dir/qa-climap_7
100c00000-100e00000 rw-s 00000000 00:2f 46 /dev/hugepages/qa-climap_x
7f0000000000-7f0000021000 rw-p 00000000 00:00 0
7ffd1c3e0000-7ffd1c401000 rw-p 00000000 00:00 0 [stack]
";

    #[test]
    fn only_our_mapped_page_files_are_found_once_each() {
        assert_eq!(
            page_files("qa-cli", MAPS),
            [
                PathBuf::from("/dev/hugepages/qa-climap_0"),
                PathBuf::from("/dev/hugepages/qa-climap_1"),
                PathBuf::from("/mnt/huge dir/qa-climap_7"),
            ]
        );
        assert_eq!(
            page_files("qa-cli2", MAPS),
            [PathBuf::from("/dev/hugepages/qa-cli2map_0")]
        );
        assert!(page_files("rte", MAPS).is_empty());
    }

    /// A POSIX write lock on part of `file`, as EAL takes on its config.
    fn lock(file: &std::fs::File) {
        use std::os::fd::AsRawFd;
        let lock = libc::flock {
            l_type: libc::F_WRLCK as libc::c_short,
            l_whence: libc::SEEK_SET as libc::c_short,
            l_start: 64,
            l_len: 128,
            l_pid: 0,
        };
        // SAFETY: `file` is open for writing; `lock` is a valid flock.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock) };
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    }

    /// After a failed start: a directory whose config this process has
    /// locked, or an empty one, is removed; one with an unlocked config
    /// (whose owner this process cannot prove) is left.
    #[test]
    fn only_a_runtime_dir_this_process_holds_is_removed_after_a_failure() {
        let d = tempfile::tempdir().unwrap();
        let ours = d.path().join("ours");
        std::fs::create_dir(&ours).unwrap();
        let config = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(ours.join("config"))
            .unwrap();
        std::fs::write(ours.join("mp_socket"), b"").unwrap();
        assert!(!locked_by_this_process(&config));
        lock(&config);
        assert!(locked_by_this_process(&config));
        remove_after_failure(&ours);
        assert!(!ours.exists());

        let unproven = d.path().join("unproven");
        std::fs::create_dir(&unproven).unwrap();
        std::fs::write(unproven.join("config"), b"").unwrap();
        remove_after_failure(&unproven);
        assert!(unproven.join("config").exists());

        let empty = d.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        remove_after_failure(&empty);
        assert!(!empty.exists());
    }

    #[test]
    fn page_files_and_the_runtime_dir_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let pages = d.path().join("huge");
        let run = d.path().join("run").join("qa-t");
        std::fs::create_dir_all(&pages).unwrap();
        std::fs::create_dir_all(&run).unwrap();
        for f in ["qa-tmap_0", "qa-tmap_1", "qa-t2map_0"] {
            std::fs::write(pages.join(f), b"").unwrap();
        }
        std::fs::write(run.join("config"), b"").unwrap();
        std::fs::write(run.join("fbarray_memzone"), b"").unwrap();
        let maps = format!(
            "1000-2000 rw-s 0 00:2f 1 {p}/qa-tmap_0\n2000-3000 rw-s 0 00:2f 2 {p}/qa-t2map_0\n",
            p = pages.display()
        );
        remove(&run, &maps);
        assert!(!run.exists());
        assert!(!pages.join("qa-tmap_0").exists());
        // Not mapped by us: left to EAL's next start.
        assert!(pages.join("qa-tmap_1").exists());
        // Another prefix's.
        assert!(pages.join("qa-t2map_0").exists());
    }
}
