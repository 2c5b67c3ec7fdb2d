//! flannel's etcd registry: config, leases, our own lease -> table updates.
//!
//! The control plane knows nothing of the tables or the pipeline: it hands
//! every lease change to a [`LeaseSink`], which the caller implements on the
//! real tables. See docs/control-plane.md for the decisions.
#![deny(unsafe_code)]

mod backoff;
mod config_seen;
mod go_json;
mod own_lease;
mod registry;
mod schema;
mod status;
mod subnet;
mod watch;

use std::future::Future;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use own_lease::{check_requested, warn_about_renewal, OwnLease};
pub use schema::{
    parse_mac, ConfigError, LeaseAttrs, LeaseError, LeaseValue, NetworkConfig, VxlanBackend,
    DEFAULT_VNI, DEFAULT_VXLAN_PORT,
};
pub use status::{ControlStatus, LatencySummary, LATENCY_BUCKETS_S};
pub use subnet::{LeaseKey, Subnet, SubnetError};
pub use watch::SkipLog;

/// flanneld's default `--etcd-prefix`.
pub const DEFAULT_PREFIX: &str = "/coreos.com/network";
/// flanneld's `subnetTTL` (24 h), our `--subnet-lease-ttl` default.
pub const DEFAULT_LEASE_TTL_S: u64 = 86_400;
/// flanneld's `--subnet-lease-renew-margin` default (minutes).
pub const DEFAULT_RENEW_MARGIN_MIN: u64 = 60;
/// The largest etcd reply vxgate decodes: what flanneld's Go client takes
/// (2 GiB), not tonic's default 4 MiB, which a few large values under
/// `subnets/` would exceed in one list page or one watch response.
pub const MAX_REPLY_BYTES: usize = i32::MAX as usize;

/// Where lease changes go. Called from the control thread only.
pub trait LeaseSink: Send {
    /// A vxlan lease appeared or its attributes changed. Only leases of
    /// the network config's SubnetLen are delivered (others are counted
    /// invalid and skipped before), so a sink keyed by subnet address
    /// never sees two lengths at one address.
    fn upsert(&mut self, subnet: Subnet, lease: &LeaseAttrs);
    /// A lease vanished (deleted, expired, or found gone after a resync).
    fn remove(&mut self, subnet: Subnet);
    /// Which subnet is our own; told once at the start of `Control::run`
    /// (before any upsert). Our own lease is also delivered by `upsert`.
    fn own_subnet(&mut self, _subnet: Subnet) {}
    /// Why the sink cannot use a well-formed lease (an address no VTEP on
    /// its link can have), if so: the mirror then skips it as it skips a
    /// malformed value (logged, counted, the subnet's good lease kept).
    fn refuses(&self, _lease: &LeaseAttrs) -> Option<String> {
        None
    }
    /// How many leases the sink actually installed (`vxgate_leases`), when
    /// it skips some it was given (our own, say); `None`: all of them.
    fn installed(&self) -> Option<usize> {
        None
    }
}

/// How to reach etcd and how to hold our lease (`vxgate run` flags).
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// `--etcd-endpoints`, e.g. `http://127.0.0.1:2379` (https with TLS).
    pub endpoints: Vec<String>,
    /// `--etcd-prefix`, default `/coreos.com/network`.
    pub prefix: String,
    pub cafile: Option<PathBuf>,
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `--subnet-lease-renew-margin` in minutes (flanneld: 60).
    pub renew_margin_min: u64,
    /// `--subnet-lease-ttl` in seconds (flanneld: 86400).
    pub lease_ttl_s: u64,
    /// The largest etcd reply accepted ([`MAX_REPLY_BYTES`]); lowered by
    /// tests to exercise listing around replies that are too large.
    #[doc(hidden)]
    pub max_reply_bytes: usize,
    /// The first and the longest delay between failed renewals of our
    /// lease (2 s and 30 s); lengthened by tests to show that a renewal
    /// is retried as soon as etcd is back, not when this delay runs out.
    #[doc(hidden)]
    pub renew_retry: (Duration, Duration),
}

impl EtcdOptions {
    /// Defaults as flanneld's, for the given endpoints.
    pub fn new(endpoints: Vec<String>) -> Self {
        Self {
            endpoints,
            prefix: DEFAULT_PREFIX.to_string(),
            cafile: None,
            certfile: None,
            keyfile: None,
            username: None,
            password: None,
            renew_margin_min: DEFAULT_RENEW_MARGIN_MIN,
            lease_ttl_s: DEFAULT_LEASE_TTL_S,
            max_reply_bytes: MAX_REPLY_BYTES,
            renew_retry: (own_lease::RENEW_RETRY, own_lease::RENEW_RETRY_MAX),
        }
    }
}

/// Control-plane errors; each says what the operator should do.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("etcd options: {0}")]
    Options(String),
    #[error("cannot read {flag} file {path}: {source}; check --{flag}")]
    TlsFile {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("etcd at {endpoints} is unreachable or refused the connection ({detail}); check --etcd-endpoints, TLS flags, and that etcd runs")]
    Unreachable { endpoints: String, detail: String },
    #[error("etcd refused our credentials ({0}); check --etcd-username/--etcd-password and the user's role")]
    Auth(String),
    /// Not the credentials: vxgate authenticates again by itself.
    #[error("etcd no longer takes vxgate's auth token ({0}), even after vxgate authenticated again; if this repeats, check etcd's --auth-token (a JWT ttl shorter than a request?) and that the etcd members' clocks agree")]
    AuthToken(String),
    #[error("etcd request {op} failed: {detail}")]
    Etcd { op: &'static str, detail: String },
    /// A reply over the client's decoding limit (`EtcdOptions::max_reply_bytes`).
    #[error("etcd's reply to {op} is larger than vxgate takes ({detail})")]
    ReplyTooLarge { op: &'static str, detail: String },
    #[error("invalid flannel network config at {key}: {source}")]
    Config {
        key: String,
        #[source]
        source: ConfigError,
    },
    #[error("--subnet {subnet} cannot be used: {why}")]
    BadSubnet { subnet: Subnet, why: String },
    #[error("subnet {subnet} is held by another node (PublicIP {holder}, key {key}); choose another --subnet, or delete that lease if it is stale (etcdctl del '{key}')")]
    SubnetTaken {
        subnet: Subnet,
        holder: String,
        key: String,
    },
    /// Two VTEPs with one MAC: each drops the other's leases as its own,
    /// and a kernel node's one FDB entry for the MAC reaches only one.
    #[error("our VtepMAC {mac} is already announced by another node's lease (PublicIP {holder}, key {key}); no lease was claimed. Give this gateway a VtepMAC of its own (--vtep-mac), or drop --vtep-mac to use the default derived from the underlay IP; if that lease is an old one of this gateway from before its underlay IP changed, delete it (etcdctl del '{key}')")]
    VtepMacTaken {
        mac: String,
        holder: Ipv4Addr,
        key: String,
    },
    #[error("no free subnet left between SubnetMin {min} and SubnetMax {max}{other_lengths}; widen the Network or remove stale leases")]
    NoFreeSubnet {
        min: Ipv4Addr,
        max: Ipv4Addr,
        /// Empty, or what keys of another length than SubnetLen block
        /// (one such key can cover the whole range).
        other_lengths: String,
    },
    #[error("could not acquire a subnet after {0} attempts, other nodes kept taking the chosen ones; start vxgate again")]
    RaceLost(u32),
}

/// The control plane: one etcd client, our lease, the watch loop.
pub struct Control {
    reg: registry::Registry,
    status: Arc<ControlStatus>,
    config: Option<(NetworkConfig, Vec<u8>)>,
    own: Option<OwnLease>,
    /// The lease list our lease was acquired from: `run`'s first
    /// listing, not read again.
    listing: Option<own_lease::Listing>,
}

impl Control {
    /// Builds the etcd client (TLS files are read here, credentials are
    /// checked here if given). Does not wait for etcd otherwise.
    pub async fn connect(opts: EtcdOptions) -> Result<Self, ControlError> {
        let status = Arc::new(ControlStatus::new());
        let reg = registry::Registry::connect(opts, status.clone()).await?;
        Ok(Self {
            reg,
            status,
            config: None,
            own: None,
            listing: None,
        })
    }

    /// The status the metrics thread reads.
    pub fn status(&self) -> Arc<ControlStatus> {
        self.status.clone()
    }

    /// One round trip to etcd; returns the store's current revision.
    pub async fn ping(&mut self) -> Result<i64, ControlError> {
        self.reg.revision().await
    }

    /// Reads `<prefix>/config`, waiting (with backoff, logging what is
    /// missing) until it exists and etcd is reachable. An invalid config
    /// or refused credentials are returned at once.
    pub async fn network_config(&mut self) -> Result<NetworkConfig, ControlError> {
        let (cfg, raw) = self.reg.wait_for_config().await?;
        for k in &cfg.ipv6_keys_ignored {
            tracing::warn!(key = %k, "IPv6 is not supported by vxgate yet; network config key ignored");
        }
        if cfg.backend.gbp {
            tracing::warn!(
                "network config sets Backend.GBP: vxgate does not speak VXLAN Group Based Policy; packets the nodes send with a policy (the G flag, e.g. kube-proxy-marked traffic) are dropped as bad_vxlan_flags"
            );
        }
        self.config = Some((cfg.clone(), raw));
        Ok(cfg)
    }

    /// `SubnetTaken` when `requested` (`--subnet`) is held by another
    /// PublicIP now; read only (`acquire_own_lease` checks again).
    pub async fn check_requested_free(
        &mut self,
        public_ip: Ipv4Addr,
        requested: Subnet,
    ) -> Result<(), ControlError> {
        own_lease::check_requested_free(&mut self.reg, public_ip, requested).await
    }

    /// `Auth` when our credentials may read but not write the lease we
    /// would take (`requested`, else the subnets directory); writes
    /// nothing. Before EAL, at start and in `--check-config`.
    pub async fn check_writable(&mut self, requested: Option<Subnet>) -> Result<(), ControlError> {
        own_lease::check_writable(&mut self.reg, requested).await
    }

    /// Read only (`--check-config`), on the whole lease list as
    /// `acquire_own_lease` reads it: `VtepMacTaken` when another
    /// PublicIP's lease announces `vtep_mac`; then, without `requested`
    /// (`--subnet`), the subnet a start would take back, `None` when it
    /// would take a free one, or `NoFreeSubnet`; with it, `None`
    /// (`check_requested_free` checks the subnet).
    pub async fn check_acquirable(
        &mut self,
        public_ip: Ipv4Addr,
        vtep_mac: [u8; 6],
        requested: Option<Subnet>,
    ) -> Result<Option<Subnet>, ControlError> {
        if self.config.is_none() {
            self.network_config().await?;
        }
        let Some((cfg, _)) = &self.config else {
            return Err(ControlError::Options("network config not loaded".into()));
        };
        own_lease::check_acquirable(&mut self.reg, cfg, public_ip, vtep_mac, requested).await
    }

    /// Registers our lease (see docs/control-plane.md): `requested` is
    /// `--subnet`. Reads the network config first if not done yet. The
    /// lease list read for it seeds `run`'s first session, which does not
    /// read it again.
    pub async fn acquire_own_lease(
        &mut self,
        public_ip: Ipv4Addr,
        vtep_mac: [u8; 6],
        requested: Option<Subnet>,
    ) -> Result<OwnLease, ControlError> {
        if self.config.is_none() {
            self.network_config().await?;
        }
        let Some((cfg, _)) = &self.config else {
            return Err(ControlError::Options("network config not loaded".into()));
        };
        let (own, listing) =
            own_lease::acquire(&mut self.reg, cfg, public_ip, vtep_mac, requested).await?;
        self.status.set_own_expiry(own.expiry);
        self.own = Some(own.clone());
        self.listing = Some(listing);
        Ok(own)
    }

    /// Lists and watches leases into `sink` and keeps our lease renewed,
    /// until `shutdown` completes. Survives etcd outages (nothing is
    /// removed while etcd is away). Our lease is kept on shutdown.
    pub async fn run<F>(mut self, sink: &mut dyn LeaseSink, shutdown: F) -> Result<(), ControlError>
    where
        F: Future<Output = ()> + Send,
    {
        if self.config.is_none() {
            self.network_config().await?;
        }
        let Some((cfg, raw)) = self.config else {
            return Err(ControlError::Options("network config not loaded".into()));
        };
        if let Some(own) = &self.own {
            sink.own_subnet(own.subnet);
        }
        let (reg, own, listing) = (self.reg, self.own, self.listing);
        watch::run(reg, own, listing, cfg, raw, self.status, sink, shutdown).await
    }
}
