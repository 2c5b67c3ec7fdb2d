//! What EAL leaves on disk after its cleanup, removed at a clean stop.
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
        if let Err(e) = std::fs::remove_file(page) {
            tracing::warn!(file = %page.display(), error = %e, "could not remove a hugepage file");
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
