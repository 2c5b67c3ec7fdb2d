//! Drop reasons and slow-path kinds: the label values of
//! `vxgate_drops_total{reason}` and `vxgate_slowpath_packets_total{kind}`.

/// Why a packet was dropped. Each drop is counted under exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    Truncated,
    BadIpv4,
    BadChecksum,
    OuterFragment,
    NotForUs,
    BadVxlanFlags,
    UnknownVni,
    UnknownVtep,
    SpoofedInnerMac,
    WrongInnerDstMac,
    NotIpv4,
    TtlExpired,
    NoRoute,
    NoNeighbor,
    MtuExceeded,
    TxFull,
}

impl DropReason {
    pub const COUNT: usize = 16;
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::Truncated,
        DropReason::BadIpv4,
        DropReason::BadChecksum,
        DropReason::OuterFragment,
        DropReason::NotForUs,
        DropReason::BadVxlanFlags,
        DropReason::UnknownVni,
        DropReason::UnknownVtep,
        DropReason::SpoofedInnerMac,
        DropReason::WrongInnerDstMac,
        DropReason::NotIpv4,
        DropReason::TtlExpired,
        DropReason::NoRoute,
        DropReason::NoNeighbor,
        DropReason::MtuExceeded,
        DropReason::TxFull,
    ];

    /// The metric label, exactly as SPEC spells it.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::BadIpv4 => "bad_ipv4",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::OuterFragment => "outer_fragment",
            DropReason::NotForUs => "not_for_us",
            DropReason::BadVxlanFlags => "bad_vxlan_flags",
            DropReason::UnknownVni => "unknown_vni",
            DropReason::UnknownVtep => "unknown_vtep",
            DropReason::SpoofedInnerMac => "spoofed_inner_mac",
            DropReason::WrongInnerDstMac => "wrong_inner_dst_mac",
            DropReason::NotIpv4 => "not_ipv4",
            DropReason::TtlExpired => "ttl_expired",
            DropReason::NoRoute => "no_route",
            DropReason::NoNeighbor => "no_neighbor",
            DropReason::MtuExceeded => "mtu_exceeded",
            DropReason::TxFull => "tx_full",
        }
    }

    /// Index into counter arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// What the slow path handled: ARP, ICMP, or fragmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SlowKind {
    Arp,
    Icmp,
    Fragment,
}

impl SlowKind {
    pub const COUNT: usize = 3;
    pub const ALL: [SlowKind; Self::COUNT] = [SlowKind::Arp, SlowKind::Icmp, SlowKind::Fragment];

    pub const fn name(self) -> &'static str {
        match self {
            SlowKind::Arp => "arp",
            SlowKind::Icmp => "icmp",
            SlowKind::Fragment => "fragment",
        }
    }

    pub const fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_spec_and_indices_are_dense() {
        let spec = "truncated bad_ipv4 bad_checksum outer_fragment not_for_us bad_vxlan_flags \
                    unknown_vni unknown_vtep spoofed_inner_mac wrong_inner_dst_mac not_ipv4 \
                    ttl_expired no_route no_neighbor mtu_exceeded tx_full";
        let names: Vec<&str> = DropReason::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names, spec.split_whitespace().collect::<Vec<_>>());
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        let kinds: Vec<&str> = SlowKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(kinds, ["arp", "icmp", "fragment"]);
        for (i, k) in SlowKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
        }
    }
}
