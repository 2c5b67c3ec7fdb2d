//! Address conflict detection for our addresses at start (RFC 5227's
//! probe): before vxgate writes anything to etcd or announces itself, it
//! asks the underlay whether anyone else answers for `--underlay-ip`. A
//! second gateway given the same address would otherwise take the first
//! one's lease as an old one of its own (our PublicIP is what says "ours"
//! in etcd, as in flanneld) and pull the nodes' ARP entries to itself.
//! The access address is probed the same way, with the underlay's when it
//! is known before our lease (`--subnet` or `--access-ip`), else once the
//! lease is held: a host of the subnet already using it would be cut off.
//!
//! A probe is an ARP request for our address whose sender address is
//! 0.0.0.0, so it changes no neighbour's cache; every host that holds the
//! address answers it (Linux's `arp_process`, and vxgate's own workers).

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::dpdk::{Burst, Mempool, RxQueue, TxQueue};
use crate::pipeline::slowpath::{build_arp_request, MIN_FRAME_LEN};
use crate::pipeline::slowpath_loop::new_frame;
use crate::pipeline::{Counters, DropReason};
use crate::wire::arp;
use crate::wire::ethernet::{ethertype, Frame};
use crate::wire::MacAddr;

/// When the probes go out, from the start of the probe. RFC 5227 spaces
/// three probes 1-2 s apart for hosts that may come up on a busy wireless
/// network; on the wired segment of an appliance an answer comes within a
/// millisecond, so three probes over 300 ms, for a lost frame or two.
pub(crate) const PROBE_AT: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(150),
    Duration::from_millis(300),
];
/// How long answers are waited for, from the start of the probe.
pub(crate) const PROBE_WINDOW: Duration = Duration::from_millis(500);

/// Who else claims `ip`, by one received frame: an ARP of any kind whose
/// sender address is `ip` from a MAC that is not `our_mac` (an answer to
/// our probe, or an announcement), or another host's probe for `ip` (two
/// hosts probing at once both back off: RFC 5227 2.1.1).
pub(crate) fn claimant(frame: &[u8], our_mac: MacAddr, ip: Ipv4Addr) -> Option<MacAddr> {
    let f = Frame::new_checked(frame).ok()?;
    if f.ethertype() != ethertype::ARP {
        return None;
    }
    let r = arp::Repr::parse(&arp::Packet::new_checked(f.payload()).ok()?).ok()?;
    if r.sender_mac == our_mac {
        return None; // our own probe, looped back by the segment
    }
    let answers = r.sender_ip == ip;
    let probes_too = r.operation == arp::Operation::Request
        && r.sender_ip == Ipv4Addr::UNSPECIFIED
        && r.target_ip == ip;
    (answers || probes_too).then_some(r.sender_mac)
}

/// Writes the probe for `ip` from `mac` into `out` (60 bytes, broadcast):
/// our ARP request for `ip`, from sender address 0.0.0.0.
pub(crate) fn probe_frame(mac: MacAddr, ip: Ipv4Addr, out: &mut [u8]) -> Option<usize> {
    build_arp_request(MacAddr::BROADCAST, mac, Ipv4Addr::UNSPECIFIED, ip, out)
}

/// One port's address to probe: its queues (started, no worker polling
/// them yet), its MAC and the address.
pub(crate) struct Target<'a> {
    pub rx: &'a mut [RxQueue],
    pub tx: &'a mut TxQueue,
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
}

/// What the probe found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Probed {
    /// Nobody answered for any of the addresses within the window.
    Free,
    /// This MAC holds the address `ip` too.
    InUse { ip: Ipv4Addr, mac: MacAddr },
    /// A stop was asked for meanwhile.
    Stopped,
}

/// Probes every target's address at once, in one window. Every frame
/// received meanwhile is freed: one that claims nothing is counted as
/// `not_for_us` on `counters` (vxgate is not the VTEP of anything yet),
/// so the ports' RX still adds up.
pub(crate) fn probe(
    targets: &mut [Target],
    pool: &Mempool,
    counters: &Counters,
    stop: &AtomicBool,
) -> Probed {
    let t0 = Instant::now();
    let mut sent = 0;
    loop {
        if stop.load(Relaxed) {
            return Probed::Stopped;
        }
        let elapsed = t0.elapsed();
        if sent < PROBE_AT.len() && elapsed >= PROBE_AT[sent] {
            sent += 1;
            for t in targets.iter_mut() {
                send_probe(t.tx, pool, t.mac, t.ip);
            }
        }
        for t in targets.iter_mut() {
            for q in t.rx.iter_mut() {
                let mut burst = Burst::new();
                q.rx(&mut burst);
                let claim = (0..burst.len())
                    .filter_map(|j| burst.get(j))
                    .find_map(|m| claimant(m.data(), t.mac, t.ip));
                if let Some(mac) = claim {
                    return Probed::InUse { ip: t.ip, mac };
                }
                counters.drops(DropReason::NotForUs, burst.free_all() as u64);
            }
        }
        if elapsed >= PROBE_WINDOW {
            return Probed::Free;
        }
        crate::ops::pause(Duration::from_millis(1));
    }
}

/// One probe out; a probe that cannot be built or sent is one answer less
/// to wait for (the other two, or the window, decide).
fn send_probe(tx: &mut TxQueue, pool: &Mempool, mac: MacAddr, ip: Ipv4Addr) {
    let Some(mut m) = new_frame(pool, MIN_FRAME_LEN) else {
        return;
    };
    if probe_frame(mac, ip, m.data_mut()).is_none() {
        return;
    }
    let mut burst = Burst::new();
    if burst.push(m).is_ok() {
        tx.tx(&mut burst);
    }
    // Unsent (the ring full at start): freed with the burst.
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::slowpath::build_arp_frame;
    use crate::pipeline::testing::arp_request;

    const OURS: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);
    const OTHER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 2]);
    const IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 40);

    /// An ARP reply from `mac`/`sender` to `target` (broadcast).
    fn reply(mac: MacAddr, sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
        let r = arp::Repr {
            operation: arp::Operation::Reply,
            sender_mac: mac,
            sender_ip: sender,
            target_mac: MacAddr::ZERO,
            target_ip: target,
        };
        let mut out = vec![0u8; 60];
        build_arp_frame(MacAddr::BROADCAST, &r, &mut out).unwrap();
        out
    }

    #[test]
    fn the_probe_asks_for_our_address_from_no_address() {
        let mut out = [0u8; 60];
        assert_eq!(probe_frame(OURS, IP, &mut out), Some(60));
        let eth = etherparse::Ethernet2HeaderSlice::from_slice(&out).unwrap();
        assert_eq!(eth.destination(), [0xff; 6]);
        assert_eq!(eth.source(), OURS.0);
        assert_eq!(eth.ether_type(), etherparse::EtherType::ARP);
        let r = arp::Repr::parse(&arp::Packet::new_checked(&out[14..]).unwrap()).unwrap();
        assert_eq!(r.operation, arp::Operation::Request);
        assert_eq!(r.sender_ip, Ipv4Addr::UNSPECIFIED);
        assert_eq!(r.target_ip, IP);
        assert_eq!(r.target_mac, MacAddr::ZERO);
        assert!(probe_frame(OURS, IP, &mut out[..59]).is_none());
    }

    #[test]
    fn an_answer_an_announcement_or_another_probe_claims_the_address() {
        let other_ip = Ipv4Addr::new(192, 0, 2, 41);
        // The answer Linux (and vxgate) gives a probe: sender our address.
        let answer = reply(OTHER, IP, Ipv4Addr::UNSPECIFIED);
        assert_eq!(claimant(&answer, OURS, IP), Some(OTHER));
        // A gratuitous ARP or any request from the address.
        assert_eq!(claimant(&arp_request(OTHER, IP, IP), OURS, IP), Some(OTHER));
        assert_eq!(
            claimant(&arp_request(OTHER, IP, other_ip), OURS, IP),
            Some(OTHER)
        );
        // Another host probing for it at the same time.
        let probe = arp_request(OTHER, Ipv4Addr::UNSPECIFIED, IP);
        assert_eq!(claimant(&probe, OURS, IP), Some(OTHER));
    }

    #[test]
    fn our_own_frames_and_other_traffic_claim_nothing() {
        let other_ip = Ipv4Addr::new(192, 0, 2, 41);
        // Our probe looped back.
        let mut own = [0u8; 60];
        probe_frame(OURS, IP, &mut own).unwrap();
        assert_eq!(claimant(&own, OURS, IP), None);
        // Other hosts' ARP: asking for us, probing for another address,
        // answering about another address.
        assert_eq!(claimant(&arp_request(OTHER, other_ip, IP), OURS, IP), None);
        let probe = arp_request(OTHER, Ipv4Addr::UNSPECIFIED, other_ip);
        assert_eq!(claimant(&probe, OURS, IP), None);
        assert_eq!(claimant(&reply(OTHER, other_ip, IP), OURS, IP), None);
        // Not ARP, or cut short.
        let mut ipv4 = arp_request(OTHER, IP, IP);
        ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(claimant(&ipv4, OURS, IP), None);
        let full = arp_request(OTHER, IP, IP);
        for n in 0..41 {
            assert_eq!(claimant(&full[..n], OURS, IP), None, "{n} bytes");
        }
    }
}
