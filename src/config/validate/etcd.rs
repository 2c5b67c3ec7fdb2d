//! How to reach etcd: endpoints, key prefix, TLS files and credentials, checked together.

use std::path::PathBuf;

use crate::config::endpoint;
use crate::config::{
    ConfigError, Endpoints, EtcdAuth, EtcdConfig, EtcdTls, TlsIdentity, DEFAULT_ETCD_ENDPOINT,
    DEFAULT_ETCD_PREFIX,
};

pub(super) struct EtcdInput {
    pub(super) endpoints: Option<Endpoints>,
    pub(super) prefix: Option<String>,
    pub(super) cafile: Option<PathBuf>,
    pub(super) certfile: Option<PathBuf>,
    pub(super) keyfile: Option<PathBuf>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
}

pub(super) fn etcd(input: EtcdInput) -> Result<EtcdConfig, ConfigError> {
    const FIX_URL: &str =
        "give comma-separated URLs such as http://127.0.0.1:2379,https://10.0.0.5:2379";
    let given = input
        .endpoints
        .unwrap_or_else(|| Endpoints::Joined(DEFAULT_ETCD_ENDPOINT.to_owned()));
    if let Endpoints::List(list) = &given {
        if let Some(e) = list.iter().find(|e| e.contains(',')) {
            return Err(ConfigError::invalid(
                "etcd-endpoints",
                endpoint::redact(e),
                "an element of the list holds a comma",
                "give one URL per array element, e.g. [\"http://10.0.0.5:2379\", \"http://10.0.0.6:2379\"]",
            ));
        }
    }
    let raw = given.into_list();
    let shown = raw.join(",");
    let endpoints: Vec<String> = raw
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    if endpoints.is_empty() {
        return Err(ConfigError::invalid(
            "etcd-endpoints",
            endpoint::redact(&shown),
            "no endpoint given",
            FIX_URL,
        ));
    }
    for e in &endpoints {
        endpoint::check_endpoint(e).map_err(|err| {
            ConfigError::invalid("etcd-endpoints", endpoint::redact(e), err.problem, err.fix)
        })?;
    }
    // One TLS setting serves every endpoint: the etcd client refuses TLS
    // options with an http:// URL and speaks TLS to every https:// one.
    let https = endpoints
        .iter()
        .filter(|e| e.starts_with("https://"))
        .count();
    if https > 0 && https < endpoints.len() {
        return Err(ConfigError::invalid(
            "etcd-endpoints",
            endpoint::redact(&shown),
            "mixes http:// and https:// endpoints; the members of one etcd cluster are reached one way",
            "give every endpoint with the scheme the cluster serves",
        ));
    }

    let raw_prefix = input
        .prefix
        .unwrap_or_else(|| DEFAULT_ETCD_PREFIX.to_owned());
    let prefix = raw_prefix.trim().trim_end_matches('/').to_owned();
    if !prefix.starts_with('/') || prefix.len() < 2 {
        return Err(ConfigError::invalid(
            "etcd-prefix",
            &raw_prefix,
            "a prefix is an absolute etcd key path",
            format!("use flanneld's --etcd-prefix, by default {DEFAULT_ETCD_PREFIX}"),
        ));
    }

    for (key, path) in [
        ("etcd-cafile", &input.cafile),
        ("etcd-certfile", &input.certfile),
        ("etcd-keyfile", &input.keyfile),
    ] {
        if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            return Err(ConfigError::invalid(
                key,
                "",
                "empty path",
                "give a PEM file path or leave the key out",
            ));
        }
    }
    let identity = match (input.certfile, input.keyfile) {
        (Some(cert_file), Some(key_file)) => Some(TlsIdentity { cert_file, key_file }),
        (Some(cert), None) => {
            return Err(ConfigError::Unpaired {
                key: "etcd-keyfile",
                given: format!("etcd-certfile {}", cert.display()),
                fix: "give the client certificate's private key with --etcd-keyfile, or drop --etcd-certfile",
            })
        }
        (None, Some(key)) => {
            return Err(ConfigError::Unpaired {
                key: "etcd-certfile",
                given: format!("etcd-keyfile {}", key.display()),
                fix: "give the client certificate with --etcd-certfile, or drop --etcd-keyfile",
            })
        }
        (None, None) => None,
    };
    let tls = match (input.cafile, identity) {
        (None, None) => None,
        (ca_file, identity) => Some(EtcdTls { ca_file, identity }),
    };
    if tls.is_some() {
        if let Some(plain) = endpoints.iter().find(|e| e.starts_with("http://")) {
            return Err(ConfigError::invalid(
                "etcd-endpoints",
                plain,
                "TLS files are given but this endpoint is plain http://",
                "use https:// endpoints with TLS, or drop the etcd TLS files",
            ));
        }
    }

    let auth = match (input.username, input.password) {
        (Some(username), Some(password)) => {
            if username.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "etcd-username",
                    &username,
                    "empty user name",
                    "give the etcd user, or drop both etcd-username and etcd-password",
                ));
            }
            Some(EtcdAuth { username, password })
        }
        (Some(username), None) => {
            return Err(ConfigError::Unpaired {
                key: "etcd-password",
                given: format!("etcd-username {username}"),
                fix: "give it in the config file or in VXGATE_ETCD_PASSWORD (or --etcd-password)",
            })
        }
        (None, Some(_)) => {
            return Err(ConfigError::Unpaired {
                key: "etcd-username",
                given: "a password (by --etcd-password, the config file's etcd-password or the VXGATE_ETCD_PASSWORD environment variable)".into(),
                fix: "give --etcd-username, or drop the password (check VXGATE_ETCD_PASSWORD in the environment)",
            })
        }
        (None, None) => None,
    };

    Ok(EtcdConfig {
        endpoints,
        prefix,
        tls,
        auth,
    })
}
