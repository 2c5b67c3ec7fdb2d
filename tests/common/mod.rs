pub mod etcd;
pub mod pktgen;
