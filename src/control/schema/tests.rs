//! Tests of the config and lease readers: flanneld's defaults, Go's spellings and nulls, errors, exact bytes.

use super::*;
use crate::control::subnet::Subnet;
use std::net::Ipv4Addr;

fn cfg(s: &str) -> Result<NetworkConfig, ConfigError> {
    NetworkConfig::parse(s.as_bytes())
}

#[test]
fn config_defaults_like_flanneld() {
    let c = cfg(r#"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#).unwrap();
    assert_eq!(c.subnet_len, 24);
    assert_eq!(c.subnet_min, Ipv4Addr::new(10, 244, 1, 0));
    assert_eq!(c.subnet_max, Ipv4Addr::new(10, 244, 255, 0));
    assert_eq!(
        c.backend,
        VxlanBackend {
            vni: 1,
            port: 8472,
            mtu: None,
            direct_routing: false,
            gbp: false
        }
    );
    assert_eq!(c.candidate_subnets().count(), 255);
    let c = cfg(r#"{"Network":"10.5.0.0/26","Backend":{"Type":"vxlan","Port":0}}"#).unwrap();
    assert_eq!((c.subnet_len, c.backend.port), (28, 8472));
    assert_eq!(c.subnet_max, Ipv4Addr::new(10, 5, 0, 48));
}

/// flanneld reads a SubnetMin/SubnetMax of 0.0.0.0 as not set, and
/// refuses an empty Network.
#[test]
fn zero_bounds_are_unset_and_the_whole_space_is_no_network_as_in_flanneld() {
    let c = cfg(r#"{"Network":"10.244.0.0/16","SubnetMin":"0.0.0.0","SubnetMax":"0.0.0.0","Backend":{"Type":"vxlan"}}"#)
        .unwrap();
    assert_eq!(c.subnet_min, Ipv4Addr::new(10, 244, 1, 0));
    assert_eq!(c.subnet_max, Ipv4Addr::new(10, 244, 255, 0));
    // In a Network at 0.0.0.0 too: the first subnet stays skipped.
    let c =
        cfg(r#"{"Network":"0.0.0.0/8","SubnetMin":"0.0.0.0","Backend":{"Type":"vxlan"}}"#).unwrap();
    assert_eq!(c.subnet_min, Ipv4Addr::new(0, 0, 1, 0));
    for net in ["0.0.0.0/0", "10.1.2.3/0"] {
        let e = cfg(&format!(
            r#"{{"Network":"{net}","Backend":{{"Type":"vxlan"}}}}"#
        ));
        assert!(
            matches!(&e, Err(ConfigError::Invalid { key: "Network", value, why })
                if value == net && why.contains("whole IPv4 space")),
            "{net}: {e:?}"
        );
    }
}

#[test]
fn config_keys_are_case_insensitive_and_the_last_wins_as_in_go() {
    let c = cfg(r#"{"network":"10.1.0.0/16","subnetlen":25,"BACKEND":{"type":"vxlan","vni":7,"port":4789,"mtu":9000,"directrouting":true}}"#)
        .unwrap();
    assert_eq!(c.network, Subnet::parse_cidr("10.1.0.0/16").unwrap());
    assert_eq!(c.subnet_len, 25);
    assert_eq!(
        c.backend,
        VxlanBackend {
            vni: 7,
            port: 4789,
            mtu: Some(9000),
            direct_routing: true,
            gbp: false
        }
    );
    let c = cfg(r#"{"network":"10.9.0.0/16","Network":"10.1.0.0/16","Backend":{"Type":"vxlan"}}"#)
        .unwrap();
    assert_eq!(c.network.addr, Ipv4Addr::new(10, 1, 0, 0));
    // Go applies keys in document order: the last spelling wins, even
    // over the exact one; a null changes no plain field (SubnetLen).
    let c = cfg(
        r#"{"Network":"10.1.0.0/16","network":"10.9.0.0/16","SubnetLen":26,"Backend":{"Type":"vxlan"},"backend":{"type":"vxlan","VNI":5},"SUBNETLEN":null}"#,
    )
    .unwrap();
    assert_eq!(c.network.addr, Ipv4Addr::new(10, 9, 0, 0));
    assert_eq!((c.subnet_len, c.backend.vni), (26, 5));
    let l = LeaseValue::parse(
        br#"{"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:01"},"publicip":"192.0.2.9"}"#,
    );
    assert!(
        matches!(&l, Ok(LeaseValue::Vxlan(a)) if a.public_ip == Ipv4Addr::new(192, 0, 2, 9)),
        "peers send to the last PublicIP: {l:?}"
    );
}

/// Go's encoding/json applies every spelling of a field in order: a
/// plain field (string, bool, number) of the wrong type is an error
/// Go remembers while it goes on, and a field whose type parses itself
/// (ip.IP4, ip.IP4Net, hardwareAddr) aborts the decode when its parse
/// fails, a null included. Either way flanneld refuses the document,
/// whichever spelling comes first, so vxgate refuses it too.
#[test]
fn any_bad_spelling_of_a_field_refuses_the_document_as_go_does() {
    let lease = |fields: &str| {
        LeaseValue::parse(
            format!(
                r#"{{{fields},"BackendType":"vxlan","BackendData":{{"VtepMAC":"02:00:00:00:00:01"}}}}"#
            )
            .as_bytes(),
        )
    };
    for (bad, good) in [
        (r#""PublicIP":5"#, r#""publicip":"1.2.3.4""#),
        (r#""PublicIP":null"#, r#""publicip":"1.2.3.4""#),
        (r#""PublicIP":"1.2.3.400""#, r#""publicip":"1.2.3.4""#),
        (r#""PublicIPv6":7"#, r#""PublicIP":"1.2.3.4""#),
        (r#""BackendType":5"#, r#""PublicIP":"1.2.3.4""#),
    ] {
        for doc in [format!("{bad},{good}"), format!("{good},{bad}")] {
            let l = lease(&doc);
            assert!(matches!(l, Err(LeaseError::Invalid { .. })), "{doc}: {l:?}");
        }
    }
    let data = |d: &str| {
        LeaseValue::parse(
            format!(r#"{{"PublicIP":"1.2.3.4","BackendType":"vxlan","BackendData":{{{d}}}}}"#)
                .as_bytes(),
        )
    };
    for d in [
        r#""VtepMAC":"02:00:00:00:00:01","vtepmac":null"#,
        r#""vtepmac":5,"VtepMAC":"02:00:00:00:00:01""#,
        r#""VtepMAC":"02:00:00:00:00:01","VNI":-1,"vni":1"#,
        r#""VtepMAC":"02:00:00:00:00:01","vni":1,"VNI":4294967296"#,
    ] {
        assert!(data(d).is_err(), "{d}");
    }
    // What Go accepts: a null of a plain field or of a pointer (which
    // it resets), and a bad BackendData that a later one replaces
    // (a json.RawMessage: only the last is decoded).
    let ok = lease(
        r#""PublicIP":"1.2.3.4","BackendType":null,"PublicIPv6":"fc00::1","publicipv6":null"#,
    );
    assert!(
        matches!(&ok, Ok(LeaseValue::Vxlan(a)) if a.public_ipv6.is_none()),
        "{ok:?}"
    );
    let ok = LeaseValue::parse(
        br#"{"PublicIP":"1.2.3.4","BackendType":"vxlan","BackendData":{"VtepMAC":5},"backenddata":{"VtepMAC":"02:00:00:00:00:09","VNI":null}}"#,
    );
    assert!(
        matches!(&ok, Ok(LeaseValue::Vxlan(a)) if a.vtep_mac[5] == 9 && a.vni.is_none()),
        "{ok:?}"
    );

    let config = |fields: &str| cfg(&format!(r#"{{{fields},"Backend":{{"Type":"vxlan"}}}}"#));
    for (bad, good) in [
        (r#""Network":5"#, r#""network":"10.1.0.0/16""#),
        (r#""Network":null"#, r#""network":"10.1.0.0/16""#),
        (
            r#""SubnetMin":"x""#,
            r#""network":"10.1.0.0/16","subnetmin":"10.1.2.0""#,
        ),
        (r#""SubnetMax":null"#, r#""network":"10.1.0.0/16""#),
        (
            r#""SubnetLen":"24""#,
            r#""network":"10.1.0.0/16","subnetlen":24"#,
        ),
        (r#""EnableIPv4":1"#, r#""network":"10.1.0.0/16""#),
    ] {
        for doc in [format!("{bad},{good}"), format!("{good},{bad}")] {
            assert!(config(&doc).is_err(), "{doc}");
        }
    }
    assert!(
        cfg(r#"{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan","VNI":"1","vni":1}}"#).is_err()
    );
    // Backend is a json.RawMessage: the last one, even a null (which
    // flanneld reads as no Type: udp).
    assert_eq!(
        cfg(r#"{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan"},"backend":null}"#),
        Err(ConfigError::MissingBackendType)
    );
    assert_eq!(
        cfg(r#"{"Network":"10.1.0.0/16","Backend":5,"backend":{"Type":"vxlan","VNI":3}}"#)
            .map(|c| c.backend.vni),
        Ok(3)
    );
}

/// A value above MAX_VALUE_BYTES is refused before it is parsed; one
/// just below, of thousands of keys, is read as usual (the keys are
/// grouped in one pass: `go_json`'s test counts the lookups).
#[test]
fn values_above_the_bound_are_refused_before_parsing() {
    let head = r#"{"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:01"}"#;
    let mut v = head.to_string();
    let mut i = 0;
    while v.len() < MAX_VALUE_BYTES - 40 {
        v.push_str(&format!(r#","x{i}":{i}"#));
        i += 1;
    }
    v.push_str(r#","publicip":"192.0.2.9"}"#);
    assert!(v.len() <= MAX_VALUE_BYTES && i > 5_000, "{} {i}", v.len());
    let l = LeaseValue::parse(v.as_bytes());
    assert!(
        matches!(&l, Ok(LeaseValue::Vxlan(a)) if a.public_ip == Ipv4Addr::new(192, 0, 2, 9)),
        "{l:?}"
    );
    // Trailing blanks are valid JSON: only the size refuses these.
    let pad = |s: &str| format!("{s}{}", " ".repeat(MAX_VALUE_BYTES + 1 - s.len()));
    let over = pad(&v);
    assert_eq!(
        LeaseValue::parse(over.as_bytes()),
        Err(LeaseError::TooLarge(MAX_VALUE_BYTES + 1))
    );
    let config = pad(r#"{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan"}}"#);
    assert_eq!(
        cfg(&config),
        Err(ConfigError::TooLarge(MAX_VALUE_BYTES + 1))
    );
    assert!(cfg(config.trim_end()).is_ok());
}

#[test]
fn config_errors_are_specific() {
    assert_eq!(
        cfg(r#"{"Network":"10.1.0.0/16","Backend":{"Type":"udp"}}"#),
        Err(ConfigError::UnsupportedBackend("udp".into()))
    );
    assert_eq!(
        cfg(r#"{"Network":"10.1.0.0/16"}"#),
        Err(ConfigError::MissingBackendType)
    );
    assert_eq!(
        cfg(r#"{"Backend":{"Type":"vxlan"}}"#),
        Err(ConfigError::MissingNetwork)
    );
    let bad = [
        r#"{"Network":"10.1.0.0/16","SubnetLen":31,"Backend":{"Type":"vxlan"}}"#,
        r#"{"Network":"10.1.0.0/16","SubnetLen":17,"Backend":{"Type":"vxlan"}}"#,
        r#"{"Network":"10.1.0.0/29","Backend":{"Type":"vxlan"}}"#,
        r#"{"Network":"10.1.0.0/16","SubnetMin":"10.2.0.0","Backend":{"Type":"vxlan"}}"#,
        r#"{"Network":"10.1.0.0/16","SubnetMax":"10.1.0.7","Backend":{"Type":"vxlan"}}"#,
        r#"{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan","VNI":16777216}}"#,
        r#"{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan","Port":"8472"}}"#,
        r#"{"Network":"10.1.0.0/16","EnableIPv4":false,"Backend":{"Type":"vxlan"}}"#,
        "[1]",
        "{",
    ];
    for b in bad {
        let e = cfg(b).unwrap_err();
        assert!(!e.to_string().is_empty(), "{b}");
    }
    // A Backend.MTU whose tunnel MTU (MTU - 50) is below IPv4's 68; 118
    // and 0 (the underlay's) are taken.
    let mtu = |m: u32| {
        cfg(&format!(
            r#"{{"Network":"10.1.0.0/16","Backend":{{"Type":"vxlan","MTU":{m}}}}}"#
        ))
    };
    let e = mtu(100).unwrap_err().to_string();
    assert!(e.contains("Backend.MTU: \"100\" is not valid: the tunnel MTU would be 50, below IPv4's minimum of 68: give at least 118"), "{e}");
    assert!(mtu(1).is_err() && mtu(117).is_err());
    // Every error of a Backend field names it as Backend.<field>.
    for (backend, key) in [
        (r#""MTU":-1"#, "Backend.MTU"),
        (r#""MTU":"1400""#, "Backend.MTU"),
        (r#""VNI":16777216"#, "Backend.VNI"),
        (r#""Port":"8472""#, "Backend.Port"),
        (r#""DirectRouting":1"#, "Backend.DirectRouting"),
    ] {
        let e = cfg(&format!(
            r#"{{"Network":"10.1.0.0/16","Backend":{{"Type":"vxlan",{backend}}}}}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(&format!("network config key {key}:")),
            "{backend}: {e}"
        );
    }
    assert_eq!(mtu(118).unwrap().backend.mtu, Some(118));
    assert_eq!(mtu(0).unwrap().backend.mtu, None);
}

#[test]
fn type_and_network_are_read_as_flanneld_reads_them() {
    // flanneld lower-cases Backend.Type and masks Network's host bits.
    let c = cfg(r#"{"Network":"10.1.0.5/16","Backend":{"Type":"VXLAN","GBP":true}}"#).unwrap();
    assert_eq!(c.network, Subnet::parse_cidr("10.1.0.0/16").unwrap());
    assert_eq!(c.subnet_min, Ipv4Addr::new(10, 1, 1, 0));
    assert!(c.backend.gbp);
    assert_eq!(
        cfg(r#"{"Network":"10.1.0.0/16","Backend":{"Type":"VXLAN-GPE"}}"#),
        Err(ConfigError::UnsupportedBackend("VXLAN-GPE".into()))
    );
    for bad in ["10.1.0.5/33", "10.1.0.256/16", "10.1.0.0"] {
        let json = format!(r#"{{"Network":"{bad}","Backend":{{"Type":"vxlan"}}}}"#);
        assert!(
            matches!(cfg(&json), Err(ConfigError::Invalid { key: "Network", .. })),
            "{bad}"
        );
    }
    assert_eq!(
        cfg(r#"{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan","GBP":1}}"#),
        Err(ConfigError::Type {
            key: "Backend.GBP",
            expected: "true or false"
        })
    );
}

#[test]
fn ipv6_keys_are_reported() {
    let c = cfg(r#"{"Network":"10.1.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"vxlan"}}"#)
        .unwrap();
    assert_eq!(
        c.ipv6_keys_ignored,
        vec!["EnableIPv6".to_string(), "IPv6Network".to_string()]
    );
}

#[test]
fn lease_value_round_trip_exact_bytes() {
    let text = r#"{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}"#;
    let LeaseValue::Vxlan(a) = LeaseValue::parse(text.as_bytes()).unwrap() else {
        panic!("not vxlan")
    };
    assert_eq!(a.public_ip, Ipv4Addr::new(192, 168, 64, 3));
    assert_eq!(a.vtep_mac, [0xc6, 0xd2, 0x32, 0x6f, 0x8f, 0x44]);
    assert_eq!(a.vni, Some(1));
    assert_eq!(a.encode(), text);
}

/// What Go's net.ParseMAC takes for a 6-byte address, and nothing else.
#[test]
fn macs_parse_as_go_parses_them() {
    let m = Some([0x02, 0, 0, 0, 0, 0x0a]);
    for ok in ["02:00:00:00:00:0a", "02-00-00-00-00-0A", "0200.0000.000a"] {
        assert_eq!(parse_mac(ok), m, "{ok}");
    }
    for bad in [
        "+2:00:00:00:00:0a",
        "02:00:00:00:00:+a",
        "2:00:00:00:00:0a",
        "02:00:00:00:00",
        "02:00:00:00:00:0a:0b",
        "02:00-00:00:00:0a",
        "0200.0000.000a.0000",
        "0200.0000",
        "+200.0000.000a",
        "02é0.0000.000a",
        "",
    ] {
        assert_eq!(parse_mac(bad), None, "{bad}");
    }
}

#[test]
fn lease_value_variants() {
    let p = |s: &str| LeaseValue::parse(s.as_bytes());
    let LeaseValue::Vxlan(a) =
        p(r#"{"publicip":"10.0.0.1","backendtype":"vxlan","backenddata":{"vtepmac":"02-00-00-00-00-0A"}}"#).unwrap()
    else {
        panic!("not vxlan")
    };
    assert_eq!((a.vni, a.vtep_mac[5]), (None, 10));
    assert!(matches!(
        p(r#"{"PublicIP":"10.0.0.1","BackendType":"host-gw"}"#),
        Ok(LeaseValue::OtherBackend { .. })
    ));
    let bad = [
        r#"{"BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:01"}}"#,
        r#"{"PublicIP":"10.0.0.300","BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:01"}}"#,
        r#"{"PublicIP":"10.0.0.1","BackendData":{"VtepMAC":"02:00:00:00:00:01"}}"#,
        r#"{"PublicIP":"10.0.0.1","BackendType":"vxlan"}"#,
        r#"{"PublicIP":"10.0.0.1","BackendType":"vxlan","BackendData":{}}"#,
        r#"{"PublicIP":"10.0.0.1","BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:01"}}"#,
        r#"{"PublicIP":"10.0.0.1","BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:01","VNI":-1}}"#,
        r#"{"PublicIP":"10.0.0.1","PublicIPv6":"x","BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:01"}}"#,
        r#"{"PublicIP":1,"BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:01"}}"#,
        "not json",
        "[]",
    ];
    for b in bad {
        assert!(p(b).is_err(), "{b}");
    }
}

/// PublicIP and PublicIPv6 are read as Go's net.ParseIP reads them:
/// either family, an IPv4-mapped PublicIP as its IPv4 address, an IPv4
/// PublicIPv6 in its mapped form; an IPv6 PublicIP is no lease.
#[test]
fn public_addresses_take_either_family_as_go_parse_ip() {
    let p = |ip: &str, ip6: &str| {
        LeaseValue::parse(format!(r#"{{"PublicIP":"{ip}","PublicIPv6":"{ip6}","BackendType":"vxlan","BackendData":{{"VtepMAC":"02:00:00:00:00:01"}}}}"#).as_bytes())
    };
    let Ok(LeaseValue::Vxlan(a)) = p("::ffff:192.0.2.1", "192.0.2.7") else {
        panic!("refused")
    };
    assert_eq!(a.public_ip, Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(
        a.public_ipv6,
        Some(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped())
    );
    assert!(p("fc00::1", "fc00::2").is_err());
}
