//! The TOML configuration file: the flags' keys, kebab-case, no others.
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;

/// `etcd-endpoints` may be one comma-separated string, like the flag, or a
/// TOML array of URLs.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Endpoints {
    List(Vec<String>),
    Joined(String),
}

impl Endpoints {
    pub fn into_list(self) -> Vec<String> {
        match self {
            Endpoints::List(list) => list,
            Endpoints::Joined(s) => s.split(',').map(str::to_owned).collect(),
        }
    }
}

/// Contents of `--config FILE`. Keys are the flag names without dashes;
/// an unknown key is an error that names it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileConfig {
    pub underlay: Option<String>,
    pub underlay_ip: Option<String>,
    pub underlay_gateway: Option<String>,
    pub access: Option<String>,
    pub access_ip: Option<String>,
    pub subnet: Option<String>,
    pub vtep_mac: Option<String>,
    #[serde(default)]
    pub neighbor: Vec<String>,
    pub etcd_endpoints: Option<Endpoints>,
    pub etcd_prefix: Option<String>,
    pub etcd_cafile: Option<PathBuf>,
    pub etcd_certfile: Option<PathBuf>,
    pub etcd_keyfile: Option<PathBuf>,
    pub etcd_username: Option<String>,
    pub etcd_password: Option<String>,
    pub subnet_lease_renew_margin: Option<u32>,
    pub subnet_lease_ttl: Option<u64>,
    pub metrics_addr: Option<String>,
    pub workers: Option<u32>,
    pub mbufs: Option<u32>,
    pub log_level: Option<String>,
    /// EAL arguments (without a program name), used when none follow `--`.
    #[serde(default)]
    pub eal: Vec<String>,
}

impl FileConfig {
    /// Parses TOML text; `path` only labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::ParseFile {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }

    /// Reads and parses the file.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        FileConfig::parse(&text, path)
    }
}
