//! A real etcd per test: started on free loopback ports in a temp dir,
//! waited for until healthy, killed on Drop (also when the test panics).
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vxgate::control::{LeaseAttrs, LeaseSink, Subnet};

pub const PREFIX: &str = "/coreos.com/network";
pub const CONFIG: &str = r#"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#;

/// A free TCP port on 127.0.0.1 (bind port 0, read it, release it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// TLS material for `Etcd::start_tls`.
pub struct TlsFiles {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

pub struct Etcd {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub client_port: u16,
    peer_port: u16,
    tls: Option<TlsFiles>,
    /// etcdctl credentials once auth is enabled ("root:pw").
    pub ctl_user: Option<String>,
    /// Network namespace etcd (and etcdctl) run in; None = the test's own.
    netns: Option<String>,
    /// Member name and `--initial-cluster` (a member of `start_cluster`);
    /// None: a cluster of one named `t`.
    member: Option<(String, String)>,
    /// More etcd flags (`start_jwt`).
    extra_args: Vec<String>,
}

impl Etcd {
    pub fn start() -> Self {
        Self::start_with(None)
    }

    pub fn start_tls(tls: TlsFiles) -> Self {
        Self::start_with(Some(tls))
    }

    /// etcd on the loopback of network namespace `ns` (where the vxgate
    /// under test runs); etcdctl calls run there too.
    #[allow(dead_code)]
    pub fn start_in_netns(ns: &str) -> Self {
        Self::start_full(None, Some(ns.to_string()))
    }

    fn start_with(tls: Option<TlsFiles>) -> Self {
        Self::start_full(tls, None)
    }

    fn start_full(tls: Option<TlsFiles>, netns: Option<String>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut e = Self {
            child: None,
            dir,
            client_port: free_port(),
            peer_port: free_port(),
            tls,
            ctl_user: None,
            netns,
            member: None,
            extra_args: Vec::new(),
        };
        e.spawn_first();
        e
    }

    /// etcd issuing JWT auth tokens (RS256, keys made with openssl) that
    /// expire after `ttl` (e.g. "5s"); auth itself is not enabled yet.
    pub fn start_jwt(ttl: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        openssl(dir.path(), &["genrsa", "-out", "jwt.key", "2048"]);
        openssl(
            dir.path(),
            &["rsa", "-in", "jwt.key", "-pubout", "-out", "jwt.pub"],
        );
        let token = format!(
            "jwt,pub-key={},priv-key={},sign-method=RS256,ttl={ttl}",
            dir.path().join("jwt.pub").display(),
            dir.path().join("jwt.key").display()
        );
        let mut e = Self {
            child: None,
            dir,
            client_port: free_port(),
            peer_port: free_port(),
            tls: None,
            ctl_user: None,
            netns: None,
            member: None,
            extra_args: vec!["--auth-token".into(), token],
        };
        e.spawn_first();
        e
    }

    /// The ids of etcd's leases (`etcdctl lease list`).
    pub fn lease_ids(&self) -> BTreeSet<i64> {
        self.ctl(&["lease", "list"])
            .lines()
            .skip(1) // "found N leases"
            .filter(|l| !l.trim().is_empty())
            .map(|l| u64::from_str_radix(l.trim(), 16).expect("lease id in hex") as i64)
            .collect()
    }

    /// A cluster of `n` members on loopback, each its own `Etcd` (killed on
    /// Drop); returned once every member is healthy.
    pub fn start_cluster(n: usize) -> Vec<Self> {
        let peer_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let cluster = peer_ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("m{i}=http://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members: Vec<Self> = peer_ports
            .into_iter()
            .enumerate()
            .map(|(i, peer_port)| Self {
                child: None,
                dir: tempfile::tempdir().expect("tempdir"),
                client_port: free_port(),
                peer_port,
                tls: None,
                ctl_user: None,
                netns: None,
                member: Some((format!("m{i}"), cluster.clone())),
                extra_args: Vec::new(),
            })
            .collect();
        // No member is healthy before a quorum of them runs: start all,
        // then wait.
        for m in &mut members {
            m.spawn_child(m.client_port);
        }
        for m in &mut members {
            let port = m.client_port;
            if let Err(e) = m.wait_healthy(port) {
                panic!("cluster member: {e}");
            }
        }
        members
    }

    fn name(&self) -> &str {
        self.member.as_ref().map_or("t", |(n, _)| n)
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    pub fn endpoint(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme(), self.client_port)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn spawn(&mut self, client_port: u16) {
        self.spawn_child(client_port);
        if let Err(e) = self.wait_healthy(client_port) {
            panic!("{e}");
        }
    }

    /// The first start, on ports `free_port` picked: another process may
    /// take one of them between that pick and etcd's bind (tests run in
    /// parallel), so a start that lost its port is retried on fresh ones.
    fn spawn_first(&mut self) {
        for _ in 0..4 {
            self.spawn_child(self.client_port);
            match self.wait_healthy(self.client_port) {
                Ok(()) => return,
                Err(e) => eprintln!("etcd start retried on other ports: {e}"),
            }
            self.kill();
            let _ = std::fs::remove_dir_all(self.data_dir());
            self.client_port = free_port();
            self.peer_port = free_port();
        }
        panic!("etcd did not start on four pairs of free ports");
    }

    fn spawn_child(&mut self, client_port: u16) {
        let client = format!("{}://127.0.0.1:{client_port}", self.scheme());
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))
            .expect("etcd log file");
        let initial_cluster = match &self.member {
            Some((_, cluster)) => cluster.clone(),
            None => format!("t={peer}"),
        };
        let mut cmd = self.command("/usr/bin/etcd");
        cmd.args(["--name", self.name(), "--data-dir"])
            .arg(self.data_dir())
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &initial_cluster])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log);
        if let Some(t) = &self.tls {
            cmd.arg("--cert-file").arg(&t.server_cert);
            cmd.arg("--key-file").arg(&t.server_key);
            cmd.arg("--trusted-ca-file").arg(&t.ca);
            cmd.arg("--client-cert-auth");
        }
        self.child = Some(cmd.spawn().expect("start /usr/bin/etcd"));
    }

    /// `program`, inside the namespace when there is one (`ip netns exec`
    /// execs it, so the child's pid is the program's).
    fn command(&self, program: &str) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, program]);
                c
            }
            None => Command::new(program),
        }
    }

    fn ctl_cmd(&self, port: u16) -> Command {
        let mut c = self.command("/usr/bin/etcdctl");
        c.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}://127.0.0.1:{port}", self.scheme()))
            .arg("--command-timeout=5s");
        if let Some(t) = &self.tls {
            c.arg(format!("--cacert={}", t.ca.display()));
            c.arg(format!("--cert={}", t.client_cert.display()));
            c.arg(format!("--key={}", t.client_key.display()));
        }
        if let Some(u) = &self.ctl_user {
            c.arg(format!("--user={u}"));
        }
        c
    }

    /// Waits until this etcd answers on `port`. `Err`: it exited (a port
    /// taken, say) or the port answers for another etcd (ours lost the
    /// race for it); a start that never gets healthy fails the test.
    fn wait_healthy(&mut self, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let log = |dir: &Path| std::fs::read_to_string(dir.join("etcd.log")).unwrap_or_default();
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(format!(
                    "etcd exited ({status}); log: {}",
                    log(self.dir.path())
                ));
            }
            let out = self
                .ctl_cmd(port)
                .args(["endpoint", "health"])
                .output()
                .expect("run etcdctl");
            if out.status.success() {
                // Healthy: ours only if the member list names our peer URL.
                let members = self.ctl_cmd(port).args(["member", "list"]).output();
                let ours = format!("127.0.0.1:{},", self.peer_port);
                return match members {
                    Ok(m) if String::from_utf8_lossy(&m.stdout).contains(&ours) => Ok(()),
                    Ok(m) => Err(format!(
                        "port {port} answers for another etcd: {}",
                        String::from_utf8_lossy(&m.stdout)
                    )),
                    Err(e) => Err(format!("etcdctl member list: {e}")),
                };
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not become healthy: {}\nlog: {}",
                String::from_utf8_lossy(&out.stderr),
                log(self.dir.path())
            );
            vxgate::ops::pause(Duration::from_millis(100));
        }
    }

    /// Turns authentication on with a `root` user (password `s3cret`),
    /// through which the test's own etcdctl calls go from then on.
    #[allow(dead_code)]
    pub fn enable_auth(&mut self) {
        self.ctl(&["user", "add", "root:s3cret"]);
        self.ctl(&["auth", "enable"]);
        self.ctl_user = Some("root:s3cret".into());
    }

    /// User `gw` (password `gwpass`) with a role `gw` that may read
    /// `<prefix>/config` and do `subnets` (`read` or `readwrite`) on
    /// `<prefix>/subnets/`: what flanneld is given, or less.
    #[allow(dead_code)]
    pub fn add_gw_user(&self, prefix: &str, subnets: &str) {
        self.ctl(&["user", "add", "gw:gwpass"]);
        self.ctl(&["role", "add", "gw"]);
        let config = format!("{prefix}/config");
        self.ctl(&["role", "grant-permission", "gw", "read", &config]);
        self.grant_gw_subnets(prefix, subnets);
        self.ctl(&["user", "grant-role", "gw", "gw"]);
    }

    /// Replaces role `gw`'s permission on `<prefix>/subnets/`.
    #[allow(dead_code)]
    pub fn grant_gw_subnets(&self, prefix: &str, perm: &str) {
        let subnets = format!("{prefix}/subnets/");
        self.ctl(&[
            "role",
            "grant-permission",
            "gw",
            "--prefix=true",
            perm,
            &subnets,
        ]);
    }

    /// Runs etcdctl against the normal client port; panics on failure.
    pub fn ctl(&self, args: &[&str]) -> String {
        self.ctl_on(self.client_port, args)
    }

    pub fn ctl_on(&self, port: u16, args: &[&str]) -> String {
        let out = self.ctl_cmd(port).args(args).output().expect("run etcdctl");
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same data dir and client port.
    pub fn restart(&mut self) {
        self.kill();
        let p = self.client_port;
        // The clients know this port: it cannot move. A parallel test's
        // `free_port` probe may hold it for a moment: a few tries.
        for _ in 0..3 {
            self.spawn_child(p);
            match self.wait_healthy(p) {
                Ok(()) => return,
                Err(e) => eprintln!("etcd restart retried on port {p}: {e}"),
            }
            self.kill();
            vxgate::ops::pause(std::time::Duration::from_millis(500));
        }
        self.spawn(p);
    }

    /// Starts again on the same client port on an empty data dir: etcd
    /// wiped (its revision back to 1, no keys, no leases).
    pub fn wipe(&mut self) {
        self.kill();
        std::fs::remove_dir_all(self.data_dir()).expect("remove etcd's data dir");
        self.restart();
    }

    /// Starts again on the same client port on `snapshot` (`etcdctl
    /// snapshot save`) restored into a fresh data dir, as a new cluster
    /// (another cluster token, so another cluster ID): etcd restored from
    /// a backup, its revision back to the snapshot's.
    pub fn restore(&mut self, snapshot: &Path) {
        self.kill();
        std::fs::remove_dir_all(self.data_dir()).expect("remove etcd's data dir");
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let name = self.name();
        self.ctl(&[
            "snapshot",
            "restore",
            &snapshot.display().to_string(),
            "--data-dir",
            &self.data_dir().display().to_string(),
            "--name",
            name,
            &format!("--initial-cluster={name}={peer}"),
            &format!("--initial-advertise-peer-urls={peer}"),
            "--initial-cluster-token=restored",
        ]);
        self.restart();
    }

    /// Starts on the same data dir but another client port, where the
    /// vxgate client cannot see it: changes made now happen "while down".
    pub fn restart_hidden(&mut self) -> u16 {
        self.kill();
        let p = free_port();
        self.spawn(p);
        p
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A test client (not the code under test) for writing fixtures.
pub async fn client(endpoint: &str) -> etcd_client::Client {
    etcd_client::Client::connect([endpoint], None)
        .await
        .expect("test etcd client")
}

pub fn lease_key(subnet: &str) -> String {
    format!("{PREFIX}/subnets/{subnet}")
}

pub fn lease_value(public_ip: Ipv4Addr, mac_last: u8) -> String {
    format!(
        r#"{{"PublicIP":"{public_ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{{"VNI":1,"VtepMAC":"0e:00:00:00:00:{mac_last:02x}"}}}}"#
    )
}

/// The test's observation point: what the control plane delivered.
#[derive(Clone, Default)]
pub struct MemSink {
    pub leases: Arc<Mutex<BTreeMap<Subnet, LeaseAttrs>>>,
    pub own: Arc<Mutex<Option<Subnet>>>,
}

impl LeaseSink for MemSink {
    fn upsert(&mut self, subnet: Subnet, lease: &LeaseAttrs) {
        self.leases.lock().unwrap().insert(subnet, lease.clone());
    }
    fn remove(&mut self, subnet: Subnet) {
        self.leases.lock().unwrap().remove(&subnet);
    }
    fn own_subnet(&mut self, subnet: Subnet) {
        *self.own.lock().unwrap() = Some(subnet);
    }
}

impl MemSink {
    pub fn snapshot(&self) -> BTreeMap<Subnet, LeaseAttrs> {
        self.leases.lock().unwrap().clone()
    }
}

/// Polls `cond` until true; panics with `what` after `limit` (a liveness
/// bound, generous so that a slow machine does not fail the test).
pub async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < limit,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    t.elapsed()
}

/// etcd's revision now, as a read tells it.
pub async fn revision_now(c: &mut etcd_client::Client) -> i64 {
    let r = c.get("x", None).await.expect("read");
    r.header().expect("reply header").revision()
}

/// What etcd holds under `<prefix>/subnets/`, parsed the same way the
/// control plane does (valid vxlan leases only), for exact comparison.
pub async fn etcd_view(c: &mut etcd_client::Client) -> BTreeMap<Subnet, LeaseAttrs> {
    use vxgate::control::{LeaseKey, LeaseValue};
    let dir = format!("{PREFIX}/subnets/");
    let r = c
        .get(
            dir.clone(),
            Some(etcd_client::GetOptions::new().with_prefix()),
        )
        .await
        .expect("list");
    let mut out = BTreeMap::new();
    for kv in r.kvs() {
        let Some(k) = kv.key_str().ok().and_then(|k| k.strip_prefix(&dir)) else {
            continue;
        };
        let (Ok(k), Ok(LeaseValue::Vxlan(a))) = (LeaseKey::parse(k), LeaseValue::parse(kv.value()))
        else {
            continue;
        };
        out.insert(k.v4, a);
    }
    out
}

/// Runs the openssl command line in `dir`, asserting success.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Generates a CA, a server cert for 127.0.0.1 and a client cert with openssl.
pub fn make_certs(dir: &Path) -> TlsFiles {
    let run = |args: &[&str]| openssl(dir, args);
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=vxgate-test-ca",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .expect("ext file");
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").expect("ext file");
    for (name, cn) in [("server", "127.0.0.1"), ("client", "vxgate")] {
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ]);
    }
    TlsFiles {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
    }
}

/// A running `Control::run` on the test's runtime.
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<Result<(), vxgate::control::ControlError>>,
}

pub fn spawn_run(control: vxgate::control::Control, sink: impl LeaseSink + 'static) -> Running {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let mut sink = sink;
        control
            .run(&mut sink, async move {
                let _ = rx.await;
            })
            .await
    });
    Running {
        stop: Some(tx),
        handle,
    }
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let r = tokio::time::timeout(Duration::from_secs(10), &mut self.handle).await;
        assert!(
            matches!(r, Ok(Ok(Ok(())))),
            "control did not stop cleanly: {r:?}"
        );
    }
}

pub fn options(endpoint: &str) -> vxgate::control::EtcdOptions {
    vxgate::control::EtcdOptions::new(vec![endpoint.to_string()])
}

/// Logs captured for the whole test process (nextest runs each test in
/// its own).
pub fn capture_logs() -> vxgate::ops::logging::Buf {
    let buf = vxgate::ops::logging::Buf::default();
    let sub = tracing_subscriber::fmt()
        .with_writer(buf.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(sub).expect("one test per process (cargo nextest)");
    buf
}
