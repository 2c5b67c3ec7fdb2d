//! Properties (decap(encap(x)), no panic on any bytes) and the fuzz seed corpus.

use super::*;
use crate::pipeline::encap;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn decap_of_encap_is_the_frame_with_ttl_minus_two(
        host in 2u8..=254,
        pod in 2u8..=254,
        proto in prop::sample::select(vec![1u8, 6, 17, 47, 132]),
        ttl in 3u8..=255,
        df: bool,
        vni_v in 0u32..=0xff_ffff,
        port in 1u16..=65535,
        len in 0usize..1400,
        sport: u16,
        dport: u16,
    ) {
        let mut c = config();
        c.vni = vni(vni_v);
        c.udp_port = port;
        let ctx = Context::new(c).unwrap();
        let (peer, pl) = peer_with(vni_v, port, 1450, 1500);
        let pod_ip = Ipv4Addr::new(10, 244, 1, pod);
        let host_ip = Ipv4Addr::new(10, 244, 255, host);
        let mut ip = Ip::new(host_ip, pod_ip);
        ip.protocol = proto;
        ip.ttl = ttl;
        ip.df = df;
        let mut l4 = pattern(len);
        if len >= 4 {
            l4[..2].copy_from_slice(&sport.to_be_bytes());
            l4[2..4].copy_from_slice(&dport.to_be_bytes());
        }
        let f = ipv4_frame(ACCESS_MAC, HOST_MAC, ip, &l4);
        let mut l = MapLookup::standard();
        l.add_neighbor(Side::Access, host_ip, HOST_MAC);
        let mut pl = pl;
        pl.add_neighbor(Side::Access, pod_ip, MacAddr([2, 0, 0, 0, 0, pod]));
        let mut st = worker();
        let mut b = VecBuf::from_frame(&f);
        prop_assert_eq!(process_access(&ctx, &l, &mut st, &mut b), Verdict::TxUnderlay);
        let sp = u16::from_be_bytes([b.data()[O_UDP], b.data()[O_UDP + 1]]);
        prop_assert!((encap::SRC_PORT_MIN..=encap::SRC_PORT_MAX).contains(&sp));
        let mut pst = worker();
        prop_assert_eq!(process_underlay(&peer, &pl, &mut pst, &mut b), Verdict::TxAccess);
        let out = b.data();
        prop_assert_eq!(out.len(), f.len());
        prop_assert_eq!(&out[..6], &[2, 0, 0, 0, 0, pod]);
        let oip = ipv4::Packet::new_checked(&out[14..]).unwrap();
        prop_assert!(oip.verify_checksum());
        prop_assert_eq!(oip.ttl(), ttl - 2);
        let mut want = f.clone();
        want[22] = ttl - 2;
        fix_ip(&mut want, 14);
        prop_assert_eq!(&out[12..], &want[12..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_output_is_well_formed(data in prop::collection::vec(any::<u8>(), 0..200)) {
        prop_assert!(fuzz_one(&data).is_ok());
    }

    #[test]
    fn mutated_valid_frames_never_panic(idx in 0usize..10, pos: prop::sample::Index, val: u8) {
        let samples = sample_frames();
        let (_, _, f) = &samples[idx % samples.len()];
        let mut f = f.clone();
        let i = pos.index(f.len());
        f[i] = val;
        prop_assert_eq!(fuzz_one(&f), Ok(()));
    }
}

#[test]
fn seed_corpus_is_the_sample_frames_and_passes_the_fuzz_checks() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/classify");
    let write = std::env::var_os("VXGATE_WRITE_CORPUS").is_some();
    for (name, _, f) in sample_frames() {
        let path = dir.join(name);
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &f).unwrap();
        }
        let on_disk = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (set VXGATE_WRITE_CORPUS=1)", path.display()));
        assert_eq!(on_disk, f, "{name}: regenerate with VXGATE_WRITE_CORPUS=1");
    }
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        assert_eq!(fuzz_one(&data), Ok(()));
        n += 1;
    }
    assert!(n >= sample_frames().len());
}
