//! EAL's runtime directory of a test's file prefix, removed when dropped
//! (also when the test fails). Declare it before the `Eal` so that it is
//! dropped after it.

/// `/var/run/dpdk/<prefix>`.
pub struct RuntimeDir(pub String);

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{}", self.0));
    }
}

/// Page files named exactly `<prefix>map_<n>` in any hugetlbfs mount.
pub fn page_files(prefix: &str) -> Vec<std::path::PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").expect("read /proc/mounts");
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"hugetlbfs")).then(|| f[1].to_owned())
        })
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flat_map(|entries| entries.filter_map(Result::ok))
        .filter(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix(prefix))
                .and_then(|n| n.strip_prefix("map_"))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|e| e.path())
        .collect()
}

/// Removes a prefix's page files (a process killed, or a test failing
/// before its clean stop, leaves them).
pub fn remove_page_files(prefix: &str) {
    for f in page_files(prefix) {
        let _ = std::fs::remove_file(f);
    }
}

/// [`remove_page_files`] when dropped, also when the test fails.
pub struct PageFiles<'a>(pub &'a str);

impl Drop for PageFiles<'_> {
    fn drop(&mut self) {
        remove_page_files(self.0);
    }
}
