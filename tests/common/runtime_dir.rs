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
