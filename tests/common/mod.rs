// Each test binary uses a different subset.
#![allow(dead_code)]

pub mod etcd;
pub mod pktgen;
pub mod runtime_dir;
