//! TLS client certificates and user/password authentication.
mod common;

use common::etcd::*;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use vxgate::control::{Control, ControlError};

/// etcd serving TLS with client certificates of a CA made in `dir`,
/// holding the network config, and the client's files: CA, certificate,
/// key.
fn tls_etcd(dir: &std::path::Path) -> (Etcd, PathBuf, PathBuf, PathBuf) {
    let files = make_certs(dir);
    let client = (
        files.ca.clone(),
        files.client_cert.clone(),
        files.client_key.clone(),
    );
    let etcd = Etcd::start_tls(files);
    etcd.ctl(&["put", "/coreos.com/network/config", CONFIG]);
    (etcd, client.0, client.1, client.2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certs_accepted_without_refused() {
    let certs_dir = tempfile::tempdir().unwrap();
    let (etcd, ca, cert, key) = tls_etcd(certs_dir.path());

    let mut opts = options(&etcd.endpoint());
    opts.cafile = Some(ca.clone());
    opts.certfile = Some(cert);
    opts.keyfile = Some(key);
    let mut c = Control::connect(opts).await.expect("connect with TLS");
    assert!(c.ping().await.unwrap() > 0);
    assert_eq!(c.network_config().await.unwrap().subnet_len, 24);

    // CA only: the server demands a client certificate.
    let mut only_ca = options(&etcd.endpoint());
    only_ca.cafile = Some(ca);
    let e = Control::connect(only_ca)
        .await
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    eprintln!("without client cert: {e}");
    // etcd ends the session; the error asks for the client certificate.
    assert!(
        matches!(e, ControlError::Unreachable { .. }) && e.to_string().contains("--etcd-certfile"),
        "{e}"
    );
    // A client certificate of a CA etcd does not trust: the error names
    // etcd's refusal (the TLS alert, when the client saw it) or says what
    // to check of the certificate, not only "transport error".
    let other_dir = tempfile::tempdir().unwrap();
    let other = make_certs(other_dir.path());
    let mut foreign = options(&etcd.endpoint());
    foreign.cafile = Some(certs_dir.path().join("ca.pem"));
    foreign.certfile = Some(other.client_cert);
    foreign.keyfile = Some(other.client_key);
    let e = Control::connect(foreign)
        .await
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    eprintln!("with a client cert of another CA: {e}");
    assert!(
        matches!(e, ControlError::Unreachable { .. })
            && e.to_string().to_ascii_lowercase().contains("certificate"),
        "{e}"
    );
    // No TLS at all.
    let e = Control::connect(options(&etcd.endpoint()))
        .await
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    eprintln!("without TLS: {e}");
    // TLS files with a plain http endpoint is a configuration error.
    let mut mixed = options(&format!("http://127.0.0.1:{}", etcd.client_port));
    mixed.cafile = Some(certs_dir.path().join("ca.pem"));
    assert!(matches!(
        Control::connect(mixed).await,
        Err(ControlError::Options(_))
    ));
}

/// Without --etcd-cafile an https server is checked against the system's
/// trust roots (here `SSL_CERT_FILE`, which rustls-native-certs reads as
/// OpenSSL does): a server signed by a CA outside them is refused, one
/// inside them accepted. Before, the client trusted no CA at all and
/// retried "unreachable" for ever.
#[test]
fn without_a_ca_file_the_system_trust_roots_check_the_server() {
    let certs_dir = tempfile::tempdir().unwrap();
    let (etcd, ca, cert, key) = tls_etcd(certs_dir.path());
    let other_dir = tempfile::tempdir().unwrap();
    let other = make_certs(other_dir.path());
    let mut opts = options(&etcd.endpoint());
    opts.certfile = Some(cert);
    opts.keyfile = Some(key);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Set while no other thread of this process reads the environment
    // (one process per test; the runtime's threads are idle). The roots
    // are read again at every connect.
    std::env::set_var("SSL_CERT_FILE", &other.ca);
    let e = rt
        .block_on(async { Control::connect(opts.clone()).await?.ping().await })
        .expect_err("a server outside the trust roots must be refused");
    eprintln!("server signed by another CA: {e}");
    assert!(format!("{e}").contains("certificate"), "{e}");
    std::env::set_var("SSL_CERT_FILE", &ca);
    let rev = rt
        .block_on(async { Control::connect(opts).await?.ping().await })
        .expect("a server inside the trust roots is accepted");
    assert!(rev > 0);
    // An https endpoint with no TLS file at all: the same roots.
    let plain = options(&etcd.endpoint());
    let e = rt
        .block_on(async { Control::connect(plain).await?.ping().await })
        .expect_err("the server demands a client certificate");
    eprintln!("trusted server, no client certificate: {e}");
    assert!(!format!("{e}").contains("UnknownIssuer"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_password_accepted_wrong_password_refused() {
    let mut etcd = Etcd::start();
    etcd.ctl(&["put", "/coreos.com/network/config", CONFIG]);
    etcd.enable_auth();

    let mut opts = options(&etcd.endpoint());
    opts.username = Some("root".into());
    opts.password = Some("s3cret".into());
    let mut c = Control::connect(opts.clone())
        .await
        .expect("right password");
    assert!(c.ping().await.unwrap() > 0);
    assert_eq!(c.network_config().await.unwrap().network.len, 16);

    opts.password = Some("wrong".into());
    let e = Control::connect(opts)
        .await
        .err()
        .expect("wrong password must fail");
    eprintln!("wrong password: {e}");
    assert!(matches!(e, ControlError::Auth(_)), "{e}");

    let e = Control::connect(options(&etcd.endpoint()))
        .await
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    eprintln!("no credentials: {e}");
    assert!(matches!(e, ControlError::Auth(_)), "{e}");
}

/// An X.509 v3 client certificate for `key` (a file in `dir`) signed by
/// the test CA (`client.ext` of `make_certs` gives it its extension).
fn client_cert_for(dir: &std::path::Path, key: &str, cert: &str) {
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            key,
            "-out",
            "x.csr",
            "-subj",
            "/CN=vxgate",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "x.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-out",
            cert,
            "-days",
            "2",
            "-extfile",
            "client.ext",
        ],
    );
}

/// `vxgate run`'s config check of these TLS files.
fn check(
    ca: &std::path::Path,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<(), vxgate::config::ConfigError> {
    let s = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let cfg = vxgate::config::Config::from_args([
        "--underlay".to_owned(),
        "net_null0".into(),
        "--underlay-ip".into(),
        "172.28.147.40/28".into(),
        "--access".into(),
        "net_null1".into(),
        "--etcd-endpoints".into(),
        "https://127.0.0.1:2379".into(),
        "--etcd-cafile".into(),
        s(ca),
        "--etcd-certfile".into(),
        s(cert),
        "--etcd-keyfile".into(),
        s(key),
    ])
    .expect("flags are valid");
    cfg.check_files()
}

#[test]
fn tls_files_are_read_as_the_etcd_client_reads_them_and_the_key_must_fit_the_cert() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let files = make_certs(d);
    // Every key format the client takes: PKCS#8 RSA (openssl's default),
    // PKCS#1 RSA, SEC1 EC, PKCS#8 Ed25519.
    openssl(
        d,
        &[
            "rsa",
            "-in",
            "client.key",
            "-traditional",
            "-out",
            "rsa1.key",
        ],
    );
    openssl(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ec.key",
        ],
    );
    client_cert_for(d, "ec.key", "ec.pem");
    openssl(d, &["genpkey", "-algorithm", "ed25519", "-out", "ed.key"]);
    client_cert_for(d, "ed.key", "ed.pem");
    for (cert, key, begin) in [
        ("client.pem", "client.key", "-----BEGIN PRIVATE KEY-----"),
        ("client.pem", "rsa1.key", "-----BEGIN RSA PRIVATE KEY-----"),
        ("ec.pem", "ec.key", "-----BEGIN EC PRIVATE KEY-----"),
        ("ed.pem", "ed.key", "-----BEGIN PRIVATE KEY-----"),
    ] {
        let text = std::fs::read_to_string(d.join(key)).unwrap();
        assert!(text.contains(begin), "{key} is not {begin}");
        check(&files.ca, &d.join(cert), &d.join(key))
            .unwrap_or_else(|e| panic!("{cert} + {key}: {e}"));
    }

    // A key of another certificate, of the same type and of another type.
    for (cert, key) in [
        ("client.pem", "server.key"),
        ("client.pem", "ec.key"),
        ("ec.pem", "client.key"),
        ("ed.pem", "rsa1.key"),
    ] {
        let err = check(&files.ca, &d.join(cert), &d.join(key)).expect_err(key);
        let msg = err.to_string();
        assert_eq!(err.key(), Some("etcd-keyfile"), "{msg}");
        assert_eq!(err.exit_code(), vxgate::config::CONFIG_EXIT_CODE, "{msg}");
        assert!(msg.contains("does not belong to the certificate"), "{msg}");
        assert!(msg.contains(cert) && msg.contains(key), "{msg}");
        assert!(msg.contains("openssl x509 -noout -pubkey"), "{msg}");
    }

    // X.509 v1 (a fixture: which openssl versions make v1 varies), which
    // rustls (under the etcd client) refuses to present.
    let fixture = |f: &str| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(f)
    };
    let err = check(
        &files.ca,
        &fixture("x509-v1-client.pem"),
        &fixture("x509-v1-client.key"),
    )
    .unwrap_err();
    assert_eq!(err.key(), Some("etcd-certfile"), "{err}");
    assert!(err.to_string().contains("X.509 v3"), "{err}");

    // Damaged files with the right PEM armour.
    let ca = std::fs::read_to_string(&files.ca).unwrap();
    let broken = ca.replacen("MII", "MIJ", 1);
    std::fs::write(d.join("bundle.pem"), format!("{ca}{broken}")).unwrap();
    let err = check(&d.join("bundle.pem"), &files.client_cert, &files.client_key).unwrap_err();
    assert_eq!(err.key(), Some("etcd-cafile"), "{err}");
    assert!(err.to_string().contains("1 of its certificates"), "{err}");

    let cert = std::fs::read_to_string(&files.client_cert).unwrap();
    std::fs::write(d.join("cut.pem"), cert.replacen("MII", "M*I", 1)).unwrap();
    let err = check(&files.ca, &d.join("cut.pem"), &files.client_key).unwrap_err();
    assert_eq!(err.key(), Some("etcd-certfile"), "{err}");
    assert!(err.to_string().contains("not valid PEM"), "{err}");

    let key = std::fs::read_to_string(&files.client_key).unwrap();
    let lines: Vec<&str> = key.lines().collect();
    let short = [&lines[..3], &lines[lines.len() - 1..]].concat().join("\n");
    std::fs::write(d.join("short.key"), short).unwrap();
    let err = check(&files.ca, &files.client_cert, &d.join("short.key")).unwrap_err();
    assert_eq!(err.key(), Some("etcd-keyfile"), "{err}");
    assert!(err.to_string().contains("cannot be used"), "{err}");
}

#[test]
fn vxgate_run_with_a_key_that_does_not_fit_exits_2_before_eal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let files = make_certs(d);
    let s = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let prefix = format!("vxg-tls-mismatch-{}", std::process::id());
    // `timeout`: if the check ever let the pair through, vxgate would wait
    // for etcd forever; it is killed (exit 124) and the test fails instead.
    let out = std::process::Command::new("timeout")
        .args(["60", env!("CARGO_BIN_EXE_vxgate")])
        .args([
            "run",
            "--underlay",
            "net_null0",
            "--underlay-ip",
            "172.28.147.40/28",
        ])
        .args([
            "--access",
            "net_null1",
            "--etcd-endpoints",
            "https://127.0.0.1:9",
        ])
        .args(["--etcd-cafile", &s(&files.ca)])
        .args(["--etcd-certfile", &s(&files.client_cert)])
        .args(["--etcd-keyfile", &s(&files.server_key)])
        .args(["--", "--no-pci", "--file-prefix", &prefix, "--in-memory"])
        .output()
        .expect("run vxgate");
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("etcd-keyfile"), "{stderr}");
    assert!(
        stderr.contains("does not belong to the certificate"),
        "{stderr}"
    );
    assert!(!stderr.contains("EAL"), "EAL must not start: {stderr}");
}

/// An etcd role that grants exactly what flanneld needs (read the config,
/// read and write `subnets/`) is enough: the watch covers those ranges
/// only, so etcd does not cancel it for want of a read on all of the
/// prefix (a cancelled watch that would never deliver an event).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_with_flanneld_permissions_is_enough_to_watch() {
    let mut etcd = Etcd::start();
    etcd.ctl(&["put", "/coreos.com/network/config", CONFIG]);
    etcd.add_gw_user("/coreos.com/network", "readwrite");
    etcd.enable_auth();

    let mut opts = options(&etcd.endpoint());
    opts.username = Some("gw".into());
    opts.password = Some("gwpass".into());
    let mut control = Control::connect(opts).await.expect("connect as gw");
    control.network_config().await.expect("gw reads the config");
    let status = control.status();
    let sink = MemSink::default();
    let run = spawn_run(control, sink.clone());
    wait_for("watching", Duration::from_secs(30), || {
        status.etcd_connected()
    })
    .await;
    etcd.ctl(&[
        "put",
        &lease_key("10.244.3.0-24"),
        &lease_value(Ipv4Addr::new(192, 0, 2, 3), 3),
    ]);
    wait_for(
        "the lease put after the watch started",
        Duration::from_secs(30),
        || sink.snapshot().len() == 1,
    )
    .await;
    run.stop().await;
}

/// A user that may read the subnets but not write them is refused by the
/// write check a start and `--check-config` make before EAL, naming the
/// key; one that may write passes. The check writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_that_may_only_read_is_refused_before_eal_and_nothing_is_written() {
    let mut etcd = Etcd::start();
    etcd.ctl(&["put", "/coreos.com/network/config", CONFIG]);
    etcd.add_gw_user("/coreos.com/network", "read");
    etcd.enable_auth();
    let mut opts = options(&etcd.endpoint());
    opts.username = Some("gw".into());
    opts.password = Some("gwpass".into());
    let requested: vxgate::control::Subnet = "10.244.7.0/24".parse().unwrap();
    let revision = || {
        let out = etcd.ctl(&["get", "/coreos.com/network/config", "-w", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["header"]["revision"].as_i64().unwrap()
    };
    let before = revision();
    let mut control = Control::connect(opts.clone()).await.unwrap();
    for req in [Some(requested), None] {
        let e = control.check_writable(req).await.unwrap_err();
        eprintln!("read-only user, {req:?}: {e}");
        assert!(matches!(e, ControlError::Auth(_)), "{e}");
        assert!(
            e.to_string()
                .contains("may not write /coreos.com/network/subnets/"),
            "{e}"
        );
    }
    etcd.grant_gw_subnets("/coreos.com/network", "readwrite");
    let mut control = Control::connect(opts).await.unwrap();
    for req in [Some(requested), None] {
        control
            .check_writable(req)
            .await
            .expect("a user that may write");
    }
    assert_eq!(revision(), before, "the write check wrote");
    let keys = etcd.ctl(&[
        "get",
        "--prefix",
        "/coreos.com/network/subnets/",
        "--keys-only",
    ]);
    assert!(keys.trim().is_empty(), "{keys}");
}

/// An https endpoint without --etcd-cafile on a system with no trust
/// roots (here SSL_CERT_FILE naming an empty file) can never connect: a
/// clear error naming --etcd-cafile at once, not "unreachable" retried for
/// ever.
#[test]
fn https_without_a_ca_file_and_no_system_roots_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    // Set before any other thread of this process exists (one process per
    // test).
    std::env::set_var("SSL_CERT_FILE", &empty);
    std::env::remove_var("SSL_CERT_DIR");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let port = free_port();
    let r = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(30),
            Control::connect(options(&format!("https://127.0.0.1:{port}"))),
        )
        .await
    });
    let e = match r {
        Ok(Err(e)) => e,
        Ok(Ok(_)) => panic!("connected without trust roots"),
        Err(_) => panic!("still retrying after 30 s"),
    };
    eprintln!("{e}");
    assert!(matches!(e, ControlError::Options(_)), "{e}");
    assert!(e.to_string().contains("--etcd-cafile"), "{e}");
}
