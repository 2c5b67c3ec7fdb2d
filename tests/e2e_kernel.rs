//! The test topology with the kernel alone: pods on two flannel-style nodes
//! talk through the kernel's VXLAN (the baseline for the gateway's tests).
mod common;
#[path = "e2e/mod.rs"]
mod e2e;

use e2e::{Etcdctl, Net, Topology};

#[test]
fn pods_on_two_kernel_vxlan_nodes_talk_through_flannel_style_programming() {
    let etcd = common::etcd::Etcd::start();
    let ctl = Etcdctl {
        endpoint: etcd.endpoint(),
        netns: None,
    };
    let net = Net::default();
    ctl.put(&format!("{}/config", net.prefix), &net.config_json());
    let mut t = Topology::new(net);
    let a = t.add_node(1, 1);
    let b = t.add_node(2, 1);
    for i in [a, b] {
        let key = t.lease_key(t.nodes[i].subnet);
        ctl.put_with_ttl(&key, &t.lease_value(i), 600);
    }
    t.sync_flannel(&ctl);
    let (pa, pb) = (t.nodes[a].pods[0].clone(), t.nodes[b].pods[0].clone());
    assert!(t.ping(&pa.0, pb.1, 3), "pod {} -> pod {}", pa.1, pb.1);
    let (bytes, secs) = t.tcp_transfer(&pa.0, &pb.0, pb.1, 5001, 16 << 20);
    eprintln!(
        "kernel pod->pod TCP: {bytes} bytes in {secs:.3} s = {:.1} Mbit/s",
        bytes as f64 * 8.0 / secs / 1e6
    );
    // A lease deleted: flanneld removes route, neighbour and FDB entry.
    ctl.del(&t.lease_key(t.nodes[b].subnet));
    t.sync_flannel(&ctl);
    assert!(
        !t.ping(&pa.0, pb.1, 1),
        "traffic stops once the lease is gone"
    );
}
