//! Which subnet acquisition takes without `--subnet`, as flanneld
//! chooses: a usable lease of our PublicIP back, else one of the free
//! subnets from SubnetMin on. Holds the subnet arithmetic: the free
//! candidates found in one pass over the sorted keys, and the keys of
//! other lengths that block the range, named in the "no free subnet" error.

use std::net::Ipv4Addr;

use super::listing::Listed;
use crate::control::schema::NetworkConfig;
use crate::control::subnet::Subnet;
use crate::control::ControlError;

/// flanneld picks among at most this many free subnets.
const FREE_CANDIDATES: usize = 100;

/// What acquiring without `--subnet` would do.
pub(super) enum Choice<'a> {
    /// A restart: our PublicIP already holds this usable lease.
    TakeBack(&'a Listed),
    /// Up to `FREE_CANDIDATES` free subnets (never empty), one to pick.
    Free(Vec<Subnet>),
}

/// As flanneld chooses: a usable lease of our PublicIP (a reservation
/// first), else the free subnets from SubnetMin on; `NoFreeSubnet` when
/// there is none.
pub(super) fn choose<'a>(
    cfg: &NetworkConfig,
    listed: &'a [Listed],
    public_ip: Ipv4Addr,
) -> Result<Choice<'a>, ControlError> {
    let mut mine: Vec<&Listed> = listed
        .iter()
        .filter(|l| l.holder == Some(public_ip) && cfg.in_range(l.subnet))
        .collect();
    mine.sort_by_key(|l| l.lease != 0);
    if let Some(m) = mine.first() {
        return Ok(Choice::TakeBack(m));
    }
    let free = free_subnets(cfg, listed, FREE_CANDIDATES);
    if free.is_empty() {
        return Err(ControlError::NoFreeSubnet {
            min: cfg.subnet_min,
            max: cfg.subnet_max,
            other_lengths: other_length_blockers(cfg, listed),
        });
    }
    Ok(Choice::Free(free))
}

/// The first `limit` of `cfg.candidate_subnets()` that overlap no listed
/// key. The keys are sorted by their first address once and the
/// candidates, which ascend, walk them with one index, so a Network filled
/// from the front, as flanneld fills it, costs O(n log n) and not a scan
/// of every lease for every candidate (100 000 leases: 15 s of start-up
/// before).
fn free_subnets(cfg: &NetworkConfig, listed: &[Listed], limit: usize) -> Vec<Subnet> {
    let span = |s: Subnet| {
        let first = u64::from(u32::from(s.addr));
        (first, first + s.size() - 1)
    };
    let mut taken: Vec<(u64, u64)> = listed.iter().map(|l| span(l.subnet)).collect();
    taken.sort_unstable();
    let mut i = 0;
    cfg.candidate_subnets()
        .filter(|&c| {
            let (first, last) = span(c);
            // Keys ending before this candidate block none after it.
            while taken.get(i).is_some_and(|&(_, end)| end < first) {
                i += 1;
            }
            // Sorted by start: if the first key still ending at or after
            // `first` starts past the candidate, so do all the others.
            !taken.get(i).is_some_and(|&(start, _)| start <= last)
        })
        .take(limit)
        .collect()
}

/// The keys of another length than SubnetLen that overlap the range
/// leases are acquired from, for the "no free subnet" error: flanneld
/// never writes them, and one of a shorter length can block the whole
/// range. Empty when there are none.
fn other_length_blockers(cfg: &NetworkConfig, listed: &[Listed]) -> String {
    let blockers: Vec<String> = listed
        .iter()
        .filter(|l| l.subnet.len != cfg.subnet_len)
        .filter(|l| {
            // The key's addresses against SubnetMin .. the end of SubnetMax.
            let first = u64::from(u32::from(l.subnet.addr));
            let last = first + l.subnet.size() - 1;
            let min = u64::from(u32::from(cfg.subnet_min));
            let max = u64::from(u32::from(cfg.subnet_max)) + (1u64 << (32 - cfg.subnet_len)) - 1;
            first <= max && last >= min
        })
        .map(|l| {
            let holder = l
                .holder
                .map_or_else(|| "unreadable".into(), |h| h.to_string());
            format!("{} (PublicIP {holder})", l.key)
        })
        .collect();
    match blockers.as_slice() {
        [] => String::new(),
        [first, rest @ ..] => format!(
            " (keys of another length than SubnetLen {} block part of it: {first}{})",
            cfg.subnet_len,
            if rest.is_empty() {
                String::new()
            } else {
                format!(" and {} more", rest.len())
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys of another length than SubnetLen are named when they overlap
    /// SubnetMin .. the end of SubnetMax, and only then.
    #[test]
    fn keys_of_another_length_are_named_only_over_the_range() {
        let cfg =
            NetworkConfig::parse(br#"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#)
                .unwrap();
        let listed = |keys: &[&str]| -> Vec<Listed> {
            keys.iter()
                .map(|k| Listed {
                    key: k.to_string(),
                    subnet: Subnet::parse_key(k).unwrap(),
                    holder: Some(Ipv4Addr::new(192, 0, 2, 9)),
                    vtep_mac: None,
                    value: Vec::new(),
                    mod_revision: 1,
                    lease: 0,
                })
                .collect()
        };
        let named = other_length_blockers(&cfg, &listed(&["10.244.0.0-16"]));
        assert!(
            named.contains("10.244.0.0-16 (PublicIP 192.0.2.9)"),
            "{named}"
        );
        // Below SubnetMin (10.244.1.0), beyond the Network, or of
        // SubnetLen itself: not named.
        for key in ["10.244.0.0-25", "10.245.0.0-16", "10.244.7.0-24"] {
            assert_eq!(other_length_blockers(&cfg, &listed(&[key])), "", "{key}");
        }
        // The end of SubnetMax (10.244.255.0/24) counts.
        let last = other_length_blockers(&cfg, &listed(&["10.244.255.128-25"]));
        assert!(last.contains("10.244.255.128-25"), "{last}");
    }

    fn listed_subnet(subnet: Subnet) -> Listed {
        Listed {
            key: String::new(),
            subnet,
            holder: Some(Ipv4Addr::new(192, 0, 2, 9)),
            vtep_mac: None,
            value: Vec::new(),
            mod_revision: 1,
            lease: 1,
        }
    }

    /// The free subnets are those of the definition (every candidate of
    /// the range that no listed key overlaps, in order), whatever the
    /// keys: random keys of SubnetLen and of other lengths (longer and
    /// shorter, inside and around the range), over configs with and
    /// without SubnetMin/SubnetMax.
    #[test]
    fn free_subnets_are_the_candidates_no_key_overlaps() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        for cfg in [
            r#"{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}"#,
            r#"{"Network":"10.0.0.0/20","SubnetLen":28,"SubnetMin":"10.0.1.16","SubnetMax":"10.0.14.240","Backend":{"Type":"vxlan"}}"#,
            r#"{"Network":"10.0.0.0/8","SubnetLen":30,"SubnetMin":"10.255.255.0","Backend":{"Type":"vxlan"}}"#,
        ] {
            let cfg = NetworkConfig::parse(cfg.as_bytes()).unwrap();
            let net = u32::from(cfg.network.addr);
            let span = cfg.network.size().min(1 << 16) as u32;
            let base = u32::from(cfg.subnet_min).saturating_sub(span / 4).max(net);
            for round in 0..200 {
                let n = rng.gen_range(0..if round % 2 == 0 { 8 } else { 400 });
                let listed: Vec<Listed> = (0..n)
                    .map(|_| {
                        let len = match rng.gen_range(0..4) {
                            0 => rng.gen_range(cfg.network.len..=32),
                            _ => cfg.subnet_len,
                        };
                        let any = Subnet {
                            addr: Ipv4Addr::from(base.wrapping_add(rng.gen_range(0..span))),
                            len,
                        };
                        listed_subnet(Subnet {
                            addr: Ipv4Addr::from(u32::from(any.addr) & any.mask()),
                            len,
                        })
                    })
                    .collect();
                as_defined(&cfg, &listed, &format!("round {round}"));
            }
            // Keys on the candidates' edges: a host address at the first
            // or the last address of one, two at a time, with and without
            // a shorter key over four candidates.
            let cands: Vec<Subnet> = cfg.candidate_subnets().take(12).collect();
            let host = |a: u64| Subnet {
                addr: Ipv4Addr::from(a as u32),
                len: 32,
            };
            let edges: Vec<Subnet> = cands
                .iter()
                .flat_map(|c| {
                    let first = u64::from(u32::from(c.addr));
                    [host(first), host(first + c.size() - 1)]
                })
                .collect();
            let wide = Subnet {
                addr: Ipv4Addr::from(u32::from(cands[4].addr) & cands[4].mask() << 2),
                len: cfg.subnet_len - 2,
            };
            for (a, &ea) in edges.iter().enumerate() {
                for &eb in &edges[a..] {
                    for keys in [vec![ea, eb], vec![eb, wide, ea]] {
                        let listed: Vec<Listed> = keys.into_iter().map(listed_subnet).collect();
                        as_defined(&cfg, &listed, &format!("{ea} {eb}"));
                    }
                }
            }
        }
    }

    /// `free_subnets` against its definition, at several limits.
    fn as_defined(cfg: &NetworkConfig, listed: &[Listed], what: &str) {
        for limit in [1, 5, FREE_CANDIDATES] {
            let want: Vec<Subnet> = cfg
                .candidate_subnets()
                .filter(|c| !listed.iter().any(|l| l.subnet.overlaps(*c)))
                .take(limit)
                .collect();
            assert_eq!(free_subnets(cfg, listed, limit), want, "{what}");
        }
    }

    /// A Network filled from the front by 200 000 leases: the first free
    /// subnets after them, in one pass (the scan of every lease for every
    /// candidate took 15 s of start-up at 100 000).
    #[test]
    fn free_subnets_after_a_long_run_of_leases() {
        let cfg = NetworkConfig::parse(
            br#"{"Network":"10.0.0.0/8","SubnetLen":28,"Backend":{"Type":"vxlan"}}"#,
        )
        .unwrap();
        let first = u32::from(cfg.subnet_min);
        let listed: Vec<Listed> = (0..200_000u32)
            .rev()
            .map(|i| {
                listed_subnet(Subnet {
                    addr: Ipv4Addr::from(first + i * 16),
                    len: 28,
                })
            })
            .collect();
        let free = free_subnets(&cfg, &listed, 3);
        let at = |i: u32| Subnet {
            addr: Ipv4Addr::from(first + i * 16),
            len: 28,
        };
        assert_eq!(free, [at(200_000), at(200_001), at(200_002)]);
    }
}
