//! vxgate between kernel-VXLAN nodes (configured exactly as flanneld does)
//! and a bare-metal host, everything in network namespaces.
mod common;
#[path = "e2e/mod.rs"]
mod e2e;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use e2e::{run, sh, Dpdk, Etcdctl, Net, Topology};

/// The gateway's subnet is the network's 255th; host .10 behind it.
fn host_ip(net: &Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.subnet(255)) + 10)
}
fn access_ip(net: &Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.subnet(255)) + 1)
}

struct Running {
    topo: Topology,
    gw: e2e::Gateway,
    ctl: Etcdctl,
    etcd: common::etcd::Etcd,
    vxgate: usize,
    /// vxgate's EAL --file-prefix.
    prefix: String,
}

/// The whole topology with `nodes` nodes (one pod each), vxgate started on
/// `kind` devices, and every node programmed with every lease (vxgate's too).
fn start(kind: Dpdk, net: Net, nodes: u32) -> Running {
    start_args(kind, net, nodes, 1, "")
}

/// The underlay, the gateway's namespaces and host, and etcd holding
/// flannel's config for `net`.
fn underlay_and_etcd(net: &Net) -> (Topology, e2e::Gateway, common::etcd::Etcd, Etcdctl) {
    let mut topo = Topology::new(net.clone());
    let gw = topo.add_gateway(host_ip(net), access_ip(net), net.subnet_len);
    let etcd = common::etcd::Etcd::start_in_netns(&gw.ns);
    let ctl = Etcdctl {
        endpoint: etcd.endpoint(),
        netns: Some(gw.ns.clone()),
    };
    ctl.put(&format!("{}/config", net.prefix), &net.config_json());
    (topo, gw, etcd, ctl)
}

/// `start` with `workers` workers and `extra` flags for `vxgate run`
/// (each followed by a space).
fn start_args(kind: Dpdk, net: Net, nodes: u32, workers: u32, extra: &str) -> Running {
    let (mut topo, gw, etcd, ctl) = underlay_and_etcd(&net);
    for i in 1..=nodes {
        let n = topo.add_node(i, 1);
        let key = topo.lease_key(topo.nodes[n].subnet);
        ctl.put_with_ttl(&key, &topo.lease_value(n), 600);
    }
    let tag = format!("{}{:?}", topo.tag, kind);
    let cmd = vxgate_cmd(&gw, &net, &etcd, (kind, &tag), workers, extra);
    let vxgate = topo.spawn(&gw.ns, &cmd);
    // vxgate registers its lease; the nodes' "flanneld" then programs it.
    let own = format!("{}-{}", net.subnet(255), net.subnet_len);
    let deadline = Instant::now() + Duration::from_secs(30);
    wait_alive(
        &mut topo,
        vxgate,
        deadline,
        &format!("its lease {own}"),
        || ctl.leases(&net.prefix).contains_key(&own),
    );
    // Ports are started before vxgate talks to etcd: the TAPs are final now.
    if kind == Dpdk::Tap {
        gw.attach_taps();
    }
    topo.sync_flannel(&ctl);
    // The metrics endpoint answers from the start; the data plane's
    // families appear once the workers run. Every test reads them, so wait
    // for them (a loaded machine can take a moment).
    let scrape = format!(
        "ip netns exec {} curl -sf http://127.0.0.1:9477/metrics | grep -q '^vxgate_worker_polls_total'",
        gw.ns
    );
    wait_alive(
        &mut topo,
        vxgate,
        deadline,
        "its data-plane metrics",
        || run(&scrape).status.success(),
    );
    Running {
        topo,
        gw,
        ctl,
        etcd,
        vxgate,
        prefix: format!("vxe-{tag}"),
    }
}

/// The `vxgate run` command line for `gw` on `kind` devices (EAL prefix
/// `vxe-<tag>`) with `workers` workers and `extra` flags, each followed by
/// a space.
fn vxgate_cmd(
    gw: &e2e::Gateway,
    net: &Net,
    etcd: &common::etcd::Etcd,
    (kind, tag): (Dpdk, &str),
    workers: u32,
    extra: &str,
) -> String {
    let (eal, ul, ac) = gw.devices_for(kind, tag, workers);
    // VXGATE_BIN runs another build (e.g. target/release/vxgate for figures).
    let bin =
        std::env::var("VXGATE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_vxgate").to_string());
    // A jumbo underlay: both ports at the links' MTU, as an operator sets them.
    let mtus = net
        .mtu
        .map(|m| format!("--underlay-mtu {m} --access-mtu {m} --mbufs 8192 "))
        .unwrap_or_default();
    format!(
        "{bin} run --underlay {ul} --underlay-ip {}/{} --access {ac} --subnet {}/{} {mtus}{extra}\
         --etcd-endpoints {} --etcd-prefix {} --metrics-addr 127.0.0.1:9477 --workers {workers} -- {}",
        gw.underlay_ip,
        net.underlay.1,
        net.subnet(255),
        net.subnet_len,
        etcd.endpoint(),
        net.prefix,
        eal.join(" ")
    )
}

/// Polls `ready` until it holds; fails when vxgate (child `vxgate` of
/// `topo`) exits first, with its output, or at `deadline`.
fn wait_alive(
    topo: &mut Topology,
    vxgate: usize,
    deadline: Instant,
    what: &str,
    mut ready: impl FnMut() -> bool,
) {
    while !ready() {
        if let Some(st) = topo.child(vxgate).try_wait().unwrap() {
            let out = topo.wait_output(vxgate, Duration::from_secs(1));
            panic!("vxgate exited early ({st}): {out}");
        }
        assert!(Instant::now() < deadline, "vxgate did not get {what} ready");
        vxgate::ops::pause(Duration::from_millis(50));
    }
}

impl Running {
    fn metrics(&self) -> String {
        sh(&format!(
            "ip netns exec {} curl -sf http://127.0.0.1:9477/metrics",
            self.gw.ns
        ))
    }

    /// The value of one sample line (`name{labels}`). A sample missing
    /// from `/metrics` fails the test: every family is exported from the
    /// first scrape, so a renamed or lost metric cannot pass for 0.
    fn metric(&self, sample: &str) -> f64 {
        let text = self.metrics();
        text.lines()
            .find_map(|l| l.strip_prefix(sample).and_then(|r| r.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no sample {sample} in /metrics:\n{text}"))
    }

    /// SIGTERM: vxgate exits 0 and prints its final counters.
    fn stop(mut self) -> String {
        let pid = self.topo.child(self.vxgate).id();
        sh(&format!("kill -TERM {pid}"));
        let t0 = Instant::now();
        let out = self.topo.wait_output(self.vxgate, Duration::from_secs(10));
        let status = self.topo.child(self.vxgate).wait().unwrap();
        assert_eq!(
            status.code(),
            Some(0),
            "exit status after SIGTERM; output:\n{out}"
        );
        eprintln!("vxgate stopped {:?} after SIGTERM", t0.elapsed());
        assert!(out.contains("final counters"), "{out}");
        assert!(out.contains("leaked 0)"), "mbuf leak reported:\n{out}");
        // A clean stop leaves no hugepage file and no EAL runtime directory.
        let dir = std::path::Path::new("/var/run/dpdk").join(&self.prefix);
        assert!(!dir.exists(), "{} left behind", dir.display());
        let pages = common::runtime_dir::page_files(&self.prefix);
        assert!(pages.is_empty(), "left behind: {pages:?}");
        drop(self.etcd);
        out
    }
}

/// Pings until `dst` answers; on timeout, fails with vxgate's metrics.
fn ping_until(r: &Running, ns: &str, dst: Ipv4Addr, within: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        if run(&format!("ip netns exec {ns} ping -c 1 -W 0.2 {dst}"))
            .status
            .success()
        {
            return t0.elapsed();
        }
        if t0.elapsed() >= within {
            if std::env::var("VXGATE_E2E_DEBUG").is_ok() {
                eprintln!("{}", run(&format!("ip netns exec {ns} ip neigh; ip netns exec {ns} timeout 3 tcpdump -nei eth0 -c 20 & sleep 0.5; ip netns exec {ns} ping -c 2 {dst}; ip netns exec {g} timeout 2 tcpdump -nei vxga0 -c 10; ip -n {g} -d link show vxga0; ip -n {g} link show gwac", g = r.gw.ns)).stdout.iter().map(|&c| c as char).collect::<String>());
            }
            let m: Vec<String> = r
                .metrics()
                .lines()
                .filter(|l| !l.starts_with('#') && !l.ends_with(" 0"))
                .map(str::to_string)
                .collect();
            panic!(
                "{dst} not reachable from {ns} within {within:?}; non-zero metrics:\n{}",
                m.join("\n")
            );
        }
    }
}

/// 8 MiB over TCP from the pod to the bare-metal host and back (ports
/// `port` and `port + 1`), checksummed at both ends; prints the rates.
fn tcp_both_ways(r: &mut Running, label: &str, (pod_ns, pod_ip): (&str, Ipv4Addr), port: u16) {
    let (bm, host_ip) = (r.gw.bm_ns.clone(), r.gw.host_ip);
    for (from, to, to_ip, port, what) in [
        (
            pod_ns,
            bm.as_str(),
            host_ip,
            port,
            format!("pod {pod_ip} -> bare-metal"),
        ),
        (
            bm.as_str(),
            pod_ns,
            pod_ip,
            port + 1,
            format!("bare-metal -> pod {pod_ip}"),
        ),
    ] {
        let (bytes, secs) = r.topo.tcp_transfer(from, to, to_ip, port, 8 << 20);
        assert_eq!(bytes, 8 << 20, "{what}");
        eprintln!(
            "{label}: {what} TCP {bytes} bytes in {secs:.3} s = {:.1} Mbit/s",
            bytes as f64 * 8.0 / secs / 1e6
        );
    }
}

fn pods_and_host_talk(kind: Dpdk, net: Net) {
    let mut r = start(kind, net, 2);
    let bm = r.gw.bm_ns.clone();
    for n in 0..r.topo.nodes.len() {
        let (pod_ns, pod_ip) = r.topo.nodes[n].pods[0].clone();
        // The first packets wait for ARP on both sides of vxgate.
        ping_until(&r, &bm, pod_ip, Duration::from_secs(10));
        assert!(r.topo.ping(&bm, pod_ip, 3), "bare-metal -> pod {pod_ip}");
        assert!(
            r.topo.ping(&pod_ns, r.gw.host_ip, 3),
            "pod {pod_ip} -> bare-metal"
        );
        assert!(
            r.topo.ping(&bm, r.gw.access_ip, 2),
            "bare-metal -> vxgate's access address"
        );
        assert!(
            r.topo.ping(&pod_ns, r.gw.access_ip, 2),
            "pod -> vxgate's access address through the tunnel"
        );
        tcp_both_ways(&mut r, &format!("{kind:?}"), (&pod_ns, pod_ip), 5001);
    }
    if kind == Dpdk::Tap {
        a_priority_tagging_host_talks(&mut r);
    }
    // The same transfer between two pods through the kernel alone, for scale.
    let (a, b) = (
        r.topo.nodes[0].pods[0].clone(),
        r.topo.nodes[1].pods[0].clone(),
    );
    let (bytes, secs) = r.topo.tcp_transfer(&a.0, &b.0, b.1, 5003, 8 << 20);
    eprintln!(
        "{kind:?}: kernel only, pod {} -> pod {} TCP {bytes} bytes in {secs:.3} s = {:.1} Mbit/s",
        a.1,
        b.1,
        bytes as f64 * 8.0 / secs / 1e6
    );
    assert!(r.metric("vxgate_encap_packets_total") > 10_000.0);
    assert!(r.metric("vxgate_decap_packets_total") > 10_000.0);
    assert_eq!(
        r.metric("vxgate_leases"),
        2.0,
        "the two nodes' leases (our own is served locally, not installed)"
    );
    assert_eq!(r.metric("vxgate_etcd_connected"), 1.0);
    r.stop();
}

/// A second host on the access segment whose NIC priority-tags all it
/// sends (802.1Q, VLAN id 0, priority 3: DCB hosts, some storage and
/// Windows NICs), ARP included: vxgate takes its frames as the untagged
/// frames they carry, as Linux does, and answers untagged. The host
/// resolves and pings the gateway's access address and every pod; every
/// pod pings it (vxgate's ARP request answered by a tagged reply, learned
/// through the slow path). No frame of it is dropped as `not_ipv4`.
fn a_priority_tagging_host_talks(r: &mut Running) {
    let not_ipv4 = "vxgate_drops_total{reason=\"not_ipv4\"}";
    let dropped_before = r.metric(not_ipv4);
    let ip = Ipv4Addr::from(u32::from(r.gw.host_ip) + 10);
    let (ns, relay) = r.topo.add_priority_tagging_host(&r.gw, ip);
    let took = ping_until(r, &ns, r.gw.access_ip, Duration::from_secs(10));
    eprintln!("FIGURE priority-tagged host reached vxgate's access address in {took:?}");
    assert!(
        r.topo.ping(&ns, r.gw.access_ip, 3),
        "priority-tagged host -> vxgate's access address"
    );
    for n in 0..r.topo.nodes.len() {
        let (pod_ns, pod_ip) = r.topo.nodes[n].pods[0].clone();
        ping_until(r, &ns, pod_ip, Duration::from_secs(10));
        assert!(
            r.topo.ping(&ns, pod_ip, 3),
            "priority-tagged host -> pod {pod_ip}"
        );
        assert!(
            r.topo.ping(&pod_ns, ip, 3),
            "pod {pod_ip} -> priority-tagged host"
        );
    }
    let out = r.topo.output_so_far(relay);
    assert!(
        out.contains("tagged arp") && out.contains("tagged ipv4"),
        "the relay tagged no ARP or no IPv4 frame: {out}"
    );
    assert_eq!(r.metric(not_ipv4), dropped_before, "tagged frames dropped");
}

/// A host that already holds vxgate's underlay address (a Linux namespace
/// on the underlay, as a second gateway given the same --underlay-ip would
/// be) answers vxgate's start-up ARP probe: vxgate refuses to start, exit
/// 1, naming the address and the holder's MAC, and writes nothing to etcd
/// (it would have taken that gateway's lease for its own). So does a host
/// of the access segment holding the access address. With the addresses
/// given up, the same start succeeds.
#[test]
fn an_address_held_by_another_host_keeps_vxgate_from_starting() {
    let net = Net::default();
    let (mut topo, gw, etcd, ctl) = underlay_and_etcd(&net);
    let holder = topo.namespace("sq");
    topo.plug_underlay(&holder, "eth0");
    let mac_of = |ns: &str| {
        sh(&format!(
            "ip netns exec {ns} cat /sys/class/net/eth0/address"
        ))
    };
    let tag = format!("{}sq", topo.tag);
    let cmd = vxgate_cmd(&gw, &net, &etcd, (Dpdk::AfPacket, &tag), 1, "");
    let refused = |topo: &mut Topology, said: String| {
        let i = topo.spawn(&gw.ns, &cmd);
        let out = topo.wait_output(i, Duration::from_secs(60));
        assert_eq!(topo.child(i).wait().unwrap().code(), Some(1), "{out}");
        assert!(out.contains(&said), "no {said:?} in:\n{out}");
        let leases = ctl.leases(&net.prefix);
        assert!(leases.is_empty(), "a lease was written: {leases:?}");
    };
    let underlay = format!("{}/{} dev eth0", gw.underlay_ip, net.underlay.1);
    sh(&format!("ip -n {holder} addr add {underlay}"));
    refused(
        &mut topo,
        format!(
            "--underlay-ip {} is in use on the underlay: {} answers for it",
            gw.underlay_ip,
            mac_of(&holder).trim()
        ),
    );
    sh(&format!("ip -n {holder} addr del {underlay}"));
    let access = format!("{}/{} dev eth0", gw.access_ip, net.subnet_len);
    sh(&format!("ip -n {} addr add {access}", gw.bm_ns));
    refused(
        &mut topo,
        format!(
            "the access address {} is in use on the access segment: {} answers for it",
            gw.access_ip,
            mac_of(&gw.bm_ns).trim()
        ),
    );
    sh(&format!("ip -n {} addr del {access}", gw.bm_ns));
    let started = topo.spawn(&gw.ns, &cmd);
    let own = format!("{}-{}", net.subnet(255), net.subnet_len);
    wait_alive(
        &mut topo,
        started,
        Instant::now() + Duration::from_secs(30),
        "its lease",
        || ctl.leases(&net.prefix).contains_key(&own),
    );
    let pid = topo.child(started).id();
    sh(&format!("kill -TERM {pid}"));
    let out = topo.wait_output(started, Duration::from_secs(10));
    assert_eq!(topo.child(started).wait().unwrap().code(), Some(0), "{out}");
}

/// A `--vtep-mac` that is a port's MAC is refused once the ports are open
/// (exit 2, naming the port), before anything is written to etcd: behind
/// that port a tunnel's inner frame and a plain frame would look alike.
#[test]
fn a_vtep_mac_that_is_a_ports_mac_is_refused() {
    let net = Net::default();
    let (mut topo, gw, etcd, ctl) = underlay_and_etcd(&net);
    for (side, ifname) in [("underlay", "gwul"), ("access", "gwac")] {
        let mac = sh(&format!(
            "ip netns exec {} cat /sys/class/net/{ifname}/address",
            gw.ns
        ));
        let tag = format!("{}vm{ifname}", topo.tag);
        let extra = format!("--vtep-mac {} ", mac.trim());
        let cmd = vxgate_cmd(&gw, &net, &etcd, (Dpdk::AfPacket, &tag), 1, &extra);
        let i = topo.spawn(&gw.ns, &cmd);
        let out = topo.wait_output(i, Duration::from_secs(60));
        assert_eq!(topo.child(i).wait().unwrap().code(), Some(2), "{out}");
        let said = format!("it is the MAC of the {side} port");
        assert!(out.contains(&said), "no {said:?} in:\n{out}");
        assert!(out.contains("vtep-mac"), "{out}");
        let leases = ctl.leases(&net.prefix);
        assert!(leases.is_empty(), "a lease was written: {leases:?}");
    }
}

/// Also a host behind a priority-tagging NIC (`a_priority_tagging_host_talks`).
#[test]
fn pods_and_bare_metal_talk_through_vxgate_on_net_tap() {
    pods_and_host_talk(Dpdk::Tap, Net::default());
}

#[test]
fn pods_and_bare_metal_talk_through_vxgate_on_af_packet() {
    pods_and_host_talk(Dpdk::AfPacket, Net::default());
}

/// Large UDP datagrams without DF from the bare-metal host (MTU 1500) to a
/// pod: the host's kernel cuts each into 1500-byte fragments and a short
/// last one; vxgate cuts the big ones again for its 1450-byte tunnel and
/// sends the last one after them (`frag_order`), so the pod's kernel
/// reassembles every datagram. When the last fragments were forwarded at
/// once, ahead of the rest, more than `ipfrag_max_dist` (64) fragments came
/// between those of one datagram under load, and the pod's kernel dropped
/// about half of the datagrams (a tester: 23 of 50 reassembled).
#[test]
fn large_udp_datagrams_from_a_host_reach_a_pod_whole() {
    let mut r = start(Dpdk::Tap, Net::default(), 1);
    let bm = r.gw.bm_ns.clone();
    let (pod_ns, pod_ip) = r.topo.nodes[0].pods[0].clone();
    ping_until(&r, &bm, pod_ip, Duration::from_secs(10));
    let py = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/udpfrag.py");
    let rx = r.topo.spawn(&pod_ns, &format!("python3 {py} recv 6000 3"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !r.topo.output_so_far(rx).contains("listening") {
        assert!(Instant::now() < deadline, "receiver did not start");
        vxgate::ops::pause(Duration::from_millis(20));
    }
    let fragmented = r.metric("vxgate_slowpath_packets_total{kind=\"fragment\"}");
    let n = 300;
    let sent = sh(&format!(
        "ip netns exec {bm} python3 {py} send {pod_ip} 6000 {n} 32000 0.002"
    ));
    assert!(sent.contains(&format!("sent {n}")), "{sent}");
    let got = r.topo.wait_output(rx, Duration::from_secs(60));
    assert!(
        got.contains(&format!("received {n} intact {n}")),
        "every datagram reassembled and intact: {got}\npod: {}",
        sh(&format!(
            "ip netns exec {pod_ns} nstat -az IpReasmFails IpReasmOKs IpReasmReqds"
        ))
    );
    // 22 fragments a datagram, all through the slow path.
    let through = r.metric("vxgate_slowpath_packets_total{kind=\"fragment\"}") - fragmented;
    assert_eq!(
        through,
        f64::from(n * 22),
        "fragments through the slow path"
    );
    assert_eq!(r.metric("vxgate_drops_total{reason=\"tx_full\"}"), 0.0);
    r.stop();
}

/// `ping -c 3 -s 3000` (3028 bytes of IPv4: three fragments on a
/// 1500-byte link) to the gateway's access address from the bare-metal
/// host and from a pod through the tunnel, and to its underlay address
/// from a node: every fragment is punted, the slow path reassembles each
/// request and answers it in fragments, as Linux answers such pings; the
/// fragments' buffers are freed as they are copied, so the mbufs in use
/// come back to their level before.
#[test]
fn fragmented_pings_to_the_gateway_are_answered() {
    let r = start(Dpdk::Tap, Net::default(), 1);
    let bm = r.gw.bm_ns.clone();
    let (pod_ns, pod_ip) = r.topo.nodes[0].pods[0].clone();
    let node_ns = r.topo.nodes[0].ns.clone();
    // Neighbours resolved both ways first (unfragmented pings).
    ping_until(&r, &bm, pod_ip, Duration::from_secs(10));
    ping_until(&r, &pod_ns, r.gw.access_ip, Duration::from_secs(10));
    ping_until(&r, &node_ns, r.gw.underlay_ip, Duration::from_secs(10));
    let in_use = "vxgate_mbufs_in_use";
    let icmp = "vxgate_slowpath_packets_total{kind=\"icmp\"}";
    let fragment = "vxgate_slowpath_packets_total{kind=\"fragment\"}";
    let baseline = r.metric(in_use);
    let (icmp0, fragment0) = (r.metric(icmp), r.metric(fragment));
    let drops = |r: &Running| -> Vec<f64> {
        ["outer_fragment", "bad_ipv4", "bad_checksum", "tx_full"]
            .iter()
            .map(|reason| r.metric(&format!("vxgate_drops_total{{reason=\"{reason}\"}}")))
            .collect()
    };
    let drops0 = drops(&r);
    for (ns, dst, who) in [
        (&bm, r.gw.access_ip, "bare-metal host -> access address"),
        (
            &pod_ns,
            r.gw.access_ip,
            "pod -> access address through the tunnel",
        ),
        (&node_ns, r.gw.underlay_ip, "node -> underlay address"),
    ] {
        let out = run(&format!("ip netns exec {ns} ping -c 3 -s 3000 -W 2 {dst}"));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("3 received"),
            "{who}: {text}\n{}",
            r.metrics()
        );
        assert!(
            text.contains("3008 bytes from"),
            "{who}: whole replies: {text}"
        );
    }
    // Three requests of three fragments each, per sender: nine answered,
    // so no fragment was dropped (`not_for_us` is not compared: the
    // namespaces' own chatter, ARP for other hosts, lands there).
    assert_eq!(r.metric(fragment) - fragment0, 27.0, "fragments punted");
    assert_eq!(r.metric(icmp) - icmp0, 9.0, "replies counted");
    assert_eq!(
        drops(&r),
        drops0,
        "outer_fragment, bad_ipv4, bad_checksum, tx_full"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = r.metric(in_use);
        if now <= baseline {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "mbufs in use {now}, {baseline} before the pings"
        );
        vxgate::ops::pause(Duration::from_millis(100));
    }
    r.stop();
}

/// A node whose lease appears while vxgate runs becomes reachable from the
/// bare-metal host (how long it took is printed, not asserted: the
/// latency itself is `vxgate_control_to_dataplane_seconds`' job), and
/// deleting its lease stops the traffic.
#[test]
fn node_joining_later_is_reachable_and_deleted_lease_stops_traffic() {
    let mut r = start(Dpdk::Tap, Net::default(), 1);
    let bm = r.gw.bm_ns.clone();
    let first = r.topo.nodes[0].pods[0].1;
    ping_until(&r, &bm, first, Duration::from_secs(10));
    // Traffic keeps running to the first node while the second one joins.
    let bg = r.topo.spawn(&bm, &format!("ping -i 0.05 -c 100 {first}"));
    let n = r.topo.add_node(2, 1);
    let key = r.topo.lease_key(r.topo.nodes[n].subnet);
    r.ctl.put_with_ttl(&key, &r.topo.lease_value(n), 600);
    let joined = Instant::now();
    r.topo.sync_flannel(&r.ctl);
    let pod = r.topo.nodes[n].pods[0].1;
    let took = ping_until(&r, &bm, pod, Duration::from_secs(30));
    eprintln!(
        "FIGURE new node reachable {:?} after its lease was put ({took:?} of pinging)",
        joined.elapsed()
    );
    let out = r.topo.wait_output(bg, Duration::from_secs(30));
    assert!(
        out.contains(" 0% packet loss"),
        "traffic to the first node was disturbed:\n{out}"
    );
    // The lease goes: vxgate drops traffic to that subnet as no_route.
    r.ctl.del(&key);
    let deadline = Instant::now() + Duration::from_secs(30);
    while r.metric("vxgate_leases") != 1.0 {
        assert!(
            Instant::now() < deadline,
            "lease removal did not reach vxgate"
        );
        vxgate::ops::pause(Duration::from_millis(20));
    }
    let before = r.metric("vxgate_drops_total{reason=\"no_route\"}");
    assert!(
        !r.topo.ping(&bm, pod, 2),
        "traffic to a deleted lease must stop"
    );
    assert!(r.metric("vxgate_drops_total{reason=\"no_route\"}") >= before + 2.0);
    r.stop();
}

/// SPEC's `--subnet-lease-ttl` ("for tests") given alone, far below the
/// default 60-minute renew margin: vxgate renews at half the TTL, so its
/// lease never lapses and traffic keeps flowing (the configuration used to
/// refuse the pair).
#[test]
fn a_short_lease_ttl_alone_is_renewed_at_half_the_ttl() {
    const TTL_S: u64 = 4;
    let net = Net::default();
    let extra = format!("--subnet-lease-ttl {TTL_S} ");
    let r = start_args(Dpdk::Tap, net.clone(), 1, 1, &extra);
    let own_key = format!(
        "{}/subnets/{}-{}",
        net.prefix,
        net.subnet(255),
        net.subnet_len
    );
    // etcd's own record of the key: its version rises with every Put, and
    // the etcd lease it is attached to changes with every renewal.
    let record = || -> (u64, i64) {
        let out = r.ctl.cmd(&format!("get '{own_key}' -w json"));
        let j: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        let kv = &j["kvs"][0];
        (
            kv["version"].as_u64().unwrap_or(0),
            kv["lease"].as_i64().unwrap_or(0),
        )
    };
    let (v0, l0) = record();
    assert!(
        v0 > 0 && l0 != 0,
        "own key missing or without a lease: {v0} {l0}"
    );
    let mut leases = std::collections::BTreeSet::from([l0]);
    let t0 = Instant::now();
    // Five TTLs: a lease not renewed would have lapsed four times over.
    while t0.elapsed() < Duration::from_secs(5 * TTL_S) {
        let (v, l) = record();
        assert!(v > 0, "own lease lapsed after {:?}", t0.elapsed());
        leases.insert(l);
        let expiry = r.metric("vxgate_own_lease_expiry_seconds");
        assert!(
            expiry > 0.0 && expiry <= TTL_S as f64 + 1.0,
            "own lease expiry {expiry} s with a {TTL_S} s TTL"
        );
        vxgate::ops::pause(Duration::from_millis(250));
    }
    let (v1, _) = record();
    // Every TTL / 2 = 2 s: about 10 renewals in 20 s; at least 6 leaves
    // room for a slow machine, and none at all (no renewal before expiry)
    // would have lost the key.
    assert!(
        v1 >= v0 + 6 && leases.len() >= 6,
        "renewals in {:?}: version {v0} -> {v1}, {} etcd leases",
        t0.elapsed(),
        leases.len()
    );
    let pod = r.topo.nodes[0].pods[0].1;
    assert!(
        r.topo.ping(&r.gw.bm_ns, pod, 2),
        "traffic after the renewals"
    );
    r.stop();
}

/// flannel with DirectRouting, every node on-link: nodes route the
/// gateway's subnet via its PublicIP as plain IPv4 and expect the same
/// back; no VXLAN on the wire. Pods and the bare-metal host talk both ways,
/// and so does a node itself, whose packets carry its own underlay address
/// (its route to our subnet is via eth0): the host's answers to that
/// address go back plainly out of the underlay.
#[test]
fn direct_routing_pods_and_a_node_itself_talk_to_bare_metal() {
    let net = Net {
        direct_routing: true,
        ..Net::default()
    };
    let mut r = start(Dpdk::Tap, net.clone(), 2);
    let bm = r.gw.bm_ns.clone();
    // The host reaches the nodes' own addresses through the gateway too.
    sh(&format!(
        "ip -n {bm} route add {}/{} via {}",
        net.underlay.0, net.underlay.1, r.gw.access_ip
    ));
    for n in 0..r.topo.nodes.len() {
        let (pod_ns, pod_ip) = r.topo.nodes[n].pods[0].clone();
        ping_until(&r, &bm, pod_ip, Duration::from_secs(10));
        assert!(
            r.topo.ping(&pod_ns, r.gw.host_ip, 3),
            "pod {pod_ip} -> bare-metal"
        );
        let node_ns = r.topo.nodes[n].ns.clone();
        let node_ip = r.topo.nodes[n].public_ip;
        ping_until(&r, &node_ns, r.gw.host_ip, Duration::from_secs(10));
        assert!(
            r.topo.ping(&node_ns, r.gw.host_ip, 3),
            "node {node_ip} itself -> bare-metal and back"
        );
        assert!(r.topo.ping(&bm, node_ip, 2), "bare-metal -> node {node_ip}");
    }
    let (pod_ns, pod_ip) = r.topo.nodes[0].pods[0].clone();
    tcp_both_ways(&mut r, "direct routing", (&pod_ns, pod_ip), 5005);
    assert_eq!(r.metric("vxgate_encap_packets_total"), 0.0, "no VXLAN");
    assert_eq!(r.metric("vxgate_decap_packets_total"), 0.0, "no VXLAN");
    assert_eq!(r.metric("vxgate_drops_total{reason=\"no_route\"}"), 0.0);
    // What it forwarded plainly is counted: at least the pings, a request
    // and a reply each (2 nodes x (3 + 3 + 2) x 2), and the TCP exchange.
    let routed = r.metric("vxgate_routed_packets_total");
    assert!(routed >= 32.0, "routed {routed}");
    r.stop();
}

/// Another etcd prefix, another Network, VNI 42 and the IANA port 4789.
#[test]
fn non_default_prefix_network_vni_and_port_work() {
    let net = Net {
        prefix: "/example.org/overlay".into(),
        network: (Ipv4Addr::new(10, 32, 0, 0), 16),
        vni: 42,
        port: 4789,
        ..Net::default()
    };
    pods_and_host_talk(Dpdk::Tap, net);
}

/// The gateway's packets on the underlay, decoded by an independent
/// dissector (tshark's VXLAN dissector on the configured port), carry the
/// right VNI, UDP port and inner MACs; different flows use different UDP
/// source ports.
#[test]
fn underlay_capture_decoded_by_tshark_has_right_vni_port_macs_and_spread_source_ports() {
    let net = Net {
        vni: 7,
        ..Net::default()
    };
    let r = start(Dpdk::Tap, net.clone(), 1);
    let bm = r.gw.bm_ns.clone();
    let (pod_ns, pod) = r.topo.nodes[0].pods[0].clone();
    ping_until(&r, &bm, pod, Duration::from_secs(10));
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("underlay.pcap");
    let ul = r.topo.ul.clone();
    let gw_ip = r.gw.underlay_ip;
    // Capture what vxgate sends onto the underlay bridge.
    let mut cap = std::process::Command::new("ip")
        .args(["netns", "exec", &ul, "tcpdump", "-U", "-i", "br0", "-w"])
        .arg(&pcap)
        .arg(format!("udp and src host {gw_ip}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Capturing once it says so (its stderr is read to the end meanwhile).
    let (tx, listening) = std::sync::mpsc::channel();
    let stderr = cap.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("listening on") {
                let _ = tx.send(());
            }
        }
    });
    listening
        .recv_timeout(Duration::from_secs(30))
        .expect("tcpdump did not start capturing");
    // 16 flows: UDP datagrams from the host to the pod on different ports.
    sh(&format!(
        "ip netns exec {bm} python3 -c \"import socket\nfor p in range(16):\n s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('0.0.0.0', 40000+p)); s.sendto(b'flow%d' % p, ('{pod}', 7000+p))\""
    ));
    assert!(r.topo.ping(&bm, pod, 2));
    // The 16 datagrams and 2 echo requests, once tcpdump has written them.
    let decode = || {
        sh(&format!(
            "tshark -r {} -d udp.port=={},vxlan -Y vxlan -T fields -E separator=/t -e ip.src -e ip.dst -e udp.srcport -e udp.dstport -e vxlan.vni -e eth.src -e eth.dst 2>/dev/null || true",
            pcap.display(),
            net.port
        ))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while decode().lines().count() < 18 && Instant::now() < deadline {
        vxgate::ops::pause(Duration::from_millis(100));
    }
    sh(&format!("kill -INT {}", cap.id()));
    let _ = cap.wait();
    let fields = decode();
    let rows: Vec<Vec<&str>> = fields.lines().map(|l| l.split('\t').collect()).collect();
    assert!(
        rows.len() >= 16,
        "captured {} VXLAN packets:\n{fields}",
        rows.len()
    );
    let node = &r.topo.nodes[0];
    let own_vtep = "0e:07:ac:1c:93:28"; // default VtepMAC: 0e:<VNI>:<underlay IP>
    let mut sports = std::collections::BTreeSet::new();
    for row in &rows {
        // ip.src, ip.dst and eth.* list outer then inner values.
        let (ips, ipd) = (row[0], row[1]);
        assert!(ips.starts_with(&gw_ip.to_string()), "{row:?}");
        assert!(ipd.starts_with(&node.public_ip.to_string()), "{row:?}");
        assert_eq!(
            row[3].split(',').next(),
            Some(net.port.to_string().as_str()),
            "{row:?}"
        );
        assert_eq!(row[4], net.vni.to_string(), "{row:?}");
        let src: Vec<&str> = row[5].split(',').collect();
        let dst: Vec<&str> = row[6].split(',').collect();
        assert_eq!(
            src.get(1),
            Some(&own_vtep),
            "inner source MAC is our VtepMAC: {row:?}"
        );
        assert_eq!(
            dst.get(1),
            Some(&node.vtep_mac.as_str()),
            "inner destination MAC is the node's VtepMAC: {row:?}"
        );
        let sp: u16 = row[2].split(',').next().unwrap().parse().unwrap();
        assert!(
            (32768..=60999).contains(&sp),
            "source port {sp} in the kernel's range"
        );
        sports.insert(sp);
    }
    assert!(
        sports.len() >= 8,
        "16 flows used only {} source ports: {sports:?}",
        sports.len()
    );
    eprintln!(
        "{} packets decoded, {} distinct UDP source ports",
        rows.len(),
        sports.len()
    );
    let _ = pod_ns;
    r.stop();
}

/// etcd goes away in the middle of a transfer and comes back: the data
/// plane keeps forwarding with what it has (packets are counted going
/// through while etcd is down), the transfer completes intact, and the
/// etcd gauges follow. The transfer runs until the test has seen all of
/// that, however fast the machine.
#[test]
fn etcd_restarted_during_a_transfer_does_not_disturb_it() {
    let mut r = start(Dpdk::Tap, Net::default(), 1);
    let bm = r.gw.bm_ns.clone();
    let (pod_ns, pod) = r.topo.nodes[0].pods[0].clone();
    ping_until(&r, &bm, pod, Duration::from_secs(10));
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("enough");
    let x = r
        .topo
        .tcp_transfer_until(&pod_ns, &bm, r.gw.host_ip, 5003, &gate);
    decap_keeps_rising(&r, "before etcd goes away");
    r.etcd.kill();
    let deadline = Instant::now() + Duration::from_secs(20);
    while r.metric("vxgate_etcd_connected") != 0.0 {
        assert!(
            Instant::now() < deadline,
            "vxgate_etcd_connected stayed 1 with etcd down"
        );
        vxgate::ops::pause(Duration::from_millis(100));
    }
    let lost = Instant::now();
    decap_keeps_rising(&r, "while etcd is down");
    r.etcd.restart();
    let back = Instant::now();
    while r.metric("vxgate_etcd_connected") != 1.0 {
        assert!(
            Instant::now() < back + Duration::from_secs(30),
            "vxgate did not reconnect"
        );
        vxgate::ops::pause(Duration::from_millis(50));
    }
    eprintln!(
        "FIGURE etcd down {:?}, reconnected {:?} after its return",
        back - lost,
        back.elapsed()
    );
    decap_keeps_rising(&r, "after etcd's return");
    std::fs::write(&gate, b"").unwrap();
    let (bytes, secs) = r.topo.tcp_transfer_finish(x);
    eprintln!("FIGURE transfer of {bytes} bytes across the etcd restart took {secs:.2} s");
    assert!(bytes > 0);
    assert_eq!(
        r.metric("vxgate_leases"),
        1.0,
        "state unchanged after the resync"
    );
    r.stop();
}

/// Waits until vxgate has decapsulated 1 000 more packets (of a transfer
/// that is running); panics after 30 s.
fn decap_keeps_rising(r: &Running, when: &str) {
    let from = r.metric("vxgate_decap_packets_total");
    let deadline = Instant::now() + Duration::from_secs(30);
    while r.metric("vxgate_decap_packets_total") < from + 1000.0 {
        assert!(
            Instant::now() < deadline,
            "traffic stopped {when}: {from} decapsulated"
        );
        vxgate::ops::pause(Duration::from_millis(20));
    }
}

/// Malformed and hostile frames sent at the gateway from a node are dropped
/// and counted under their own reason while pod <-> host traffic flows on.
#[test]
fn hostile_frames_are_dropped_counted_and_traffic_keeps_flowing() {
    let mut r = start(Dpdk::Tap, Net::default(), 1);
    let bm = r.gw.bm_ns.clone();
    let (pod_ns, pod) = r.topo.nodes[0].pods[0].clone();
    ping_until(&r, &bm, pod, Duration::from_secs(10));
    let node = r.topo.nodes[0].ns.clone();
    let gw_ip = r.gw.underlay_ip;
    // The node has resolved the gateway's underlay MAC by now.
    let neigh = sh(&format!("ip -n {node} neigh show {gw_ip}"));
    let gw_mac = neigh
        .split_whitespace()
        .skip_while(|w| *w != "lladdr")
        .nth(1)
        .expect("gateway MAC")
        .to_string();
    let bg = r.topo.spawn(&bm, &format!("ping -i 0.05 -c 60 {pod}"));
    let py = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/hostile.py");
    let n = &r.topo.nodes[0];
    let (src, vmac) = (n.public_ip, n.vtep_mac.clone());
    let gw_vtep = "0e:01:ac:1c:93:28";
    let cases = [
        ("truncated", "truncated"),
        ("bad_checksum", "bad_checksum"),
        ("bad_vxlan_flags", "bad_vxlan_flags"),
        ("unknown_vni", "unknown_vni"),
        ("unknown_vtep", "unknown_vtep"),
        ("spoofed_inner_mac", "spoofed_inner_mac"),
        ("wrong_inner_dst_mac", "wrong_inner_dst_mac"),
        ("not_ipv4_inner", "not_ipv4"),
    ];
    for (kind, reason) in cases {
        let metric = format!("vxgate_drops_total{{reason=\"{reason}\"}}");
        let before = r.metric(&metric);
        sh(&format!(
            "ip netns exec {node} python3 {py} eth0 {kind} 5 {gw_mac} {gw_ip} {src} {vmac} {gw_vtep} 1 8472"
        ));
        let deadline = Instant::now() + Duration::from_secs(5);
        while r.metric(&metric) < before + 5.0 && Instant::now() < deadline {
            vxgate::ops::pause(Duration::from_millis(20));
        }
        let nonzero: Vec<String> = r
            .metrics()
            .lines()
            .filter(|l| {
                (l.starts_with("vxgate_drops") || l.starts_with("vxgate_port"))
                    && !l.ends_with(" 0")
            })
            .map(str::to_string)
            .collect();
        assert_eq!(
            r.metric(&metric),
            before + 5.0,
            "{kind}: 5 frames, 5 drops as {reason}; counters:\n{}",
            nonzero.join("\n")
        );
    }
    // Random bytes and jumbo frames: each dropped somewhere, never forwarded.
    let drops_total = |r: &Running| -> f64 {
        r.metrics()
            .lines()
            .filter(|l| l.starts_with("vxgate_drops_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
            + r.metric("vxgate_port_errors_total{port=\"underlay\"}")
            + r.metric("vxgate_port_rx_missed_total{port=\"underlay\"}")
    };
    // Jumbo frames need a 9000-byte path from the node to vxgate's TAP.
    let (ul, gwns) = (r.topo.ul.clone(), r.gw.ns.clone());
    sh(&format!(
        "for l in $(ip -n {ul} -o link show | awk -F': ' '{{print $2}}' | cut -d@ -f1); do ip -n {ul} link set $l mtu 9000; done; \
         ip -n {node} link set eth0 mtu 9000; ip -n {gwns} link set gwul mtu 9000; ip -n {gwns} link set vxgu0 mtu 9000; ip -n {gwns} link set brul mtu 9000"
    ));
    for kind in ["random", "jumbo"] {
        let before = drops_total(&r);
        sh(&format!(
            "ip netns exec {node} python3 {py} eth0 {kind} 20 {gw_mac} {gw_ip} {src} {vmac} {gw_vtep} 1 8472"
        ));
        let deadline = Instant::now() + Duration::from_secs(5);
        while drops_total(&r) < before + 20.0 && Instant::now() < deadline {
            vxgate::ops::pause(Duration::from_millis(20));
        }
        let after = drops_total(&r);
        eprintln!("{kind}: {} of 20 frames counted as dropped", after - before);
        assert_eq!(after - before, 20.0, "every {kind} frame is counted once");
    }
    let out = r.topo.wait_output(bg, Duration::from_secs(30));
    assert!(
        out.contains(" 0% packet loss"),
        "traffic disturbed by hostile frames:\n{out}"
    );
    let (bytes, _) = r
        .topo
        .tcp_transfer(&pod_ns, &bm, r.gw.host_ip, 5004, 4 << 20);
    assert_eq!(bytes, 4 << 20);
    eprintln!(
        "{}",
        r.metrics()
            .lines()
            .filter(|l| l.starts_with("vxgate_drops_total") && !l.ends_with(" 0"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    r.stop();
}

/// A jumbo-frame overlay against the kernel's VXLAN: underlay links and
/// flannel's Backend.MTU 9000, so flannel.1 and the pods are at 8950, and
/// vxgate runs with `--underlay-mtu 9000 --access-mtu 9000` on net_pcap
/// (the DPDK 22.11 vdev that carries jumbo frames to kernel interfaces).
/// The largest packets the pods' MTU allows cross both ways unfragmented,
/// TCP runs with 8910-byte segments, and one byte more from the host is
/// answered with fragmentation-needed carrying the tunnel MTU, 8950.
#[test]
fn jumbo_frames_cross_a_9000_byte_underlay_to_kernel_vxlan() {
    let net = Net {
        mtu: Some(9000),
        ..Net::default()
    };
    let mut r = start(Dpdk::Pcap, net, 1);
    let bm = r.gw.bm_ns.clone();
    let (pod_ns, pod_ip) = r.topo.nodes[0].pods[0].clone();
    ping_until(&r, &bm, pod_ip, Duration::from_secs(10));
    // 8922 bytes of ICMP payload + 28 of headers = 8950, DF set.
    for (from, to) in [(&bm, pod_ip), (&pod_ns, r.gw.host_ip)] {
        let out = run(&format!(
            "ip netns exec {from} ping -M do -s 8922 -c 3 -i 0.2 -W 1 {to}"
        ));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("8930 bytes from"),
            "{from} -> {to} with 8950-byte packets:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ul_tx = r.metric("vxgate_port_tx_bytes_total{port=\"underlay\"}");
    assert!(
        ul_tx >= 6.0 * 9000.0,
        "9000-byte VXLAN packets left the underlay port: {ul_tx} bytes"
    );
    tcp_both_ways(&mut r, "jumbo", (&pod_ns, pod_ip), 5011);
    let mtu_drops = "vxgate_drops_total{reason=\"mtu_exceeded\"}";
    assert_eq!(r.metric(mtu_drops), 0.0, "nothing too big so far");
    // 8951 bytes with DF from the host: too big for the tunnel.
    let out = run(&format!(
        "ip netns exec {bm} ping -M do -s 8923 -c 1 -W 1 {pod_ip}"
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && text.contains("mtu = 8950"),
        "fragmentation-needed with the tunnel MTU expected:\n{text}"
    );
    assert_eq!(r.metric(mtu_drops), 1.0);
    r.stop();
}

/// SIGTERM while a transfer runs: vxgate stops after the current bursts,
/// exits 0, prints its final counters and reports no leaked mbuf.
#[test]
fn sigterm_under_traffic_exits_cleanly_without_leaks() {
    let mut r = start(Dpdk::Tap, Net::default(), 1);
    let bm = r.gw.bm_ns.clone();
    let (pod_ns, pod) = r.topo.nodes[0].pods[0].clone();
    ping_until(&r, &bm, pod, Duration::from_secs(10));
    // Quiet floods (-q: a flood's progress dots would fill the unread
    // stdout pipe and stall ping), running until the topology ends them.
    let _transfer = r
        .topo
        .spawn(&pod_ns, &format!("ping -f -q -w 600 {}", r.gw.host_ip));
    let flood = r.topo.spawn(&bm, &format!("ping -f -q -w 600 {pod}"));
    decap_keeps_rising(&r, "before the stop");
    assert!(
        r.topo.child(flood).try_wait().unwrap().is_none(),
        "traffic still running"
    );
    let out = r.stop();
    assert!(out.contains("encap ") && out.contains("decap "), "{out}");
}

/// Two workers, each with its own RX/TX queue on both ports: flows spread
/// over both (the TAP's kernel side picks a queue per flow) and every one
/// arrives intact.
#[test]
fn two_workers_share_the_flows() {
    let mut r = start_args(Dpdk::Tap, Net::default(), 2, 2, "");
    let bm = r.gw.bm_ns.clone();
    for n in 0..2 {
        let pod = r.topo.nodes[n].pods[0].1;
        ping_until(&r, &bm, pod, Duration::from_secs(10));
    }
    for (i, port) in (5100..5108).enumerate() {
        let (pod_ns, _) = r.topo.nodes[i % 2].pods[0].clone();
        let (bytes, _) = r
            .topo
            .tcp_transfer(&pod_ns, &bm, r.gw.host_ip, port, 1 << 20);
        assert_eq!(bytes, 1 << 20);
    }
    let w0 = r.metric("vxgate_worker_packets_total{worker=\"0\"}");
    let w1 = r.metric("vxgate_worker_packets_total{worker=\"1\"}");
    eprintln!("worker 0: {w0} packets, worker 1: {w1} packets");
    assert!(
        w0 > 0.0 && w1 > 0.0,
        "both workers carry traffic: {w0} / {w1}"
    );
    r.stop();
}
