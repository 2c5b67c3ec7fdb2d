//! End-to-end topology in network namespaces: an underlay bridge, Kubernetes
//! style nodes with the kernel's VXLAN configured as flanneld configures it,
//! pods, a bare-metal host, and a namespace for the gateway. Everything it
//! creates is removed on drop, pass or fail.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// Runs a command; panics with its output when it fails.
pub fn sh(cmd: &str) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "command failed: {cmd}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn run(cmd: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("sh runs")
}

/// Makes the kernel finish checksums before a frame leaves `ifname`. On a
/// veth the kernel otherwise hands partial checksums (offload) to the peer,
/// which an AF_PACKET reader such as DPDK's net_af_packet then sees as they
/// are; a real NIC would have completed them on the wire.
pub fn full_checksums(ns: &str, ifname: &str) {
    sh(&format!(
        "ip netns exec {ns} ethtool -K {ifname} tx off >/dev/null"
    ));
}

/// Network settings of the overlay under test (flannel's config).
#[derive(Clone, Debug)]
pub struct Net {
    pub prefix: String,
    pub network: (Ipv4Addr, u8),
    pub subnet_len: u8,
    pub vni: u32,
    pub port: u16,
    /// Underlay prefix (all nodes and the gateway are on-link).
    pub underlay: (Ipv4Addr, u8),
    /// Underlay (and access) link MTU, written as flannel's `Backend.MTU`;
    /// `None`: 1500 and no `MTU` key.
    pub mtu: Option<u32>,
    /// flannel's `Backend.DirectRouting`: on-link nodes route each other's
    /// subnets via the PublicIP on eth0, plain IPv4, no VXLAN.
    pub direct_routing: bool,
}

impl Default for Net {
    fn default() -> Self {
        Net {
            prefix: "/coreos.com/network".into(),
            network: (Ipv4Addr::new(10, 244, 0, 0), 16),
            subnet_len: 24,
            vni: 1,
            port: 8472,
            underlay: (Ipv4Addr::new(172, 28, 147, 32), 27),
            mtu: None,
            direct_routing: false,
        }
    }
}

impl Net {
    pub fn config_json(&self) -> String {
        let mtu = self
            .mtu
            .map(|m| format!(r#","MTU":{m}"#))
            .unwrap_or_default();
        let direct = if self.direct_routing {
            r#","DirectRouting":true"#
        } else {
            ""
        };
        format!(
            r#"{{"Network":"{}/{}","SubnetLen":{},"Backend":{{"Type":"vxlan","VNI":{},"Port":{}{mtu}{direct}}}}}"#,
            self.network.0, self.network.1, self.subnet_len, self.vni, self.port
        )
    }
    /// The link MTU of the underlay and the access side.
    pub fn link_mtu(&self) -> u32 {
        self.mtu.unwrap_or(1500)
    }
    /// The i-th subnet of the network (i >= 1).
    pub fn subnet(&self, i: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network.0) + (i << (32 - self.subnet_len)))
    }
    pub fn underlay_ip(&self, host: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.underlay.0) + host)
    }
    fn host(&self, subnet: Ipv4Addr, h: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(subnet) + h)
    }
}

pub struct Node {
    pub ns: String,
    pub public_ip: Ipv4Addr,
    pub subnet: Ipv4Addr,
    pub vtep_mac: String,
    pub pods: Vec<(String, Ipv4Addr)>,
    /// Leases this node's "flanneld" has programmed: subnet -> (PublicIP, VtepMAC).
    programmed: BTreeMap<String, (String, String)>,
}

/// The namespaces of one test. `tag` keeps names unique per test process.
pub struct Topology {
    pub tag: String,
    pub net: Net,
    pub ul: String,
    pub nodes: Vec<Node>,
    namespaces: Vec<String>,
    children: Vec<Child>,
    /// Each spawned process's stdout and stderr (`<i>.out`, `<i>.err`):
    /// files, not pipes, so a chatty process never blocks on a full pipe.
    logs: tempfile::TempDir,
}

/// Set while a `Topology` lives: its names come from the process id, so
/// a second one in the same process (plain `cargo test` runs tests as
/// threads) would tear down the first one's namespaces.
static TOPOLOGY_LIVES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Topology {
    /// The underlay: a bridge in its own namespace.
    pub fn new(net: Net) -> Topology {
        assert!(
            !TOPOLOGY_LIVES.swap(true, std::sync::atomic::Ordering::SeqCst),
            "one end-to-end topology per process: run these tests with cargo nextest"
        );
        // The whole pid (below 2^22, Linux's largest pid_max), seven
        // digits always: unique among the processes of concurrent runs, no
        // tag a prefix of another's (the teardown's `rm -rf` of EAL
        // runtime dirs matches on it), and the longest name built on it
        // (`vxe<tag>n1p1`) within the 15 bytes of an interface name.
        let tag = format!("{:07}", std::process::id());
        let ul = format!("vxe{tag}ul");
        let mut t = Topology {
            tag,
            net,
            ul: ul.clone(),
            nodes: Vec::new(),
            namespaces: Vec::new(),
            children: Vec::new(),
            logs: tempfile::tempdir().expect("tempdir for process output"),
        };
        t.add_ns(&ul);
        sh(&format!(
            "ip -n {ul} link add br0 type bridge && ip -n {ul} link set br0 mtu {mtu} up",
            mtu = t.net.link_mtu()
        ));
        t
    }

    fn add_ns(&mut self, ns: &str) {
        let _ = run(&format!("ip netns del {ns} 2>/dev/null"));
        sh(&format!("ip netns add {ns}"));
        self.namespaces.push(ns.to_string());
        sh(&format!(
            "ip -n {ns} link set lo up && ip netns exec {ns} sysctl -qw net.ipv4.ip_forward=1 \
             net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
             net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1"
        ));
        // With br_netfilter loaded, bridges validate IPv4 headers and would
        // drop malformed frames before they reach vxgate: bridges here are wires.
        let _ = run(&format!(
            "ip netns exec {ns} sysctl -qw net.bridge.bridge-nf-call-iptables=0 \
             net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0 2>/dev/null"
        ));
    }

    /// A veth from namespace `ns` (named `ifname`) into the underlay bridge.
    pub fn plug_underlay(&mut self, ns: &str, ifname: &str) {
        let peer = format!("u{}{}", self.tag, self.namespaces.len());
        sh(&format!(
            "ip link add {peer} type veth peer name {ifname} netns {ns} && \
             ip link set {peer} netns {ul} && ip -n {ul} link set {peer} master br0 mtu {mtu} up && \
             ip -n {ns} link set {ifname} mtu {mtu} up",
            ul = self.ul,
            mtu = self.net.link_mtu()
        ));
        full_checksums(ns, ifname);
    }

    /// A Kubernetes-style node: eth0 on the underlay, flannel.<VNI> exactly as
    /// flanneld creates it, cni0 with the subnet's .1, and `pods` pods.
    pub fn add_node(&mut self, index: u32, pods: u32) -> usize {
        let ns = format!("vxe{}n{index}", self.tag);
        self.add_ns(&ns);
        self.plug_underlay(&ns, "eth0");
        let n = &self.net;
        let public_ip = n.underlay_ip(index);
        let subnet = n.subnet(index);
        let vtep_mac = format!(
            "0e:00:00:00:{:02x}:{:02x}",
            (index >> 8) & 0xff,
            index & 0xff
        );
        // What flanneld gives flannel.1: Backend.MTU (else eth0's) less 50.
        let mtu = n.link_mtu() - 50;
        sh(&format!(
            "ip -n {ns} addr add {public_ip}/{ulen} dev eth0 && \
             ip -n {ns} link add flannel.{vni} type vxlan id {vni} dstport {port} nolearning local {public_ip} dev eth0 && \
             ip -n {ns} link set flannel.{vni} address {vtep_mac} mtu {mtu} && \
             ip -n {ns} addr add {subnet}/32 dev flannel.{vni} && \
             ip -n {ns} link set flannel.{vni} up && \
             ip -n {ns} link add cni0 type bridge && ip -n {ns} link set cni0 mtu {mtu} && \
             ip -n {ns} addr add {gw}/{slen} dev cni0 && ip -n {ns} link set cni0 up",
            ulen = n.underlay.1,
            vni = n.vni,
            port = n.port,
            gw = n.host(subnet, 1),
            slen = n.subnet_len,
        ));
        let mut pod_list = Vec::new();
        for p in 0..pods {
            let pns = format!("vxe{}n{index}p{p}", self.tag);
            self.add_ns(&pns);
            let ip = self.net.host(subnet, 10 + p);
            let peer = format!("v{}n{index}p{p}", self.tag);
            sh(&format!(
                "ip link add {peer} type veth peer name eth0 netns {pns} && \
                 ip link set {peer} netns {ns} && ip -n {ns} link set {peer} master cni0 mtu {mtu} up && \
                 ip -n {pns} link set eth0 mtu {mtu} up && ip -n {pns} addr add {ip}/{slen} dev eth0 && \
                 ip -n {pns} route add default via {gw}",
                slen = self.net.subnet_len,
                gw = self.net.host(subnet, 1),
            ));
            full_checksums(&pns, "eth0");
            pod_list.push((pns, ip));
        }
        self.nodes.push(Node {
            ns,
            public_ip,
            subnet,
            vtep_mac,
            pods: pod_list,
            programmed: BTreeMap::new(),
        });
        self.nodes.len() - 1
    }

    /// flannel's lease value for node `i`.
    pub fn lease_value(&self, i: usize) -> String {
        let n = &self.nodes[i];
        format!(
            r#"{{"PublicIP":"{}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{{"VNI":{},"VtepMAC":"{}"}}}}"#,
            n.public_ip, self.net.vni, n.vtep_mac
        )
    }

    pub fn lease_key(&self, subnet: Ipv4Addr) -> String {
        format!(
            "{}/subnets/{}-{}",
            self.net.prefix, subnet, self.net.subnet_len
        )
    }

    /// What flanneld does on every node: read all leases from etcd and
    /// install route, permanent neighbour and FDB entry for each other one
    /// (with DirectRouting, every node being on-link: only a route via the
    /// PublicIP on eth0); remove what vanished. Safe to re-run.
    pub fn sync_flannel(&mut self, etcdctl: &Etcdctl) {
        let leases = etcdctl.leases(&self.net.prefix);
        let vni = self.net.vni;
        let slen = self.net.subnet_len;
        for node in &mut self.nodes {
            let own = format!("{}-{}", node.subnet, slen);
            let want: BTreeMap<String, (String, String)> = leases
                .iter()
                .filter(|(k, _)| **k != own)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let stale: BTreeSet<String> = node
                .programmed
                .iter()
                .filter(|(k, v)| want.get(*k) != Some(*v))
                .map(|(k, _)| k.clone())
                .collect();
            for key in stale {
                let (ip, mac) = node.programmed.remove(&key).unwrap();
                let (net, _) = key.split_once('-').unwrap();
                if self.net.direct_routing {
                    let _ = run(&format!("ip -n {} route del {net}/{slen}", node.ns));
                    continue;
                }
                let _ = run(&format!(
                    "ip -n {ns} route del {net}/{slen} ; ip -n {ns} neigh del {net} dev flannel.{vni} ; \
                     bridge -n {ns} fdb del {mac} dev flannel.{vni} dst {ip} self",
                    ns = node.ns
                ));
            }
            for (key, (ip, mac)) in &want {
                if node.programmed.get(key) == Some(&(ip.clone(), mac.clone())) {
                    continue;
                }
                let (net, _) = key.split_once('-').unwrap();
                if self.net.direct_routing {
                    sh(&format!(
                        "ip -n {ns} route replace {net}/{slen} via {ip} dev eth0",
                        ns = node.ns
                    ));
                    node.programmed
                        .insert(key.clone(), (ip.clone(), mac.clone()));
                    continue;
                }
                sh(&format!(
                    "ip -n {ns} neigh replace {net} lladdr {mac} dev flannel.{vni} nud permanent && \
                     bridge -n {ns} fdb replace {mac} dev flannel.{vni} dst {ip} self permanent && \
                     ip -n {ns} route replace {net}/{slen} via {net} dev flannel.{vni} onlink",
                    ns = node.ns
                ));
                node.programmed
                    .insert(key.clone(), (ip.clone(), mac.clone()));
            }
        }
    }

    /// The gateway's namespace and a bare-metal host on its access side.
    /// With `Dpdk::Tap`, vxgate's TAP interfaces are bridged (once they
    /// exist, see `attach_taps`) to a veth into the underlay and to the host;
    /// with `Dpdk::AfPacket` and `Dpdk::Pcap` vxgate opens the veth ends
    /// itself. Every link gets the network's link MTU.
    pub fn add_gateway(
        &mut self,
        host_ip: Ipv4Addr,
        access_ip: Ipv4Addr,
        subnet_len: u8,
    ) -> Gateway {
        let gw = self.namespace("gw");
        let bm = self.namespace("bm");
        self.plug_underlay(&gw, "gwul");
        sh(&format!(
            "ip link add gwac netns {gw} type veth peer name eth0 netns {bm} && \
             ip -n {gw} link set gwac mtu {mtu} up && ip -n {bm} link set eth0 mtu {mtu} up && \
             ip -n {bm} addr add {host_ip}/{subnet_len} dev eth0 && \
             ip -n {bm} route add {net}/{nlen} via {access_ip}",
            net = self.net.network.0,
            nlen = self.net.network.1,
            mtu = self.net.link_mtu(),
        ));
        full_checksums(&bm, "eth0");
        Gateway {
            ns: gw,
            bm_ns: bm,
            host_ip,
            access_ip,
            underlay_ip: self.net.underlay_ip(8),
        }
    }

    /// A second host on the gateway's access segment (address `ip`, the
    /// network routed via the gateway) behind a NIC that priority-tags
    /// all it sends: an 802.1Q tag with VLAN id 0 and priority 3 (DCB),
    /// ARP included, inserted by a relay (`prio_tag.py`) in a namespace
    /// of its own between the host's link and vxgate's access bridge
    /// (`brac`: `Dpdk::Tap`, after `attach_taps`; net_tap hands vxgate
    /// the tag in the frame). Frames to the host reach it as they come,
    /// untagged, as such a NIC takes them. Not a Linux VLAN device: this
    /// kernel has no 802.1Q (`CONFIG_VLAN_8021Q`), and a VLAN 0 device
    /// gets only tagged frames, so untagged ARP replies would go to its
    /// lower device, which waits for none. Returns the host's namespace
    /// and the relay's child index (it prints `tagged arp` and `tagged
    /// ipv4` once it has tagged one of each).
    pub fn add_priority_tagging_host(&mut self, gw: &Gateway, ip: Ipv4Addr) -> (String, usize) {
        let host = self.namespace("pt");
        let nic = self.namespace("ptnic");
        sh(&format!(
            "ip link add eth0 netns {host} type veth peer name host netns {nic} && \
             ip link add gwpt netns {g} type veth peer name wire netns {nic} && \
             ip -n {g} link set gwpt master brac mtu {mtu} up && \
             ip -n {nic} link set host mtu {mtu} up && ip -n {nic} link set wire mtu {mtu} up && \
             ip -n {host} link set eth0 mtu {mtu} up && \
             ip -n {host} addr add {ip}/{slen} dev eth0 && \
             ip -n {host} route add {net}/{nlen} via {access}",
            g = gw.ns,
            mtu = self.net.link_mtu(),
            slen = self.net.subnet_len,
            net = self.net.network.0,
            nlen = self.net.network.1,
            access = gw.access_ip,
        ));
        full_checksums(&host, "eth0");
        let py = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/prio_tag.py");
        let relay = self.spawn_ready(&nic, &format!("python3 {py} host wire 3"), "relaying");
        (host, relay)
    }

    /// `spawn`, then waits (30 s at most) until the process has written
    /// `ready`; fails with its output if it exits first.
    pub fn spawn_ready(&mut self, ns: &str, cmd: &str, ready: &str) -> usize {
        let i = self.spawn(ns, cmd);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.output_so_far(i).contains(ready) {
            let exited = self.children[i].try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "{cmd} did not start: {}",
                self.output_so_far(i)
            );
            vxgate::ops::pause(Duration::from_millis(20));
        }
        i
    }

    /// A namespace of the test's own (gateway, bare-metal host...).
    pub fn namespace(&mut self, name: &str) -> String {
        let ns = format!("vxe{}{name}", self.tag);
        self.add_ns(&ns);
        ns
    }

    /// Starts a process inside `ns`; it is killed when the topology drops.
    pub fn spawn(&mut self, ns: &str, cmd: &str) -> usize {
        let i = self.children.len();
        let file = |ext: &str| {
            std::fs::File::create(self.logs.path().join(format!("{i}.{ext}")))
                .expect("process output file")
        };
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "sh", "-c", &format!("exec {cmd}")])
            .stdout(file("out"))
            .stderr(file("err"))
            .spawn()
            .expect("spawn in namespace");
        self.children.push(child);
        i
    }

    /// What spawned process `i` has written so far: stdout, then stderr.
    pub fn output_so_far(&self, i: usize) -> String {
        let read = |ext: &str| {
            std::fs::read_to_string(self.logs.path().join(format!("{i}.{ext}"))).unwrap_or_default()
        };
        read("out") + &read("err")
    }

    pub fn child(&mut self, i: usize) -> &mut Child {
        &mut self.children[i]
    }

    /// Waits for a spawned process and returns its stdout (panics on timeout).
    pub fn wait_output(&mut self, i: usize, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if self.children[i].try_wait().unwrap().is_some() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "process {i} did not finish in {timeout:?}"
            );
            vxgate::ops::pause(Duration::from_millis(20));
        }
        self.output_so_far(i)
    }

    pub fn ping(&self, ns: &str, dst: Ipv4Addr, count: u32) -> bool {
        run(&format!(
            "ip netns exec {ns} ping -c {count} -i 0.2 -W 1 {dst}"
        ))
        .status
        .success()
    }

    /// A TCP transfer of `bytes` from namespace `from` to `to_ip` in `to`,
    /// checksummed at both ends. Returns (bytes, seconds).
    pub fn tcp_transfer(
        &mut self,
        from: &str,
        to: &str,
        to_ip: Ipv4Addr,
        port: u16,
        bytes: u64,
    ) -> (u64, f64) {
        let x = self.tcp_transfer_start(from, to, to_ip, port, bytes);
        self.tcp_transfer_finish(x)
    }

    /// Starts a transfer in the background; `tcp_transfer_finish` checks it.
    pub fn tcp_transfer_start(
        &mut self,
        from: &str,
        to: &str,
        to_ip: Ipv4Addr,
        port: u16,
        bytes: u64,
    ) -> (usize, usize) {
        self.tcp_sender(from, to, to_ip, port, &bytes.to_string())
    }

    /// A transfer that sends until the file `gate` exists: it lasts as
    /// long as the test needs, however fast the machine moves the bytes.
    pub fn tcp_transfer_until(
        &mut self,
        from: &str,
        to: &str,
        to_ip: Ipv4Addr,
        port: u16,
        gate: &std::path::Path,
    ) -> (usize, usize) {
        self.tcp_sender(from, to, to_ip, port, &format!("until:{}", gate.display()))
    }

    fn tcp_sender(
        &mut self,
        from: &str,
        to: &str,
        to_ip: Ipv4Addr,
        port: u16,
        what: &str,
    ) -> (usize, usize) {
        let py = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/tcpxfer.py");
        let srv = self.spawn_ready(to, &format!("python3 {py} serve {port}"), "listening");
        let cli = self.spawn(from, &format!("python3 {py} send {to_ip} {port} {what}"));
        (srv, cli)
    }

    pub fn tcp_transfer_finish(&mut self, (srv, cli): (usize, usize)) -> (u64, f64) {
        let sent = self.wait_output(cli, Duration::from_secs(120));
        let got = self.wait_output(srv, Duration::from_secs(120));
        // The server's first line said it was listening (`tcp_sender`).
        let got = got
            .lines()
            .filter(|l| !l.contains("listening"))
            .collect::<Vec<_>>()
            .join("\n");
        let s: Vec<&str> = sent.split_whitespace().collect();
        let g: Vec<&str> = got.split_whitespace().collect();
        assert!(
            s.len() == 3 && g.len() == 3,
            "sender: {sent:?} receiver: {got:?}"
        );
        assert_eq!(s[0], g[0], "byte counts differ: sent {sent:?} got {got:?}");
        assert_eq!(s[1], g[1], "sha256 differs: sent {sent:?} got {got:?}");
        (g[0].parse().unwrap(), s[2].parse().unwrap())
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // vxgate's EAL runtime directory (its --file-prefix starts with vxe-<tag>).
        let _ = run(&format!("rm -rf /var/run/dpdk/vxe-{}*", self.tag));
        for ns in self.namespaces.iter().rev() {
            let _ = run(&format!(
                "for p in $(ip netns pids {ns} 2>/dev/null); do kill -9 $p; done; ip netns del {ns} 2>/dev/null"
            ));
        }
        TOPOLOGY_LIVES.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Which DPDK virtual device vxgate runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dpdk {
    Tap,
    AfPacket,
    /// net_pcap on the veths (libpcap live capture): no MTU setting and no
    /// frame limit, so the one DPDK 22.11 vdev that carries jumbo frames
    /// to and from kernel interfaces.
    Pcap,
}

pub struct Gateway {
    pub ns: String,
    pub bm_ns: String,
    pub host_ip: Ipv4Addr,
    pub access_ip: Ipv4Addr,
    pub underlay_ip: Ipv4Addr,
}

impl Gateway {
    /// EAL arguments and `--underlay/--access` device names for `kind`.
    pub fn devices(&self, kind: Dpdk, tag: &str) -> (Vec<String>, String, String) {
        self.devices_for(kind, tag, 1)
    }

    /// Like `devices`, with `workers` worker lcores (on a 2-CPU machine the
    /// extra ones share the second CPU: correct, not fast).
    pub fn devices_for(
        &self,
        kind: Dpdk,
        tag: &str,
        workers: u32,
    ) -> (Vec<String>, String, String) {
        let lcores: Vec<String> = (0..=workers).map(|l| format!("{l}@{}", l.min(1))).collect();
        let mut eal = vec![
            format!("--lcores={}", lcores.join(",")),
            "--no-pci".into(),
            format!("--file-prefix=vxe-{tag}"),
            "--log-level=lib.eal:warning".into(),
        ];
        match kind {
            Dpdk::Tap => {
                eal.push("--vdev=net_tap0,iface=vxgu0".into());
                eal.push("--vdev=net_tap1,iface=vxga0".into());
                (eal, "net_tap0".into(), "net_tap1".into())
            }
            Dpdk::AfPacket => {
                eal.push("--vdev=net_af_packet0,iface=gwul,qpairs=1".into());
                eal.push("--vdev=net_af_packet1,iface=gwac,qpairs=1".into());
                (eal, "net_af_packet0".into(), "net_af_packet1".into())
            }
            Dpdk::Pcap => {
                eal.push("--vdev=net_pcap0,iface=gwul".into());
                eal.push("--vdev=net_pcap1,iface=gwac".into());
                (eal, "net_pcap0".into(), "net_pcap1".into())
            }
        }
    }

    /// Bridges vxgate's TAP interfaces to the veths once they exist.
    pub fn attach_taps(&self) {
        let ns = &self.ns;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !run(&format!("ip -n {ns} link show vxga0")).status.success() {
            assert!(
                Instant::now() < deadline,
                "vxgate's TAP interfaces did not appear"
            );
            vxgate::ops::pause(Duration::from_millis(50));
        }
        // net_tap gives the kernel side of each TAP the DPDK port's MAC; a
        // bridge would take frames to that MAC as its own and never forward
        // them to vxgate, so the kernel side gets a MAC of its own.
        sh(&format!(
            "ip -n {ns} link set vxgu0 address 02:00:00:00:ee:01 && \
             ip -n {ns} link set vxga0 address 02:00:00:00:ee:02 && \
             ip -n {ns} link add brul type bridge && ip -n {ns} link add brac type bridge && \
             ip -n {ns} link set gwul master brul && ip -n {ns} link set vxgu0 master brul && \
             ip -n {ns} link set gwac master brac && ip -n {ns} link set vxga0 master brac && \
             ip -n {ns} link set brul up && ip -n {ns} link set brac up && \
             ip -n {ns} link set vxgu0 up && ip -n {ns} link set vxga0 up"
        ));
    }
}

/// etcdctl against one endpoint (v3 API), inside `netns` when set.
pub struct Etcdctl {
    pub endpoint: String,
    pub netns: Option<String>,
}

impl Etcdctl {
    pub fn cmd(&self, args: &str) -> String {
        let ns = self
            .netns
            .as_ref()
            .map(|n| format!("ip netns exec {n} "))
            .unwrap_or_default();
        sh(&format!(
            "ETCDCTL_API=3 {ns}etcdctl --endpoints={} {args}",
            self.endpoint
        ))
    }
    pub fn put(&self, key: &str, value: &str) {
        self.cmd(&format!("put '{key}' '{value}'"));
    }
    pub fn put_with_ttl(&self, key: &str, value: &str, ttl: u32) {
        let grant = self.cmd(&format!("lease grant {ttl}"));
        let id = grant.split_whitespace().nth(1).expect("lease id");
        self.cmd(&format!("put --lease={id} '{key}' '{value}'"));
    }
    pub fn del(&self, key: &str) {
        self.cmd(&format!("del '{key}'"));
    }
    /// Leases under `prefix`: "a.b.c.d-len" -> (PublicIP, VtepMAC).
    pub fn leases(&self, prefix: &str) -> BTreeMap<String, (String, String)> {
        let out = self.cmd(&format!("get --prefix '{prefix}/subnets/'"));
        let lines: Vec<&str> = out.lines().collect();
        let mut m = BTreeMap::new();
        for kv in lines.chunks(2) {
            let [key, val] = kv else { continue };
            let Some(sub) = key.rsplit('/').next() else {
                continue;
            };
            let Ok(j) = serde_json::from_str::<serde_json::Value>(val) else {
                continue;
            };
            let ip = j["PublicIP"].as_str().unwrap_or("").to_string();
            let mac = j["BackendData"]["VtepMAC"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if !ip.is_empty() && !mac.is_empty() {
                m.insert(sub.split('&').next().unwrap_or(sub).to_string(), (ip, mac));
            }
        }
        m
    }
}
