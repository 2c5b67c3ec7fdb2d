//! Our own lease against a real etcd: acquisition, races, renewal,
//! take-back after restart, reservations, and config handling.
mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::etcd::*;
use etcd_client::PutOptions;
use vxgate::control::{Control, ControlError, EtcdOptions, LeaseValue, Subnet};

const LIMIT: Duration = Duration::from_secs(30);
const MAC: [u8; 6] = [0x0e, 0xaa, 0, 0, 0, 1];

fn sn(s: &str) -> Subnet {
    s.parse().unwrap()
}

async fn with_config(etcd: &Etcd, config: &str) -> etcd_client::Client {
    let mut tc = client(&etcd.endpoint()).await;
    tc.put(format!("{PREFIX}/config"), config, None)
        .await
        .unwrap();
    tc
}

/// The VtepMAC of the test gateway at `ip`: one per PublicIP, as the
/// default derived from the underlay IP (another PublicIP's lease with
/// ours refuses the acquisition); `MAC` for 192.0.2.1.
fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    [0x0e, 0xaa, 0, 0, 0, ip.octets()[3]]
}

async fn acquire(
    opts: EtcdOptions,
    ip: Ipv4Addr,
    requested: Option<Subnet>,
) -> Result<vxgate::control::OwnLease, ControlError> {
    let mut c = Control::connect(opts).await?;
    c.acquire_own_lease(ip, mac_of(ip), requested).await
}

/// (value, etcd lease id) of a key, None if absent.
async fn key_state(tc: &mut etcd_client::Client, key: &str) -> Option<(Vec<u8>, i64)> {
    let r = tc.get(key, None).await.unwrap();
    r.kvs().first().map(|kv| (kv.value().to_vec(), kv.lease()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_started_together_get_different_subnets() {
    let etcd = Etcd::start();
    // /28 split in /30s: SubnetMin .4 .. SubnetMax .12 = three subnets, so
    // concurrent random picks collide often and must retry.
    let mut tc = with_config(
        &etcd,
        r#"{"Network":"10.9.0.0/28","Backend":{"Type":"vxlan"}}"#,
    )
    .await;
    let ep = etcd.endpoint();
    let ips = [1u8, 2, 3].map(|i| Ipv4Addr::new(192, 0, 2, i));
    let (a, b, c) = tokio::join!(
        acquire(options(&ep), ips[0], None),
        acquire(options(&ep), ips[1], None),
        acquire(options(&ep), ips[2], None)
    );
    let got: BTreeSet<Subnet> = [a.unwrap().subnet, b.unwrap().subnet, c.unwrap().subnet].into();
    assert_eq!(
        got,
        [sn("10.9.0.4/30"), sn("10.9.0.8/30"), sn("10.9.0.12/30")].into()
    );
    for s in &got {
        let (v, lease) = key_state(&mut tc, &lease_key(&s.key_string()))
            .await
            .unwrap();
        assert_ne!(lease, 0);
        let LeaseValue::Vxlan(a) = LeaseValue::parse(&v).unwrap() else {
            panic!("not vxlan")
        };
        assert!(ips.contains(&a.public_ip));
    }
    let e = acquire(options(&ep), Ipv4Addr::new(192, 0, 2, 4), None)
        .await
        .unwrap_err();
    assert!(matches!(e, ControlError::NoFreeSubnet { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requested_subnet_checks() {
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    tc.put(
        lease_key("10.244.5.0-24"),
        lease_value(Ipv4Addr::new(192, 0, 2, 9), 9),
        None,
    )
    .await
    .unwrap();
    let me = Ipv4Addr::new(192, 0, 2, 1);
    let e = acquire(options(&etcd.endpoint()), me, Some(sn("10.244.5.0/24")))
        .await
        .unwrap_err();
    let msg = e.to_string();
    eprintln!("held: {msg}");
    assert!(
        matches!(e, ControlError::SubnetTaken { .. }) && msg.contains("192.0.2.9"),
        "{msg}"
    );
    for bad in ["10.245.5.0/24", "10.244.5.0/25", "10.244.0.0/23"] {
        let e = acquire(options(&etcd.endpoint()), me, Some(sn(bad)))
            .await
            .unwrap_err();
        eprintln!("{bad}: {e}");
        assert!(matches!(e, ControlError::BadSubnet { .. }), "{e}");
    }
    let own = acquire(options(&etcd.endpoint()), me, Some(sn("10.244.6.0/24")))
        .await
        .unwrap();
    assert_eq!(own.subnet, sn("10.244.6.0/24"));
    let (v, _) = key_state(&mut tc, &lease_key("10.244.6.0-24"))
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(v).unwrap(),
        r#"{"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0e:aa:00:00:00:01"}}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_lease_renewed_with_short_ttl_never_disappears() {
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    let mut opts = options(&etcd.endpoint());
    // Renewed at half the TTL: 6 s of slack for a renewal to land, on a
    // machine whose two CPUs other tests' workers may be busy-polling.
    opts.lease_ttl_s = 12;
    let mut c = Control::connect(opts).await.unwrap();
    let own = c
        .acquire_own_lease(Ipv4Addr::new(192, 0, 2, 1), MAC, None)
        .await
        .unwrap();
    let status = c.status();
    let sink = MemSink::default();
    let run = spawn_run(c, sink.clone());
    // Three etcd leases (two renewals) seen, the key present at every look
    // in between; the deadline only bounds a renewal that never comes.
    let mut ids = BTreeSet::new();
    let t = Instant::now();
    while ids.len() < 3 {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "lease renewed only {} times",
            ids.len().saturating_sub(1)
        );
        let (_, id) = key_state(&mut tc, &own.key)
            .await
            .expect("own key vanished during renewal");
        ids.insert(id);
        let left = status.own_lease_expiry_seconds().unwrap();
        assert!(left > 0.0, "own lease expiry in the past: {left}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("FIGURE ttl 12 s: 2 renewals after {:?}", t.elapsed());
    assert_eq!(*sink.own.lock().unwrap(), Some(own.subnet));
    assert!(sink.snapshot().contains_key(&own.subnet));
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_same_public_ip_takes_old_lease_back() {
    let logs = capture_logs();
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    let me = Ipv4Addr::new(192, 0, 2, 1);
    tc.put(
        lease_key("10.244.3.0-24"),
        lease_value(Ipv4Addr::new(192, 0, 2, 3), 3),
        None,
    )
    .await
    .unwrap();
    let first = acquire(options(&etcd.endpoint()), me, None).await.unwrap();
    let mut c = Control::connect(options(&etcd.endpoint())).await.unwrap();
    let second = c
        .acquire_own_lease(me, [0x0e, 0xbb, 0, 0, 0, 2], None)
        .await
        .unwrap();
    assert_eq!(second.subnet, first.subnet);
    assert_ne!(second.etcd_lease_id, first.etcd_lease_id);
    let (v, id) = key_state(&mut tc, &first.key).await.unwrap();
    assert_eq!(id, second.etcd_lease_id);
    let LeaseValue::Vxlan(a) = LeaseValue::parse(&v).unwrap() else {
        panic!("not vxlan")
    };
    assert_eq!(a.vtep_mac, [0x0e, 0xbb, 0, 0, 0, 2]);
    // The log tells a restart's take-back from a first start.
    assert_eq!(said(&logs, "own lease acquired (created)"), 1);
    assert_eq!(said(&logs, "own lease acquired (taken back)"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservation_is_used_and_stays_a_reservation() {
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    let me = Ipv4Addr::new(192, 0, 2, 1);
    let key = lease_key("10.244.77.0-24");
    tc.put(key.clone(), lease_value(me, 0x77), None)
        .await
        .unwrap();
    let mut opts = options(&etcd.endpoint());
    opts.lease_ttl_s = 2;
    let mut c = Control::connect(opts).await.unwrap();
    let own = c.acquire_own_lease(me, MAC, None).await.unwrap();
    assert_eq!(own.subnet, sn("10.244.77.0/24"));
    assert!(own.is_reservation());
    let status = c.status();
    assert_eq!(status.own_lease_expiry_seconds(), Some(f64::INFINITY));
    let sink = MemSink::default();
    let run = spawn_run(c, sink.clone());
    wait_for("own reservation in sink", LIMIT, || {
        sink.snapshot().contains_key(&own.subnet)
    })
    .await;
    // Several short-TTL periods: a reservation is never put under a lease.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (v, lease) = key_state(&mut tc, &key).await.unwrap();
    assert_eq!(lease, 0, "reservation got an etcd lease");
    let LeaseValue::Vxlan(a) = LeaseValue::parse(&v).unwrap() else {
        panic!("not vxlan")
    };
    assert_eq!(
        a.vtep_mac, MAC,
        "our attributes are written into the reservation"
    );
    run.stop().await;
}

/// Our reservation written by hand with our attributes in other JSON
/// (no PublicIPv6, no VNI, upper-case MAC, another key order) is used as
/// it is: not rewritten at start, nor when it is put again while we run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_of_ours_in_other_json_is_used_as_it_is() {
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    let me = Ipv4Addr::new(192, 0, 2, 1);
    let key = lease_key("10.244.78.0-24");
    let by_hand = r#"{"BackendType":"vxlan","BackendData":{"VtepMAC":"0E:AA:00:00:00:01"},"PublicIP":"192.0.2.1"}"#;
    tc.put(key.clone(), by_hand, None).await.unwrap();
    let mut c = Control::connect(options(&etcd.endpoint())).await.unwrap();
    let own = c.acquire_own_lease(me, MAC, None).await.unwrap();
    assert!(own.is_reservation() && own.key == key);
    let run = spawn_run(c, MemSink::default());
    for round in ["at start", "put again while running"] {
        if round != "at start" {
            tc.put(key.clone(), by_hand, None).await.unwrap();
        }
        // Nothing to wait for but time: a rewrite would come within it.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (v, lease) = key_state(&mut tc, &key).await.expect("our key");
        assert_eq!((v.as_slice(), lease), (by_hand.as_bytes(), 0), "{round}");
    }
    run.stop().await;
}

/// Our key made a reservation by hand with other attributes than ours
/// (here another VtepMAC, which peers would send to and we would drop as
/// `wrong_inner_dst_mac`): rewritten with ours, still without a lease, as
/// at start-up; first from a leased key, then from the reservation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_of_ours_with_other_attributes_is_rewritten_while_running() {
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    let me = Ipv4Addr::new(192, 0, 2, 1);
    let (_status, run, own) = running_gateway(&etcd).await;
    for other_mac in [0x55, 0x66] {
        tc.put(own.key.clone(), lease_value(me, other_mac), None)
            .await
            .unwrap();
        let t = Instant::now();
        loop {
            let (v, lease) = key_state(&mut tc, &own.key).await.expect("our key");
            assert_eq!(lease, 0, "the reservation got an etcd lease");
            let Ok(LeaseValue::Vxlan(a)) = LeaseValue::parse(&v) else {
                panic!("{}", String::from_utf8_lossy(&v))
            };
            if a.vtep_mac == MAC {
                assert_eq!(a.public_ip, me);
                break;
            }
            assert!(
                t.elapsed() < LIMIT,
                "the reservation kept VtepMAC ..:{other_mac:02x}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_lease_deleted_while_running_is_recreated() {
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    let mut c = Control::connect(options(&etcd.endpoint())).await.unwrap();
    let own = c
        .acquire_own_lease(Ipv4Addr::new(192, 0, 2, 1), MAC, None)
        .await
        .unwrap();
    let run = spawn_run(c, MemSink::default());
    tc.delete(own.key.clone(), None).await.unwrap();
    let mut back = None;
    let t = Instant::now();
    while back.is_none() {
        assert!(t.elapsed() < LIMIT, "own lease not re-created");
        tokio::time::sleep(Duration::from_millis(50)).await;
        back = key_state(&mut tc, &own.key).await;
    }
    let (v, lease) = back.unwrap();
    assert_ne!(lease, 0);
    assert!(
        matches!(LeaseValue::parse(&v), Ok(LeaseValue::Vxlan(a)) if a.public_ip == Ipv4Addr::new(192, 0, 2, 1))
    );
    eprintln!("own lease re-created {:?} after deletion", t.elapsed());
    run.stop().await;
}

/// How many lines of `logs` contain `what`.
fn said(logs: &vxgate::ops::logging::Buf, what: &str) -> usize {
    logs.text().lines().filter(|l| l.contains(what)).count()
}

/// Waits until our key is in etcd again, under an etcd lease other than
/// `old`; returns its value.
async fn back_under_a_new_lease(tc: &mut etcd_client::Client, key: &str, old: i64) -> Vec<u8> {
    let t = Instant::now();
    loop {
        assert!(t.elapsed() < LIMIT, "own key not back under a new lease");
        if let Some((v, lease)) = key_state(tc, key).await {
            if lease != 0 && lease != old {
                return v;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// etcd's delete event does not say why our key went; the renewer, which
/// re-creates it, asks etcd about the etcd lease the key was under and
/// says what happened: a key deleted while its lease lived, or a key gone
/// with its lease (which ran out, or was revoked), never a deletion it
/// cannot know of.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn why_our_key_vanished_is_logged_as_etcd_tells_it() {
    let logs = capture_logs();
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    let (_status, run, own) = running_gateway(&etcd).await;
    // Our etcd lease gone (revoked here; an expiry is the same to etcd):
    // the key goes with it.
    tc.lease_revoke(own.etcd_lease_id).await.unwrap();
    back_under_a_new_lease(&mut tc, &own.key, own.etcd_lease_id).await;
    wait_for("the re-creation logged", LIMIT, || {
        said(&logs, "OWN LEASE EXPIRED") == 1
    })
    .await;
    assert_eq!(said(&logs, "OWN LEASE WAS DELETED"), 0, "{}", logs.text());
    // The key deleted while its etcd lease lives: a deletion.
    let lease = key_state(&mut tc, &own.key).await.unwrap().1;
    tc.delete(own.key.clone(), None).await.unwrap();
    back_under_a_new_lease(&mut tc, &own.key, lease).await;
    wait_for("the re-creation logged", LIMIT, || {
        said(&logs, "OWN LEASE WAS DELETED") == 1
    })
    .await;
    assert_eq!(said(&logs, "OWN LEASE EXPIRED"), 1, "{}", logs.text());
    run.stop().await;
}

/// Another node's value on our key, under its own etcd lease, until that
/// lease runs out (revoked here; an expiry is the same to etcd): our key
/// is taken back, and the log says our subnet is free again, naming the
/// holder; not that our lease (still alive, keyless) was deleted, nor
/// that it expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_subnet_free_again_after_another_nodes_lease_ran_out_is_said_so() {
    let logs = capture_logs();
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    let (status, run, own) = running_gateway(&etcd).await;
    let other = tc.lease_grant(3600, None).await.unwrap().id();
    let value = lease_value(Ipv4Addr::new(192, 0, 2, 9), 9);
    let under = PutOptions::new().with_lease(other);
    tc.put(own.key.clone(), value, Some(under)).await.unwrap();
    // The renewer has found the key taken.
    wait_for("a renewal refused by the other node's key", LIMIT, || {
        status.renew_failures_total() >= 1
    })
    .await;
    assert_eq!(said(&logs, "OUR SUBNET WAS TAKEN"), 1, "{}", logs.text());
    tc.lease_revoke(other).await.unwrap();
    back_under_a_new_lease(&mut tc, &own.key, own.etcd_lease_id).await;
    // The watch, as the key goes, and the renewer, as it takes it back.
    wait_for("the taking back logged", LIMIT, || {
        said(&logs, "our subnet is free again") == 2
    })
    .await;
    let text = logs.text();
    for line in text
        .lines()
        .filter(|l| l.contains("our subnet is free again"))
    {
        assert!(
            line.contains("WARN") && line.contains("192.0.2.9"),
            "{line}"
        );
    }
    for wrong in [
        "OWN LEASE WAS DELETED",
        "OWN LEASE EXPIRED",
        "OWN LEASE VANISHED",
    ] {
        assert_eq!(said(&logs, wrong), 0, "{text}");
    }
    run.stop().await;
}

/// etcd wiped under a running gateway (restarted on an empty data dir):
/// as flanneld never writes a lease before `<prefix>/config` exists, our
/// gone key is not re-created while etcd holds no config, nor while it
/// holds one that does not accept our subnet; each said once at error
/// level however often it is retried, no lease of ours reported (the
/// expiry gauge 0: /readyz not ready). Once a config that holds our
/// subnet is put, the renewer, woken by its put, re-creates the key,
/// saying that it went with etcd's data. Every retry here comes from a
/// wake-up (the retry backoff is at least 60 s): the re-list after an
/// etcd restart, and each put of the config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_etcd_is_wiped_our_key_comes_back_only_under_a_config_that_holds_it() {
    let logs = capture_logs();
    let mut etcd = Etcd::start();
    drop(with_config(&etcd, CONFIG).await);
    let mut opts = options(&etcd.endpoint());
    opts.renew_retry = (Duration::from_secs(120), Duration::from_secs(300));
    let (status, run, own) = running_gateway_with(opts).await;
    wait_for("our key watched", LIMIT, || status.leases() == 1).await;
    let no_config = "etcd holds no network config at /coreos.com/network/config (was etcd wiped or restored?): our lease is not re-created until it is back";
    let outside = format!("our subnet {} lies outside the network config now in etcd (Network 10.50.0.0/16, SubnetLen 24): not re-created; restart vxgate to take a subnet of the new network", own.subnet);
    etcd.wipe();
    wait_for("the missing config said", LIMIT, || {
        said(&logs, no_config) == 1
    })
    .await;
    let mut tc = client(&etcd.endpoint()).await;
    let nothing_written = |tc: &mut etcd_client::Client| {
        let (mut tc, key) = (tc.clone(), own.key.clone());
        assert_eq!(status.own_lease_expiry_seconds(), None, "a lease reported");
        async move { assert_eq!(key_state(&mut tc, &key).await, None, "our key written") }
    };
    nothing_written(&mut tc).await;
    assert_eq!(status.data_replacements_total(), 1);
    assert_eq!(
        said(&logs, "etcd's data was replaced"),
        1,
        "{}",
        logs.text()
    );
    // Our own lease, the only one, gone with the data; the revision back
    // tells it (the cluster ID is that of the same member configuration).
    let text = logs.text();
    let warned = text
        .lines()
        .find(|l| l.contains("etcd's data was replaced"));
    let warned = warned.unwrap_or_default();
    for needle in ["WARN", "cluster ID unchanged", "removed 1, added 0"] {
        assert!(warned.contains(needle), "lacks {needle:?}: {warned}");
    }
    // Retried (etcd restarted, still without a config): not said again.
    let failures = status.renew_failures_total();
    etcd.restart();
    wait_for("a retry after the re-list", LIMIT, || {
        status.renew_failures_total() > failures
    })
    .await;
    assert_eq!(said(&logs, no_config), 1, "{}", logs.text());
    nothing_written(&mut tc).await;
    let mut tc = client(&etcd.endpoint()).await;
    // Another network: our subnet is not in it.
    let other_net = r#"{"Network":"10.50.0.0/16","Backend":{"Type":"vxlan","VNI":7}}"#;
    tc.put(format!("{PREFIX}/config"), other_net, None)
        .await
        .unwrap();
    wait_for("the config that does not fit said", LIMIT, || {
        said(&logs, &outside) == 1
    })
    .await;
    nothing_written(&mut tc).await;
    // The same config put again, spelt otherwise: a retry, not said again.
    let failures = status.renew_failures_total();
    let respelt = r#"{"network": "10.50.0.0/16", "backend": {"type": "vxlan", "vni": 7}}"#;
    tc.put(format!("{PREFIX}/config"), respelt, None)
        .await
        .unwrap();
    wait_for("a retry after the config put", LIMIT, || {
        status.renew_failures_total() > failures
    })
    .await;
    assert_eq!(said(&logs, &outside), 1, "{}", logs.text());
    assert_eq!(said(&logs, no_config), 1, "{}", logs.text());
    nothing_written(&mut tc).await;
    for line in logs.text().lines().filter(|l| l.contains("not re-created")) {
        assert!(line.contains("ERROR"), "{line}");
    }
    // A config that holds our subnet: re-created at its put (well within
    // the 60 s the backoff would wait).
    tc.put(format!("{PREFIX}/config"), CONFIG, None)
        .await
        .unwrap();
    let v = back_under_a_new_lease(&mut tc, &own.key, own.etcd_lease_id).await;
    assert!(
        matches!(LeaseValue::parse(&v), Ok(LeaseValue::Vxlan(a)) if a.public_ip == Ipv4Addr::new(192, 0, 2, 1))
    );
    wait_for("our lease reported again", LIMIT, || {
        status.own_lease_expiry_seconds().is_some_and(|s| s > 0.0)
    })
    .await;
    wait_for("the re-creation logged", LIMIT, || {
        said(&logs, "OWN LEASE LOST WITH ETCD'S DATA") == 1
    })
    .await;
    for wrong in [
        "OWN LEASE WAS DELETED",
        "OWN LEASE EXPIRED",
        "OWN LEASE VANISHED",
    ] {
        assert_eq!(said(&logs, wrong), 0, "{}", logs.text());
    }
    run.stop().await;
}

/// A renewal that failed while etcd was away is retried as soon as the
/// watch has listed again (etcd is back), not when its backoff runs out:
/// here the renewal backoff is at least 60 s, and the renewal must come
/// within 30 s of etcd's return. Until it does, our lease's expiry has
/// passed (the gauge <= 0: /readyz says "no own subnet lease held");
/// after it, we are ready again and the key is under a new etcd lease.
/// And it comes before the old etcd lease, which etcd gave a new TTL
/// (6 s) as it restarted, runs out: peers never see our key deleted and
/// put again (without the wake-up, the key expired and was re-created).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_renewal_is_retried_as_soon_as_etcd_is_back() {
    let mut etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    let mut opts = options(&etcd.endpoint());
    // Renewed at half the TTL, 3 s after the grant.
    opts.lease_ttl_s = 6;
    // After a failure, the next try in 60..120 s (jittered), 300 s at most:
    // only the wake-up can renew within the deadline below.
    opts.renew_retry = (Duration::from_secs(120), Duration::from_secs(300));
    let (status, run, own) = running_gateway_with(opts).await;
    let before = tc.get(own.key.clone(), None).await.unwrap();
    let before = before.header().unwrap().revision();
    etcd.kill();
    wait_for("a failed renewal", LIMIT, || {
        status.renew_failures_total() >= 1
    })
    .await;
    wait_for("our lease's expiry passed: not ready", LIMIT, || {
        status.own_lease_expiry_seconds().is_none_or(|s| s <= 0.0)
    })
    .await;
    // On the same data dir: etcd gives its leases a new TTL as it starts,
    // so our key is still there, under the etcd lease we could not renew.
    etcd.restart();
    let took = wait_for(
        "renewed (ready again) soon after etcd's return",
        Duration::from_secs(30),
        || status.own_lease_expiry_seconds().is_some_and(|s| s > 0.0),
    )
    .await;
    eprintln!("renewed {took:?} after etcd was back");
    let mut tc = client(&etcd.endpoint()).await;
    let v = back_under_a_new_lease(&mut tc, &own.key, own.etcd_lease_id).await;
    assert!(
        matches!(LeaseValue::parse(&v), Ok(LeaseValue::Vxlan(a)) if a.public_ip == Ipv4Addr::new(192, 0, 2, 1))
    );
    // Every change of our key since before the outage, up to the renewal.
    let from = etcd_client::WatchOptions::new().with_start_revision(before + 1);
    let (_w, mut events) = tc.watch(own.key.clone(), Some(from)).await.unwrap();
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|(t, l)| *t == etcd_client::EventType::Put && *l != own.etcd_lease_id)
    {
        let r = tokio::time::timeout(LIMIT, events.message())
            .await
            .expect("our key's history")
            .unwrap()
            .unwrap();
        seen.extend(
            r.events()
                .iter()
                .map(|e| (e.event_type(), e.kv().map_or(0, |kv| kv.lease()))),
        );
    }
    assert!(
        seen.iter().all(|(t, _)| *t == etcd_client::EventType::Put),
        "our key went before it was renewed: {seen:?}"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_config_is_waited_for() {
    let etcd = Etcd::start();
    let mut c = Control::connect(options(&etcd.endpoint())).await.unwrap();
    let task = tokio::spawn(async move { c.network_config().await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !task.is_finished(),
        "network_config returned without a config"
    );
    let mut tc = client(&etcd.endpoint()).await;
    tc.put(format!("{PREFIX}/config"), CONFIG, None)
        .await
        .unwrap();
    let cfg = tokio::time::timeout(LIMIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(cfg.network, sn("10.244.0.0/16"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_backend_refused_with_clear_error() {
    let etcd = Etcd::start();
    with_config(
        &etcd,
        r#"{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}"#,
    )
    .await;
    let mut c = Control::connect(options(&etcd.endpoint())).await.unwrap();
    let e = c.network_config().await.unwrap_err();
    let msg = e.to_string();
    eprintln!("{msg}");
    assert!(matches!(e, ControlError::Config { .. }));
    assert!(
        msg.contains("\"udp\"")
            && msg.contains("vxlan")
            && msg.contains("/coreos.com/network/config"),
        "{msg}"
    );
}

/// A key of another length than SubnetLen (never flanneld's: hand-made,
/// or from before a SubnetLen change) held by another node:
/// - covering a subnet we hold: a restart with `--subnet` takes ours
///   back, as one without does (peers route by the longest prefix, ours);
///   a subnet we do not hold under it is still refused (flanneld's overlap
///   rule);
/// - covering the whole range: "no free subnet" names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_of_another_length_are_named_and_do_not_block_our_own_subnet() {
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    let me = Ipv4Addr::new(192, 0, 2, 1);
    let ours = sn("10.244.16.0/24");
    acquire(options(&etcd.endpoint()), me, Some(ours))
        .await
        .unwrap();
    let wide = lease_key("10.244.0.0-16");
    // Another node's key covering ours, then its second key of ours
    // (dual-stack): neither keeps us from our own key at a restart.
    for (key, other) in [
        (wide.clone(), 34),
        (lease_key("10.244.16.0-24&fc00::-64"), 35),
    ] {
        let value = lease_value(Ipv4Addr::new(192, 0, 2, other), other);
        tc.put(key, value, None).await.unwrap();
        let back = acquire(options(&etcd.endpoint()), me, Some(ours))
            .await
            .unwrap();
        assert_eq!(back.subnet, ours);
    }
    let e = acquire(options(&etcd.endpoint()), me, Some(sn("10.244.17.0/24")))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ControlError::SubnetTaken { key, .. } if *key == wide),
        "{e}"
    );
    // A new node: every /24 of the /16 Network lies under the /16 key.
    let e = acquire(options(&etcd.endpoint()), Ipv4Addr::new(192, 0, 2, 2), None)
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ControlError::NoFreeSubnet { .. }), "{msg}");
    assert!(
        msg.contains(&format!("{wide} (PublicIP 192.0.2.34)")),
        "names the key that blocks: {msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subnet_held_under_ttl_is_free_after_expiry() {
    // A lease held by another node under an etcd lease blocks that subnet
    // until it expires; then it is free again.
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, r#"{"Network":"10.9.0.0/28","SubnetMin":"10.9.0.4","SubnetMax":"10.9.0.4","Backend":{"Type":"vxlan"}}"#).await;
    let id = tc.lease_grant(3, None).await.unwrap().id();
    tc.put(
        lease_key("10.9.0.4-30"),
        lease_value(Ipv4Addr::new(192, 0, 2, 9), 9),
        Some(PutOptions::new().with_lease(id)),
    )
    .await
    .unwrap();
    let e = acquire(options(&etcd.endpoint()), Ipv4Addr::new(192, 0, 2, 1), None)
        .await
        .unwrap_err();
    assert!(matches!(e, ControlError::NoFreeSubnet { .. }), "{e}");
    wait_for_key_gone(&mut tc, &lease_key("10.9.0.4-30")).await;
    let own = acquire(options(&etcd.endpoint()), Ipv4Addr::new(192, 0, 2, 1), None)
        .await
        .unwrap();
    assert_eq!(own.subnet, sn("10.9.0.4/30"));
}

async fn wait_for_key_gone(tc: &mut etcd_client::Client, key: &str) {
    let t = Instant::now();
    while key_state(tc, key).await.is_some() {
        assert!(t.elapsed() < LIMIT, "{key} did not expire");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (status, running, own lease) for 192.0.2.1 on `etcd`.
async fn running_gateway(
    etcd: &Etcd,
) -> (
    std::sync::Arc<vxgate::control::ControlStatus>,
    Running,
    vxgate::control::OwnLease,
) {
    running_gateway_with(options(&etcd.endpoint())).await
}

/// `running_gateway` with `opts`, watching once it returns.
async fn running_gateway_with(
    opts: EtcdOptions,
) -> (
    std::sync::Arc<vxgate::control::ControlStatus>,
    Running,
    vxgate::control::OwnLease,
) {
    let mut c = Control::connect(opts).await.unwrap();
    let own = c
        .acquire_own_lease(Ipv4Addr::new(192, 0, 2, 1), MAC, None)
        .await
        .unwrap();
    let status = c.status();
    let run = spawn_run(c, MemSink::default());
    wait_for("watching", LIMIT, || status.etcd_connected()).await;
    (status, run, own)
}

/// Another node's value under its own etcd lease, written to `key`.
async fn take(tc: &mut etcd_client::Client, key: &str) -> String {
    let other = lease_value(Ipv4Addr::new(192, 0, 2, 9), 9);
    let id = tc.lease_grant(3600, None).await.unwrap().id();
    tc.put(key, other.clone(), Some(PutOptions::new().with_lease(id)))
        .await
        .unwrap();
    other
}

/// Given back (the other node's key deleted): re-created as ours at once,
/// and its expiry reported again.
async fn given_back(
    tc: &mut etcd_client::Client,
    status: &vxgate::control::ControlStatus,
    key: &str,
) {
    tc.delete(key, None).await.unwrap();
    wait_for("our key re-created", LIMIT, || {
        status.own_lease_expiry_seconds().is_some_and(|s| s > 0.0)
    })
    .await;
    let (v, lease) = key_state(tc, key).await.expect("our key");
    assert_ne!(lease, 0);
    assert!(
        matches!(LeaseValue::parse(&v), Ok(LeaseValue::Vxlan(a)) if a.public_ip == Ipv4Addr::new(192, 0, 2, 1))
    );
}

/// `vxgate_own_lease_expiry_seconds` follows our key, not our last etcd
/// lease: once another node holds the key, our lease (still counting
/// down, keyless) says nothing about our subnet, and the gauge is 0
/// ("no lease held") until the key is ours again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_lease_expiry_is_reported_only_while_our_key_is_ours() {
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    let (status, run, own) = running_gateway(&etcd).await;
    assert!(status.own_lease_expiry_seconds().is_some_and(|s| s > 0.0));
    let other = take(&mut tc, &own.key).await;
    wait_for("no expiry while taken", LIMIT, || {
        status.own_lease_expiry_seconds().is_none()
    })
    .await;
    let (v, _) = key_state(&mut tc, &own.key).await.unwrap();
    assert_eq!(v, other.as_bytes(), "the other node's key was overwritten");
    given_back(&mut tc, &status, &own.key).await;
    run.stop().await;
}

/// Another node's value put under OUR etcd lease (a tool that reused the
/// lease id): another node's key all the same, reported as taken and left
/// alone, as one under its own lease is; our renewal (woken by the change)
/// does not overwrite it. Before, it did, while the log said "taken".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_key_taken_under_our_own_etcd_lease_is_not_overwritten() {
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    let (status, run, own) = running_gateway(&etcd).await;
    let other = lease_value(Ipv4Addr::new(192, 0, 2, 9), 9);
    let under_ours = PutOptions::new().with_lease(own.etcd_lease_id);
    tc.put(own.key.clone(), other.clone(), Some(under_ours))
        .await
        .unwrap();
    wait_for("no expiry while taken", LIMIT, || {
        status.own_lease_expiry_seconds().is_none()
    })
    .await;
    // Watched across two repair intervals: the renewer ran and left it.
    for _ in 0..20 {
        let (v, _) = key_state(&mut tc, &own.key).await.unwrap();
        assert_eq!(v, other.as_bytes(), "the other node's key was overwritten");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    given_back(&mut tc, &status, &own.key).await;
    run.stop().await;
}

/// Our key rewritten by another node while vxgate could not see etcd:
/// the re-list after etcd returns looks at our key as the watch would
/// have, so the takeover is reported and acted on at once, not at the
/// next renewal (a day later).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_key_taken_while_disconnected_is_noticed_at_the_resync() {
    let mut etcd = Etcd::start();
    drop(with_config(&etcd, CONFIG).await);
    let (status, run, own) = running_gateway(&etcd).await;
    etcd.kill();
    wait_for("disconnect noticed", LIMIT, || !status.etcd_connected()).await;
    let hidden = etcd.restart_hidden();
    let mut hc = client(&format!("http://127.0.0.1:{hidden}")).await;
    let other = take(&mut hc, &own.key).await;
    drop(hc);
    etcd.restart();
    // The resync is counted once its list is applied, just after the check
    // of our key within it: wait for both.
    wait_for("taken, noticed at the resync", LIMIT, || {
        status.own_lease_expiry_seconds().is_none() && status.resyncs_total() >= 1
    })
    .await;
    let mut tc = client(&etcd.endpoint()).await;
    let (v, _) = key_state(&mut tc, &own.key).await.unwrap();
    assert_eq!(v, other.as_bytes(), "the other node's key was overwritten");
    given_back(&mut tc, &status, &own.key).await;
    run.stop().await;
}

/// A lease is granted before the transaction that puts our key under it;
/// when etcd refuses the transaction (here: a role that may read the
/// subnets but not write them; a grant needs no key permission) the
/// lease must not stay behind, or every retry (every 2 to 30 s while
/// renewing) would leave one of the full TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_transactions_leave_no_granted_lease_behind() {
    let mut etcd = Etcd::start();
    etcd.ctl(&["put", &format!("{PREFIX}/config"), CONFIG]);
    etcd.add_gw_user(PREFIX, "read");
    etcd.enable_auth();
    let mut opts = options(&etcd.endpoint());
    opts.username = Some("gw".into());
    opts.password = Some("gwpass".into());

    // Acquiring: granted, then the create refused.
    let e = acquire(opts.clone(), Ipv4Addr::new(192, 0, 2, 1), None)
        .await
        .unwrap_err();
    eprintln!("acquire without write permission: {e}");
    assert!(e.to_string().contains("permission denied"), "{e}");
    assert_eq!(
        etcd.lease_ids(),
        BTreeSet::new(),
        "a granted lease left behind"
    );

    // Renewing: our key deleted while we may not write, so every re-creation
    // is refused, then allowed again.
    etcd.grant_gw_subnets(PREFIX, "readwrite");
    let (status, run, own) = running_gateway_with(opts).await;
    etcd.grant_gw_subnets(PREFIX, "read");
    etcd.ctl(&["del", &own.key]);
    wait_for("three refused re-creations", LIMIT, || {
        status.renew_failures_total() >= 3
    })
    .await;
    etcd.grant_gw_subnets(PREFIX, "readwrite");
    wait_for("our key re-created", LIMIT, || {
        status.own_lease_expiry_seconds().is_some_and(|s| s > 0.0)
    })
    .await;
    let mut tc = etcd_client::Client::connect(
        [etcd.endpoint()],
        Some(etcd_client::ConnectOptions::new().with_user("root", "s3cret")),
    )
    .await
    .unwrap();
    let (_, holding) = key_state(&mut tc, &own.key).await.expect("our key");
    // The first lease (keyless since the delete, left to expire as
    // flanneld leaves its old ones) and the one holding the key.
    assert_eq!(
        etcd.lease_ids(),
        BTreeSet::from([own.etcd_lease_id, holding]),
        "leases granted for refused transactions left behind"
    );
    run.stop().await;
}

/// Waits until our key no longer holds `before`, the expiry gauge
/// reporting our lease throughout; then the key must hold our attributes
/// (192.0.2.1, `MAC`) under an etcd lease.
async fn rewritten_as_ours(
    tc: &mut etcd_client::Client,
    status: &vxgate::control::ControlStatus,
    key: &str,
    before: &[u8],
) {
    let t = Instant::now();
    loop {
        let left = status.own_lease_expiry_seconds();
        assert!(
            left.is_some_and(|s| s > 0.0),
            "expiry gauge cleared: {left:?}"
        );
        let (v, lease) = key_state(tc, key).await.expect("our key");
        if v != before {
            assert_ne!(lease, 0);
            assert!(
                matches!(LeaseValue::parse(&v), Ok(LeaseValue::Vxlan(a)) if a.public_ip == Ipv4Addr::new(192, 0, 2, 1) && a.vtep_mac == MAC),
                "{}",
                String::from_utf8_lossy(&v)
            );
            return;
        }
        let was = String::from_utf8_lossy(before);
        assert!(t.elapsed() < LIMIT, "our key was not rewritten: {was}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An unreadable value on our key (garbage put by hand, a broken tool) is
/// still our subnet, damaged: vxgate stays ready (its expiry reported
/// throughout) and rewrites the key with its value, as flanneld would at
/// its next renewal. Before, it counted as taken: /readyz 503 for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_our_key_is_rewritten_and_we_stay_ready() {
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    let (status, run, own) = running_gateway(&etcd).await;
    tc.put(own.key.clone(), "{garbage", None).await.unwrap();
    rewritten_as_ours(&mut tc, &status, &own.key, b"{garbage").await;
    assert!(status.own_lease_expiry_seconds().is_some_and(|s| s > 0.0));
    run.stop().await;
}

/// Our key re-put under our own etcd lease with other attributes (another
/// VtepMAC: peers would send frames we drop as `wrong_inner_dst_mac`;
/// another backend: peers would not tunnel to us at all) is still ours:
/// rewritten with our attributes at once, not at the next renewal a day
/// later, under a lease, the expiry reported throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_key_with_other_attributes_is_rewritten_at_once() {
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    let (status, run, own) = running_gateway(&etcd).await;
    let other_mac = lease_value(Ipv4Addr::new(192, 0, 2, 1), 0x77);
    let host_gw = r#"{"PublicIP":"192.0.2.1","BackendType":"host-gw"}"#.to_string();
    for altered in [other_mac, host_gw] {
        let ignore_lease = PutOptions::new().with_ignore_lease();
        tc.put(own.key.clone(), altered.clone(), Some(ignore_lease))
            .await
            .unwrap();
        rewritten_as_ours(&mut tc, &status, &own.key, altered.as_bytes()).await;
    }
    run.stop().await;
}

/// Our subnet held as a reservation, then another node's PublicIP written
/// to the key (here as that node's reservation): not ours any more, so the
/// expiry gauge says no lease (as for a leased key taken), and the other
/// value is left alone. Before, the renewer saw "the key exists" and put
/// the gauge back to +inf (ready).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_taken_by_another_public_ip_is_not_reported_ours() {
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    let me = Ipv4Addr::new(192, 0, 2, 1);
    let key = lease_key("10.244.77.0-24");
    tc.put(key.clone(), lease_value(me, 0x77), None)
        .await
        .unwrap();
    let mut c = Control::connect(options(&etcd.endpoint())).await.unwrap();
    let own = c.acquire_own_lease(me, MAC, None).await.unwrap();
    assert!(own.is_reservation());
    let status = c.status();
    let run = spawn_run(c, MemSink::default());
    wait_for("watching", LIMIT, || status.etcd_connected()).await;
    assert_eq!(status.own_lease_expiry_seconds(), Some(f64::INFINITY));
    let other = lease_value(Ipv4Addr::new(192, 0, 2, 9), 9);
    tc.put(key.clone(), other.clone(), None).await.unwrap();
    wait_for("the renewer saw the key taken", LIMIT, || {
        status.renew_failures_total() >= 1
    })
    .await;
    assert_eq!(status.own_lease_expiry_seconds(), None);
    let (v, lease) = key_state(&mut tc, &key).await.unwrap();
    assert_eq!(
        (v, lease),
        (other.into_bytes(), 0),
        "the other value was overwritten"
    );
    run.stop().await;
}

/// As flanneld deletes a lease of its own that no longer fits the config:
/// after a restart that takes another subnet (SubnetMin moved past the old
/// one, or `--subnet` changed), the older leased key of our PublicIP is
/// deleted at once instead of staying for its TTL with the nodes routing
/// its subnet to us. A reservation of ours stays (an operator's), as do
/// other nodes' leases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_leases_of_ours_are_deleted_when_another_subnet_is_taken() {
    let etcd = Etcd::start();
    let me = Ipv4Addr::new(192, 0, 2, 40);
    let mut tc = with_config(
        &etcd,
        r#"{"Network":"10.244.0.0/16","SubnetMin":"10.244.100.0","Backend":{"Type":"vxlan"}}"#,
    )
    .await;
    let grant = tc.lease_grant(600, None).await.unwrap().id();
    let leased = || Some(PutOptions::new().with_lease(grant));
    let old = lease_key("10.244.39.0-24");
    let changed = lease_key("10.244.120.0-24");
    let reserved = lease_key("10.244.7.0-24");
    let other = lease_key("10.244.40.0-24");
    tc.put(old.as_str(), lease_value(me, 40), leased())
        .await
        .unwrap();
    tc.put(reserved.as_str(), lease_value(me, 40), None)
        .await
        .unwrap();
    tc.put(
        other.as_str(),
        lease_value(Ipv4Addr::new(192, 0, 2, 41), 41),
        leased(),
    )
    .await
    .unwrap();
    // SubnetMin past 10.244.39.0 and .7.0: neither fits; a new one is taken.
    let own = acquire(options(&etcd.endpoint()), me, None)
        .await
        .expect("acquire");
    assert!(u32::from(own.subnet.addr) >= u32::from(Ipv4Addr::new(10, 244, 100, 0)));
    assert_eq!(
        key_state(&mut tc, &old).await,
        None,
        "the old lease is gone"
    );
    assert!(
        key_state(&mut tc, &reserved).await.is_some(),
        "a reservation stays"
    );
    assert!(
        key_state(&mut tc, &other).await.is_some(),
        "another node's stays"
    );
    // --subnet moved: the lease just taken is the older one now.
    let now = acquire(options(&etcd.endpoint()), me, Some(sn("10.244.120.0/24")))
        .await
        .expect("acquire the requested subnet");
    assert_eq!(now.key, changed);
    if own.key != changed {
        assert_eq!(
            key_state(&mut tc, &own.key).await,
            None,
            "{} deleted",
            own.key
        );
    }
    assert!(key_state(&mut tc, &reserved).await.is_some());
}

/// A vxlan lease value of `public_ip` announcing `MAC`, our VtepMAC.
fn with_our_mac(public_ip: Ipv4Addr) -> String {
    format!(
        r#"{{"PublicIP":"{public_ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{{"VNI":1,"VtepMAC":"0e:aa:00:00:00:01"}}}}"#
    )
}

/// Every key under `<prefix>/subnets/` with its value and etcd lease.
async fn subnet_keys(tc: &mut etcd_client::Client) -> BTreeSet<(String, Vec<u8>, i64)> {
    let opts = etcd_client::GetOptions::new().with_prefix();
    let r = tc
        .get(format!("{PREFIX}/subnets/"), Some(opts))
        .await
        .unwrap();
    r.kvs()
        .iter()
        .map(|kv| {
            (
                kv.key_str().unwrap().to_string(),
                kv.value().to_vec(),
                kv.lease(),
            )
        })
        .collect()
}

/// Another PublicIP's lease announcing our VtepMAC (a copied `--vtep-mac`,
/// or ours from before our underlay IP changed), under an etcd lease or
/// as a reservation: acquisition, with `--subnet` (even our own key) or
/// without, claims nothing, writes nothing and leaves no granted etcd
/// lease, and says which MAC, key and PublicIP and how to fix it. Our own
/// PublicIP's lease with our MAC is no conflict: once the other lease is
/// gone, it is taken back as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_public_ips_lease_with_our_vtep_mac_is_refused_and_nothing_written() {
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    let me = Ipv4Addr::new(192, 0, 2, 1);
    let ours = lease_key("10.244.6.0-24");
    let grant = tc.lease_grant(600, None).await.unwrap().id();
    tc.put(
        ours.as_str(),
        with_our_mac(me),
        Some(PutOptions::new().with_lease(grant)),
    )
    .await
    .unwrap();
    // Another node with another MAC, and one of another backend: no
    // conflicts.
    tc.put(
        lease_key("10.244.8.0-24"),
        lease_value(Ipv4Addr::new(192, 0, 2, 8), 8),
        None,
    )
    .await
    .unwrap();
    tc.put(
        lease_key("10.244.10.0-24"),
        r#"{"PublicIP":"192.0.2.10","BackendType":"host-gw"}"#,
        None,
    )
    .await
    .unwrap();
    let conflict = lease_key("10.244.5.0-24");
    let other_grant = tc.lease_grant(600, None).await.unwrap().id();
    for under in [Some(other_grant), None] {
        let put = under.map(|id| PutOptions::new().with_lease(id));
        tc.put(
            conflict.as_str(),
            with_our_mac(Ipv4Addr::new(192, 0, 2, 9)),
            put,
        )
        .await
        .unwrap();
        let (keys, leases) = (subnet_keys(&mut tc).await, etcd.lease_ids());
        for requested in [None, Some(sn("10.244.6.0/24")), Some(sn("10.244.7.0/24"))] {
            let e = acquire(options(&etcd.endpoint()), me, requested)
                .await
                .unwrap_err();
            let msg = e.to_string();
            eprintln!("{under:?} {requested:?}: {msg}");
            assert!(
                matches!(&e, ControlError::VtepMacTaken { key, holder, .. }
                    if *key == conflict && *holder == Ipv4Addr::new(192, 0, 2, 9)),
                "{msg}"
            );
            for needle in [
                "our VtepMAC 0e:aa:00:00:00:01",
                "PublicIP 192.0.2.9",
                "--vtep-mac",
                "default derived from the underlay IP",
                &format!("etcdctl del '{conflict}'"),
            ] {
                assert!(msg.contains(needle), "lacks {needle:?}: {msg}");
            }
            assert_eq!(subnet_keys(&mut tc).await, keys, "a key was written");
            assert_eq!(etcd.lease_ids(), leases, "an etcd lease was granted");
        }
    }
    tc.delete(conflict.as_str(), None).await.unwrap();
    let own = acquire(options(&etcd.endpoint()), me, None).await.unwrap();
    assert_eq!(
        (own.key.as_str(), own.subnet),
        (ours.as_str(), sn("10.244.6.0/24"))
    );
    let (v, lease) = key_state(&mut tc, &ours).await.unwrap();
    assert_eq!(
        (v, lease),
        (with_our_mac(me).into_bytes(), own.etcd_lease_id)
    );
}

/// An older lease of ours deleted as a restart takes another subnet
/// (`--subnet` changed) is not in the list that seeds the watch: the
/// gateway's sink is never handed it (it warned "lease of another subnet
/// to our own PublicIP" about the lease just deleted), its delete event,
/// for a key the mirror does not hold, changes nothing, and the tables
/// hold the other nodes' leases only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_lease_deleted_at_start_is_not_handed_to_the_sink() {
    let logs = capture_logs();
    let etcd = Etcd::start();
    let mut tc = with_config(&etcd, CONFIG).await;
    let me = Ipv4Addr::new(192, 0, 2, 40);
    let grant = tc.lease_grant(600, None).await.unwrap().id();
    let old = lease_key("10.244.39.0-24");
    tc.put(
        old.as_str(),
        lease_value(me, 40),
        Some(PutOptions::new().with_lease(grant)),
    )
    .await
    .unwrap();
    let other = Ipv4Addr::new(192, 0, 2, 41);
    tc.put(lease_key("10.244.41.0-24"), lease_value(other, 41), None)
        .await
        .unwrap();
    let mut c = Control::connect(options(&etcd.endpoint())).await.unwrap();
    let own = c
        .acquire_own_lease(me, MAC, Some(sn("10.244.120.0/24")))
        .await
        .unwrap();
    assert_eq!(
        key_state(&mut tc, &old).await,
        None,
        "the old lease is gone"
    );
    let status = c.status();
    let (tables, readers) = vxgate::table::LeaseTables::new(64);
    let sink = vxgate::gateway::TableSink {
        tables,
        own: Some(own.subnet),
        own_ip: me,
        own_vtep_mac: MAC,
        underlay: vxgate::pipeline::Prefix::new(Ipv4Addr::new(192, 0, 2, 0), 24).unwrap(),
        repeat_log: Default::default(),
    };
    let run = spawn_run(c, sink);
    // A lease put after the start arrives after the old lease's delete
    // event: once it is in the tables, that event was handled.
    let late = Ipv4Addr::new(192, 0, 2, 42);
    tc.put(lease_key("10.244.42.0-24"), lease_value(late, 42), None)
        .await
        .unwrap();
    let lease = |subnet: Ipv4Addr| {
        let mut r = readers.clone();
        r.refresh();
        r.lease(u32::from(subnet))
            .map(|l| Ipv4Addr::from(l.public_ip))
    };
    wait_for("the late lease in the tables", LIMIT, || {
        lease(Ipv4Addr::new(10, 244, 42, 0)).is_some()
    })
    .await;
    assert_eq!(lease(Ipv4Addr::new(10, 244, 41, 0)), Some(other));
    assert_eq!(lease(Ipv4Addr::new(10, 244, 39, 0)), None);
    assert_eq!(status.leases(), 2);
    assert_eq!(status.invalid_entries_total(), 0);
    let text = logs.text();
    assert!(
        text.contains("an older lease of ours, not used any more, deleted"),
        "{text}"
    );
    assert!(!text.contains("our own PublicIP"), "{text}");
    assert!(!text.contains("WARN"), "{text}");
    run.stop().await;
}
