//! Lease changes from etcd into the lookup tables (runs on the control
//! thread; the workers see each change as soon as the write returns).
use std::net::Ipv4Addr;

use tracing::{debug, warn};

use crate::control::{LeaseAttrs, LeaseSink, SkipLog, Subnet};
use crate::pipeline::Prefix;
use crate::table::{LeaseTables, MAX_VTEP_MACS};

pub struct TableSink {
    pub tables: LeaseTables,
    pub own: Option<Subnet>,
    /// Our PublicIP (the underlay address).
    pub own_ip: Ipv4Addr,
    /// Our VtepMAC.
    pub own_vtep_mac: [u8; 6],
    /// The underlay's link prefix.
    pub underlay: Prefix,
    /// The warnings every change of a lease would say again (784 lines a
    /// minute under churn): once per 10 s and key, with the count left out.
    pub repeat_log: SkipLog,
}

impl TableSink {
    /// The network or broadcast address of the underlay's link (of a
    /// prefix with hosts of its own: up to /30): no node has it, so a
    /// lease naming it would only have us ARP for it.
    fn is_underlay_edge(&self, ip: Ipv4Addr) -> bool {
        let (p, ip) = (self.underlay, u32::from(ip));
        p.prefix_len() <= 30 && (ip == p.addr_u32() || ip == p.broadcast())
    }
}

impl LeaseSink for TableSink {
    fn upsert(&mut self, subnet: Subnet, lease: &LeaseAttrs) {
        if Some(subnet) == self.own {
            return; // our own subnet is served locally, never tunnelled
        }
        if lease.public_ip == self.own_ip {
            // Another subnet leased to our PublicIP: ours from before a
            // --subnet change, until it expires. Tunnelling to ourselves
            // would only loop; its hosts are gone.
            if let Some(suppressed) = self.repeat_log.check(&format!("own-ip {subnet}")) {
                warn!(%subnet, public_ip = %lease.public_ip, suppressed, "lease of another subnet to our own PublicIP (an old lease of ours?); not tunnelled to ourselves");
            }
            self.tables.remove_lease(u32::from(subnet.addr));
            return;
        }
        if lease.vtep_mac == self.own_vtep_mac {
            // Another node announcing our VtepMAC: its frames would carry our
            // own MAC as their source (the kernel drops those as looped), and
            // ours to it a destination it does not own. Kept out of the
            // tables, decap refuses our MAC as `spoofed_inner_mac` with no
            // check of its own.
            if let Some(suppressed) = self.repeat_log.check(&format!("own-mac {subnet}")) {
                warn!(%subnet, public_ip = %lease.public_ip, suppressed, "lease announcing our own VtepMAC; ignored (a copied or conflicting --vtep-mac?)");
            }
            self.tables.remove_lease(u32::from(subnet.addr));
            return;
        }
        debug!(%subnet, public_ip = %lease.public_ip, "lease installed");
        let ip = u32::from(lease.public_ip);
        self.tables
            .upsert_lease(u32::from(subnet.addr), ip, lease.vtep_mac);
        let hidden = self.tables.unpublished_vtep_macs(ip);
        // Per PublicIP: a change of any of its leases would say it again.
        let limited = || self.repeat_log.check(&lease.public_ip.to_string());
        if let Some(suppressed) = (hidden > 0).then(limited).flatten() {
            warn!(%subnet, public_ip = %lease.public_ip, hidden, max = MAX_VTEP_MACS, suppressed, "leases of one PublicIP with more VtepMACs than vxgate accepts from it: only the newest are, frames with the older ones are dropped as spoofed_inner_mac until those leases go (several nodes behind one address?)");
        }
    }

    fn remove(&mut self, subnet: Subnet) {
        debug!(%subnet, "lease removed");
        self.tables.remove_lease(u32::from(subnet.addr));
    }

    fn own_subnet(&mut self, subnet: Subnet) {
        self.own = Some(subnet);
        self.tables.remove_lease(u32::from(subnet.addr));
    }

    fn refuses(&self, lease: &LeaseAttrs) -> Option<String> {
        self.is_underlay_edge(lease.public_ip).then(|| {
            format!(
                "PublicIP {} is the network or broadcast address of the underlay link {}/{}, which no node has",
                lease.public_ip,
                self.underlay.addr(),
                self.underlay.prefix_len()
            )
        })
    }

    fn installed(&self) -> Option<usize> {
        Some(self.tables.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn attrs(i: u8) -> LeaseAttrs {
        LeaseAttrs {
            public_ip: Ipv4Addr::new(192, 0, 2, i),
            public_ipv6: None,
            backend_type: "vxlan".into(),
            vtep_mac: [0x0e, 0, 0, 0, 0, i],
            vni: Some(1),
        }
    }

    /// The sink of a gateway at 192.0.2.40 on 192.0.2.0/24.
    fn test_sink(tables: LeaseTables, repeat_log: SkipLog) -> TableSink {
        TableSink {
            tables,
            own: None,
            own_ip: Ipv4Addr::new(192, 0, 2, 40),
            own_vtep_mac: [0x0e, 0, 0, 0, 0, 41],
            underlay: Prefix::new(Ipv4Addr::new(192, 0, 2, 0), 24).unwrap(),
            repeat_log,
        }
    }

    #[test]
    fn installed_counts_only_what_the_tables_hold() {
        let (tables, _readers) = LeaseTables::new(16);
        let mut sink = test_sink(tables, SkipLog::default());
        let own = Subnet::parse_key("10.244.255.0-24").unwrap();
        sink.own_subnet(own);
        sink.upsert(own, &attrs(1)); // our own: served locally
        sink.upsert(Subnet::parse_key("10.244.1.0-24").unwrap(), &attrs(3));
        sink.upsert(Subnet::parse_key("10.244.2.0-24").unwrap(), &attrs(4));
        assert_eq!(sink.installed(), Some(2));
        // An old lease of ours (our PublicIP, another subnet) is not
        // installed, and replaces nothing it would have shadowed.
        sink.upsert(Subnet::parse_key("10.244.9.0-24").unwrap(), &attrs(40));
        assert_eq!(sink.installed(), Some(2));
        // Nor one announcing our VtepMAC.
        let mut ours = attrs(42);
        ours.vtep_mac = [0x0e, 0, 0, 0, 0, 41];
        sink.upsert(Subnet::parse_key("10.244.8.0-24").unwrap(), &ours);
        assert_eq!(sink.installed(), Some(2));
        // A fourth VtepMAC behind one PublicIP is installed, the oldest
        // then not accepted from it (said in a warning).
        for (i, mac) in [0x11u8, 0x12, 0x13].into_iter().enumerate() {
            let mut a = attrs(3);
            a.vtep_mac = [0x0e, 0, 0, 0, 0, mac];
            let key = format!("10.244.{}.0-24", 20 + i);
            sink.upsert(Subnet::parse_key(&key).unwrap(), &a);
        }
        let node = u32::from(Ipv4Addr::new(192, 0, 2, 3));
        assert_eq!(sink.tables.unpublished_vtep_macs(node), 1);
        assert_eq!(sink.installed(), Some(5));
        for i in 0..3 {
            sink.remove(Subnet::parse_key(&format!("10.244.{}.0-24", 20 + i)).unwrap());
        }
        assert_eq!(sink.tables.unpublished_vtep_macs(node), 0);
        // A lease naming the underlay link's network or broadcast address
        // is refused (the mirror skips it as a malformed value); one of a
        // host on the link is not.
        for (i, refused) in [(0, true), (255, true), (3, false), (254, false)] {
            assert_eq!(sink.refuses(&attrs(i)).is_some(), refused, "192.0.2.{i}");
        }
        sink.remove(Subnet::parse_key("10.244.1.0-24").unwrap());
        assert_eq!(sink.installed(), Some(1));
        let good = sink.tables.lease(u32::from(Ipv4Addr::new(10, 244, 2, 0)));
        assert_eq!(
            good.map(|l| l.public_ip),
            Some(u32::from(Ipv4Addr::new(192, 0, 2, 4)))
        );
    }

    /// The "more VtepMACs than accepted" warning, repeated at every change
    /// of a lease of that PublicIP, is logged once per interval and
    /// PublicIP, the next line saying how many it left out; another
    /// PublicIP is said at once.
    #[test]
    fn repeated_lease_warnings_are_rate_limited_per_key() {
        let (tables, _readers) = LeaseTables::new(64);
        let mut sink = test_sink(tables, SkipLog::every(std::time::Duration::from_secs(1)));
        let node = |ip: u8, mac: u8| LeaseAttrs {
            vtep_mac: [0x0e, 0, 0, 0, ip, mac],
            ..attrs(ip)
        };
        let subnet = |i: u8| Subnet::parse_key(&format!("10.244.{i}.0-24")).unwrap();
        let (text, ()) = crate::ops::logging::Buf::capture(|| {
            // A fourth VtepMAC behind 192.0.2.3 hides the oldest; then the
            // newest lease's VtepMAC changes 50 times (churn).
            for i in 0..4 {
                sink.upsert(subnet(20 + i), &node(3, i));
            }
            for m in 0..50 {
                sink.upsert(subnet(23), &node(3, 10 + m));
            }
            assert_eq!(sink.tables.unpublished_vtep_macs(0xc000_0203), 1);
            // Another PublicIP with too many VtepMACs.
            for i in 0..4 {
                sink.upsert(subnet(30 + i), &node(4, i));
            }
            // The same for a lease to our own PublicIP and one announcing
            // our VtepMAC, each re-put 20 times.
            for _ in 0..20 {
                sink.upsert(subnet(40), &attrs(40));
                let ours = LeaseAttrs {
                    vtep_mac: [0x0e, 0, 0, 0, 0, 41],
                    ..attrs(5)
                };
                sink.upsert(subnet(41), &ours);
            }
            crate::ops::pause(std::time::Duration::from_millis(1100));
            sink.upsert(subnet(23), &node(3, 99));
        });
        let of = |ip: &str| -> Vec<&str> {
            text.lines()
                .filter(|l| l.contains("more VtepMACs") && l.contains(ip))
                .collect()
        };
        let three = of("public_ip=192.0.2.3 ");
        assert_eq!(three.len(), 2, "{text}");
        assert!(three[0].contains("suppressed=0"), "{text}");
        assert!(three[1].contains("suppressed=50"), "{text}");
        assert_eq!(of("public_ip=192.0.2.4 ").len(), 1, "{text}");
        let said = |what: &str| text.lines().filter(|l| l.contains(what)).count();
        assert_eq!(said("to our own PublicIP"), 1, "{text}");
        assert_eq!(said("announcing our own VtepMAC"), 1, "{text}");
    }

    /// A node that also announces our VtepMAC (for a second subnet) does
    /// not get it into the tables, so a frame from it with our own MAC as
    /// its inner source is `spoofed_inner_mac` (the kernel drops it too),
    /// on the fast path and the full path, through the real tables.
    #[test]
    fn our_own_vtep_mac_never_reaches_the_tables_so_decap_refuses_it() {
        use crate::pipeline::tables::TableLookup;
        use crate::pipeline::testing::{self as t, *};
        use crate::pipeline::{process_burst, process_underlay, DropReason, Side, Verdict};
        use crate::pipeline::{PacketBuf, VecBuf};
        use crate::table::NeighborTables;

        let (tables, leases) = LeaseTables::new(16);
        let mut sink = TableSink {
            tables,
            own: None,
            own_ip: UNDERLAY_IP,
            own_vtep_mac: VTEP_MAC.0,
            underlay: t::config().underlay_prefix,
            repeat_log: SkipLog::default(),
        };
        let node = |vtep_mac: [u8; 6]| LeaseAttrs {
            public_ip: NODE_IP,
            vtep_mac,
            ..attrs(1)
        };
        sink.upsert(
            Subnet::parse_key("10.244.1.0-24").unwrap(),
            &node(NODE_VTEP_MAC.0),
        );
        sink.upsert(
            Subnet::parse_key("10.244.9.0-24").unwrap(),
            &node(VTEP_MAC.0),
        );
        assert_eq!(sink.installed(), Some(1));
        let (_neighbors, nr) = NeighborTables::new(16);
        let mut lk = TableLookup {
            leases,
            neighbors: nr,
        };
        lk.refresh();
        let ctx = t::context();
        let inner = ipv4_frame(
            VTEP_MAC,
            VTEP_MAC,
            Ip::new(POD_IP, HOST_IP),
            &udp_datagram(POD_IP, HOST_IP, 1, 2, b"x"),
        );
        let f = vxlan_frame(NODE_IP, VNI, &inner);
        let mut st = worker();
        let mut b = VecBuf::from_frame(&f);
        let spoofed = Verdict::Drop(DropReason::SpoofedInnerMac);
        assert_eq!(process_underlay(&ctx, &lk, &mut st, &mut b), spoofed);
        let mut bufs = [VecBuf::from_frame(&f)];
        let mut v = [Verdict::default()];
        process_burst(&ctx, &lk, &mut st, Side::Underlay, &mut bufs, &mut v);
        assert_eq!(v[0], spoofed);
        assert_eq!(
            st.counters
                .snapshot()
                .drop_count(DropReason::SpoofedInnerMac),
            2
        );
        assert_eq!(bufs[0].len(), f.len(), "left as it came");
    }
}
