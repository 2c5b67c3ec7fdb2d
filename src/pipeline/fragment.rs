//! IPv4 fragmentation as a router does it (RFC 791), for the slow path:
//! an Ethernet+IPv4 frame too big for the next hop's MTU is cut into
//! frames whose IPv4 packets fit, written one at a time into caller
//! buffers. Options without the copy flag stay in the first fragment only.

use crate::wire::ethernet;
use crate::wire::ipv4;

/// Why a frame cannot be fragmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragError {
    /// Not an Ethernet frame holding a valid IPv4 packet.
    NotIpv4,
    /// A fragment whose data would end past byte 65535 of its datagram
    /// (offset plus payload length): no fragment of it could carry its
    /// offset, and no host could reassemble it. A bad IPv4 packet.
    BeyondMaxDatagram,
    /// The packet has DF set: answer with fragmentation-needed instead.
    DontFragment,
    /// The MTU leaves no room for 8 bytes of data after the header.
    MtuTooSmall,
    /// The output buffer cannot hold the next fragment.
    OutputTooSmall,
}

/// Yields the fragments of one frame.
#[derive(Debug, Clone)]
pub struct Fragmenter<'a> {
    eth: &'a [u8],
    header: &'a [u8],
    payload: &'a [u8],
    /// Options copied into every fragment after the first, padded.
    later_opts: [u8; 40],
    later_opts_len: usize,
    /// Offset of this packet's first payload byte in the original datagram.
    base_offset: u16,
    /// MF of the packet being fragmented (set if it already was a fragment).
    base_mf: bool,
    mtu: usize,
    pos: usize,
    done: bool,
}

impl<'a> Fragmenter<'a> {
    /// Prepares to fragment `frame` (Ethernet + IPv4; padding ignored) to
    /// IPv4 packets of at most `mtu` bytes.
    pub fn new(frame: &'a [u8], mtu: u16) -> Result<Fragmenter<'a>, FragError> {
        let eth = frame
            .get(..ethernet::HEADER_LEN)
            .ok_or(FragError::NotIpv4)?;
        let ipb = &frame[ethernet::HEADER_LEN..];
        let ip = ipv4::Packet::new_checked(ipb).map_err(|_| FragError::NotIpv4)?;
        if ip.dont_frag() {
            return Err(FragError::DontFragment);
        }
        let hl = ip.header_len();
        let total = usize::from(ip.total_len());
        let base_offset = ip.frag_offset();
        // Every fragment's offset must fit the 16 bits of byte offset the
        // header can say (13 bits of 8-byte units).
        if ip.ends_past_max_datagram() {
            return Err(FragError::BeyondMaxDatagram);
        }
        // The options judged as the full path judges them (`check_ipv4`);
        // the copied ones gathered for the later fragments (they fit: the
        // list is at most 40 bytes).
        let mut later_opts = [0u8; 40];
        let mut later_opts_len = 0;
        ipv4::walk_options(ip.options(), |o| {
            if o.first().is_some_and(|k| k & ipv4::option::COPIED != 0) {
                let end = later_opts_len + o.len();
                if let Some(d) = later_opts.get_mut(later_opts_len..end) {
                    d.copy_from_slice(o);
                    later_opts_len = end;
                }
            }
        })
        .map_err(|_| FragError::NotIpv4)?;
        later_opts_len = (later_opts_len + 3) & !3;
        let mtu = usize::from(mtu);
        if mtu < hl + 8 || mtu < ipv4::HEADER_LEN + later_opts_len + 8 {
            return Err(FragError::MtuTooSmall);
        }
        Ok(Fragmenter {
            eth,
            header: &ipb[..hl],
            payload: &ipb[hl..total],
            later_opts,
            later_opts_len,
            base_offset,
            base_mf: ip.more_frags(),
            mtu,
            pos: 0,
            done: false,
        })
    }

    /// True once every fragment has been written.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Writes the next fragment frame into `out` and returns its length;
    /// `Ok(None)` when done. A short `out` is an error and leaves the
    /// fragmenter where it was.
    pub fn next_into(&mut self, out: &mut [u8]) -> Result<Option<usize>, FragError> {
        if self.done {
            return Ok(None);
        }
        // Options without the copy flag belong to the fragment at offset 0
        // of the original datagram only: refragmenting a later fragment
        // keeps the copied ones alone (RFC 791).
        let first = self.pos == 0 && self.base_offset == 0;
        let hl = if first {
            self.header.len()
        } else {
            ipv4::HEADER_LEN + self.later_opts_len
        };
        let room = (self.mtu - hl) & !7;
        let rest = self.payload.len() - self.pos;
        let data = rest.min(room);
        let last = data == rest;
        let len = ethernet::HEADER_LEN + hl + data;
        let out = out.get_mut(..len).ok_or(FragError::OutputTooSmall)?;
        out[..ethernet::HEADER_LEN].copy_from_slice(self.eth);
        let ipo = &mut out[ethernet::HEADER_LEN..];
        if first {
            ipo[..hl].copy_from_slice(self.header);
        } else {
            ipo[..ipv4::HEADER_LEN].copy_from_slice(&self.header[..ipv4::HEADER_LEN]);
            ipo[ipv4::HEADER_LEN..hl].copy_from_slice(&self.later_opts[..self.later_opts_len]);
        }
        ipo[hl..hl + data].copy_from_slice(&self.payload[self.pos..self.pos + data]);
        let mut p = ipv4::Packet::new_unchecked(&mut ipo[..]);
        p.set_ver_ihl(hl);
        p.set_total_len((hl + data) as u16);
        // No wrap: `new` checked that the payload ends by byte 65535.
        let offset = self.base_offset.saturating_add(self.pos as u16);
        p.set_frag(false, !last || self.base_mf, offset);
        p.fill_checksum();
        self.pos += data;
        self.done = last;
        Ok(Some(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn frame(payload_len: usize, opts: &[u8]) -> Vec<u8> {
        let hl = 20 + opts.len();
        let mut f = vec![0u8; 14 + hl + payload_len];
        f[12] = 0x08;
        ipv4::Repr {
            src: Ipv4Addr::new(10, 244, 255, 10),
            dst: Ipv4Addr::new(10, 244, 1, 36),
            protocol: ipv4::protocol::UDP,
            payload_len: (payload_len + opts.len()) as u16,
            ttl: 64,
            ident: 0x4242,
            dont_frag: false,
            dscp_ecn: 0,
        }
        .emit(&mut f[14..])
        .unwrap();
        f[14] = 0x40 | (hl / 4) as u8;
        f[34..34 + opts.len()].copy_from_slice(opts);
        for (i, b) in f[14 + hl..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let mut p = ipv4::Packet::new_unchecked(&mut f[14..]);
        p.fill_checksum();
        f
    }

    fn reassemble(frags: &[Vec<u8>]) -> Vec<u8> {
        let mut data = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            let p = ipv4::Packet::new_checked(&f[14..]).unwrap();
            assert!(p.verify_checksum());
            assert_eq!(usize::from(p.frag_offset()), data.len());
            assert_eq!(p.more_frags(), i + 1 < frags.len());
            assert_eq!(p.ident(), 0x4242);
            data.extend_from_slice(p.payload());
        }
        data
    }

    fn run(f: &[u8], mtu: u16) -> Vec<Vec<u8>> {
        let mut fr = Fragmenter::new(f, mtu).unwrap();
        let mut out = Vec::new();
        let mut b = [0u8; 9100];
        while let Some(n) = fr.next_into(&mut b).unwrap() {
            assert!(n - 14 <= usize::from(mtu));
            out.push(b[..n].to_vec());
        }
        assert!(fr.is_done());
        out
    }

    #[test]
    fn jumbo_to_tunnel_mtu() {
        let f = frame(8980, &[]);
        let frags = run(&f, 1450);
        assert_eq!(frags.len(), 7); // 1424 data bytes each (multiple of 8)
        assert_eq!(reassemble(&frags), f[34..].to_vec());
        assert_eq!(frags[0][..14], f[..14]);
    }

    #[test]
    fn fits_already_is_one_fragment_without_mf() {
        let f = frame(100, &[]);
        let frags = run(&f, 1450);
        assert_eq!(frags, vec![f]);
    }

    #[test]
    fn options_copied_only_when_flagged() {
        // NOP, a copied option (0x94 router alert, len 4), a non-copied one
        // (0x07 record route, len 7), end of list.
        let opts = [1, 0x94, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0, 0, 0, 0];
        let f = frame(200, &opts);
        let frags = run(&f, 100);
        assert_eq!(
            ipv4::Packet::new_checked(&frags[0][14..])
                .unwrap()
                .header_len(),
            36
        );
        for later in &frags[1..] {
            let p = ipv4::Packet::new_checked(&later[14..]).unwrap();
            assert_eq!(p.options(), &[0x94, 4, 0, 0]);
        }
        let mut all = Vec::new();
        for fr in &frags {
            all.extend_from_slice(ipv4::Packet::new_checked(&fr[14..]).unwrap().payload());
        }
        assert_eq!(all, f[14 + 36..].to_vec());
    }

    #[test]
    fn a_later_fragment_keeps_only_copied_options_and_its_offset_and_mf() {
        // A middle fragment (offset 1480, MF) with a copied and
        // a non-copied option: none of its pieces is at offset 0, so none
        // carries the non-copied option.
        let opts = [0x94, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0];
        let mut f = frame(2000, &opts);
        let mut p = ipv4::Packet::new_unchecked(&mut f[14..]);
        p.set_frag(false, true, 1480);
        p.fill_checksum();
        let frags = run(&f, 1450);
        assert_eq!(frags.len(), 2);
        let mut offset = 1480;
        for fr in &frags {
            let p = ipv4::Packet::new_checked(&fr[14..]).unwrap();
            assert!(p.verify_checksum());
            assert_eq!(p.options(), &[0x94, 4, 0, 0]);
            assert!(p.more_frags(), "the input was a middle fragment");
            assert_eq!(p.frag_offset(), offset);
            offset += p.payload().len() as u16;
        }
    }

    /// A fragment with offset 65408 and 1480 bytes of data (a 1500-byte
    /// packet without DF) would end past byte 65535 of its datagram: its
    /// second piece's offset, 65408 + 1424, does not fit the header (it
    /// wrapped to 1296, with MF clear). Refused, as a bad packet. One that
    /// ends at byte 65535 exactly is cut with every offset in place.
    #[test]
    fn a_fragment_ending_past_byte_65535_is_refused() {
        let at = |payload_len: usize, offset: u16| {
            let mut f = frame(payload_len, &[]);
            let mut p = ipv4::Packet::new_unchecked(&mut f[14..]);
            p.set_frag(false, false, offset);
            p.fill_checksum();
            f
        };
        let f = at(1480, 65408);
        assert_eq!(f.len(), 14 + 1500);
        assert_eq!(
            Fragmenter::new(&f, 1450).err(),
            Some(FragError::BeyondMaxDatagram)
        );
        assert_eq!(
            Fragmenter::new(&at(1496, 64040), 1450).err(),
            Some(FragError::BeyondMaxDatagram),
            "one byte past"
        );
        let frags = run(&at(1503, 64032), 1450);
        let got: Vec<(u16, bool, usize)> = frags
            .iter()
            .map(|fr| {
                let p = ipv4::Packet::new_checked(&fr[14..]).unwrap();
                assert!(p.verify_checksum());
                (p.frag_offset(), p.more_frags(), p.payload().len())
            })
            .collect();
        assert_eq!(got, [(64032, true, 1424), (65456, false, 79)]);
    }

    #[test]
    fn refusals() {
        let mut f = frame(2000, &[]);
        assert_eq!(Fragmenter::new(&f, 20).err(), Some(FragError::MtuTooSmall));
        assert_eq!(
            Fragmenter::new(&f[..30], 1450).err(),
            Some(FragError::NotIpv4)
        );
        let mut fr = Fragmenter::new(&f, 1450).unwrap();
        assert_eq!(
            fr.next_into(&mut [0u8; 100]),
            Err(FragError::OutputTooSmall)
        );
        let mut p = ipv4::Packet::new_unchecked(&mut f[14..]);
        p.set_frag(true, false, 0);
        p.fill_checksum();
        assert_eq!(
            Fragmenter::new(&f, 1450).err(),
            Some(FragError::DontFragment)
        );
    }
}
