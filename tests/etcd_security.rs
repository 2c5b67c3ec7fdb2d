//! TLS client certificates and user/password authentication.
mod common;

use common::etcd::*;
use vxgate::control::{Control, ControlError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certs_accepted_without_refused() {
    let certs_dir = tempfile::tempdir().unwrap();
    let files = make_certs(certs_dir.path());
    let (ca, cert, key) = (
        files.ca.clone(),
        files.client_cert.clone(),
        files.client_key.clone(),
    );
    let etcd = Etcd::start_tls(files);
    etcd.ctl(&["put", "/coreos.com/network/config", CONFIG]);

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_password_accepted_wrong_password_refused() {
    let mut etcd = Etcd::start();
    etcd.ctl(&["put", "/coreos.com/network/config", CONFIG]);
    etcd.ctl(&["user", "add", "root:s3cret"]);
    etcd.ctl(&["auth", "enable"]);
    etcd.ctl_user = Some("root:s3cret".into());

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
