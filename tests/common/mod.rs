// Each test binary uses a different subset.
#![allow(dead_code)]

pub mod etcd;
pub mod pktgen;
pub mod runtime_dir;

/// The first CPU id past the highest one online: an lcore there is one
/// EAL cannot place. `None` when every lcore id (below 128) has a CPU.
pub fn cpu_not_online() -> Option<u32> {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let highest: u32 = online
        .trim()
        .split([',', '-'])
        .filter_map(|n| n.trim().parse().ok())
        .max()
        .unwrap();
    let missing = highest + 1;
    if missing >= 128 {
        eprintln!("every lcore id has a CPU here ({online}): nothing to check");
        return None;
    }
    Some(missing)
}
