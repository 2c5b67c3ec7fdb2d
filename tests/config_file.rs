//! The TOML file: merge with flags, unknown keys, the shipped examples.
use std::path::{Path, PathBuf};

use vxgate::config::{Config, ConfigError, DeviceRef, FileConfig, Side, CONFIG_EXIT_CODE};

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("vxgate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("dpdk-config")
        .join(name)
}

const FILE: &str = r#"
underlay = "0000:3b:00.0"
underlay-ip = "172.28.147.40/28"
access = "0000:3b:00.1"
subnet = "10.244.255.0/24"
neighbor = ["access,10.244.255.10,02:00:00:00:00:0a"]
etcd-endpoints = ["http://10.0.0.5:2379", "http://10.0.0.6:2379"]
workers = 2
mbufs = 32768
log-level = "warn"
eal = ["-l", "0-2", "-n", "4"]
"#;

#[test]
fn flags_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), FILE);
    let p = path.to_str().unwrap();

    let file_only = Config::from_args(["--config", p]).unwrap();
    assert_eq!(
        file_only.underlay_dev,
        DeviceRef::Name("0000:3b:00.0".into())
    );
    assert_eq!(
        file_only.etcd.endpoints,
        ["http://10.0.0.5:2379", "http://10.0.0.6:2379"]
    );
    assert_eq!(file_only.workers, 2);
    assert_eq!(file_only.eal_args, ["-l", "0-2", "-n", "4"]);
    assert_eq!(file_only.neighbors.len(), 1);
    assert_eq!(file_only.config_file.as_deref(), Some(path.as_path()));

    let merged = Config::from_args([
        "--config",
        p,
        "--underlay",
        "net_tap0",
        "--workers",
        "1",
        "--log-level",
        "debug",
        "--etcd-endpoints",
        "http://127.0.0.1:2379",
        "--neighbor",
        "underlay,172.28.147.44,16:ab:0a:e0:e7:60",
        "--",
        "-l",
        "0-1",
        "--no-pci",
    ])
    .unwrap();
    assert_eq!(merged.underlay_dev, DeviceRef::Name("net_tap0".into()));
    assert_eq!(
        merged.access_dev,
        DeviceRef::Name("0000:3b:00.1".into()),
        "kept from file"
    );
    assert_eq!(merged.workers, 1);
    assert_eq!(merged.mbufs, 32768, "kept from file");
    assert_eq!(merged.log_level.as_deref(), Some("debug"));
    assert_eq!(merged.etcd.endpoints, ["http://127.0.0.1:2379"]);
    assert_eq!(merged.neighbors.len(), 1, "flag list replaces the file's");
    assert_eq!(merged.neighbors[0].side, Side::Underlay);
    assert_eq!(merged.eal_args, ["-l", "0-1", "--no-pci"]);

    // Merged values are validated together: the file's 2 workers do not fit
    // the 2 lcores given on the command line.
    let err = Config::from_args(["--config", p, "--", "-l", "0-1"]).unwrap_err();
    assert_eq!(err.key(), Some("workers"), "{err}");
}

#[test]
fn unknown_key_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        &format!("{FILE}\nunderlay_ip = \"1.2.3.4/24\"\n"),
    );
    let err = Config::from_args(["--config", path.to_str().unwrap()]).unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.exit_code(), CONFIG_EXIT_CODE);
    assert!(matches!(err, ConfigError::ParseFile { .. }), "{msg}");
    assert!(msg.contains("unknown field `underlay_ip`"), "{msg}");
    assert!(msg.contains("vxgate.toml"), "{msg}");

    let err = FileConfig::parse("config = \"/x.toml\"\n", Path::new("f.toml")).unwrap_err();
    assert!(err.to_string().contains("unknown field `config`"), "{err}");
}

/// A file that does not parse on a line that may hold a password (its
/// key names one, even misspelt): the error gives the place and the key,
/// never the line or the value, which would reach the journal.
#[test]
fn a_parse_error_never_shows_a_password() {
    for (file, secret, line, says) in [
        (
            "etcd-username = \"vx\"\netcd-password = 98765432123\n",
            "98765432123",
            "line 2, column 17, key `etcd-password`",
            "invalid type: integer `***`, expected a string",
        ),
        (
            "etcd-password = \"Pa\\ss-W0rd!\"\n",
            "Pa\\ss-W0rd!",
            "line 1, column 22, key `etcd-password`",
            "invalid escape sequence",
        ),
        (
            "etcd-pasword = \"s3cret-Pw\"\n",
            "s3cret-Pw",
            "line 1, column 1, key `etcd-pasword`",
            "unknown field `etcd-pasword`, expected one of",
        ),
        // A password put into another key's string, or another value
        // quoted back: the file holds a password, so no quoted string of
        // the message is shown (with escapes and backticks inside, and a
        // multi-byte character after an escape).
        (
            "etcd-password = \"x\"\nworkers = \"hunter2\"\n",
            "hunter2",
            "line 2, column 11, key `workers`",
            "invalid type: string \"***\", expected u32",
        ),
        (
            "etcd-password = \"x\"\nworkers = \"h\\\"u`n`t\\\\er2\"\n",
            "er2",
            "line 2, column 11, key `workers`",
            "invalid type: string \"***\", expected u32",
        ),
        (
            "etcd-password = \"x\"\nneighbor = \"access,10.0.0.1,x\"\n",
            "10.0.0.1",
            "line 2, column 12, key `neighbor`",
            "invalid type: string \"***\", expected a sequence",
        ),
        (
            "etcd-password = \"Pa\\ss-é\"\n",
            "é",
            "line 1, column 22, key `etcd-password`",
            "invalid escape sequence",
        ),
    ] {
        let err = FileConfig::parse(file, Path::new("f.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains(secret), "{msg}");
        assert!(msg.contains(line), "{msg}");
        assert!(msg.contains(says), "{msg}");
        assert!(msg.contains("the file may hold a password"), "{msg}");
    }
    // What toml reads a value as (hex, underscores, a float) is not the
    // line's text; a multi-line string ends lines after its key.
    for (file, secret) in [
        ("etcd-password = 98_765_432_123\n", "98765432123"),
        ("etcd-password = 0x98765432123\n", "10477124133155"),
        ("etcd-password = 9876.5e3\n", "9876500"),
        (
            "etcd-username = \"vx\"\netcd-password = \"\"\"\nSeCrEt\\q77\"\"\"\n",
            "SeCrEt",
        ),
        ("etcd-password = '''\nSeCrEt77\nnext'''x\n", "next"),
    ] {
        let err = FileConfig::parse(file, Path::new("f.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains(secret), "{file}: {msg}");
        assert!(msg.contains("the file may hold a password"), "{msg}");
    }
    // Other lines keep toml's own text, the line quoted.
    let err = FileConfig::parse("workers = \"two\"\n", Path::new("f.toml")).unwrap_err();
    assert!(err.to_string().contains("1 | workers = \"two\""), "{err}");
}

#[test]
fn file_errors_name_file_and_key() {
    let err = Config::from_args(["--config", "/nonexistent/vxgate.toml"]).unwrap_err();
    assert_eq!(err.exit_code(), CONFIG_EXIT_CODE);
    assert!(
        err.to_string().contains("/nonexistent/vxgate.toml"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "workers = \"two\"\n");
    let err = Config::from_args(["--config", path.to_str().unwrap()]).unwrap_err();
    assert!(err.to_string().contains("workers"), "{err}");

    // Not a string or an array of strings: what is expected, not serde's
    // internal enum name.
    for bad in ["5", "[\"http://10.0.0.5:2379\", 5]"] {
        let path = write(dir.path(), &format!("etcd-endpoints = {bad}\n"));
        let err = Config::from_args(["--config", path.to_str().unwrap()]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("etcd-endpoints"), "{msg}");
        assert!(msg.contains("array of URL strings"), "{msg}");
        assert!(!msg.contains("untagged"), "{msg}");
    }

    // Commas belong to the flag's form; in the file's array, one URL each.
    let path = write(
        dir.path(),
        &FILE.replace(
            r#"["http://10.0.0.5:2379", "http://10.0.0.6:2379"]"#,
            r#"["http://10.0.0.5:2379,http://10.0.0.6:2379"]"#,
        ),
    );
    let err = Config::from_args(["--config", path.to_str().unwrap()]).unwrap_err();
    assert_eq!(err.key(), Some("etcd-endpoints"), "{err}");
    assert!(
        err.to_string().contains("one URL per array element"),
        "{err}"
    );

    // A value error found after merging names the file key.
    let path = write(
        dir.path(),
        &FILE.replace("10.244.255.0/24", "10.244.255.7/24"),
    );
    let err = Config::from_args(["--config", path.to_str().unwrap()]).unwrap_err();
    assert_eq!(err.key(), Some("subnet"), "{err}");
}

#[test]
fn appliance_example_parses() {
    let cfg = Config::from_args(["--config", example("appliance.toml").to_str().unwrap()]).unwrap();
    assert_eq!(cfg.underlay_dev, DeviceRef::Name("0000:3b:00.0".into()));
    assert_eq!(cfg.access_dev, DeviceRef::Name("0000:3b:00.1".into()));
    assert_eq!(cfg.workers, 4);
    assert_eq!((cfg.underlay_mtu, cfg.access_mtu), (Some(9000), Some(9000)));
    assert_eq!(cfg.eal_args[..2], ["-l", "0-4"]);
    assert_eq!(cfg.etcd.endpoints.len(), 3);
    let tls = cfg.etcd.tls.as_ref().expect("appliance example uses TLS");
    assert!(tls.ca_file.is_some() && tls.identity.is_some());
    assert!(cfg.metrics_addr.is_some());
}

#[test]
fn ci_tap_example_parses() {
    let cfg = Config::from_args(["--config", example("ci-tap.toml").to_str().unwrap()]).unwrap();
    assert_eq!(cfg.underlay_dev, DeviceRef::Name("net_tap0".into()));
    assert_eq!(cfg.workers, 1);
    // Debug for vxgate only: the etcd client's h2/tower/hyper stay at info.
    assert_eq!(cfg.log_level.as_deref(), Some("vxgate=debug,info"));
    assert!(cfg.eal_args.iter().any(|a| a == "--no-pci"));
    assert!(cfg.eal_args.iter().any(|a| a == "net_tap0,iface=vxu0"));
    assert!(cfg.eal_args.iter().any(|a| a == "--file-prefix"));
    assert_eq!(
        cfg.access_ip_for(cfg.subnet.unwrap()).to_string(),
        "10.244.255.1/24"
    );
    cfg.check_files().unwrap();
}

#[test]
fn config_file_must_be_a_small_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let check = |path: &Path, part: &str| {
        let err = Config::from_args(["--config", path.to_str().unwrap()]).unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.exit_code(), CONFIG_EXIT_CODE, "{msg}");
        assert!(matches!(err, ConfigError::ReadFile { .. }), "{msg}");
        assert!(msg.contains(path.to_str().unwrap()), "{msg}");
        assert!(msg.contains(part), "{msg}");
        assert!(msg.contains("--config"), "{msg}");
        // SIGHUP reloads read through the same function.
        let err = FileConfig::load(path).unwrap_err();
        assert!(err.to_string().contains(part), "{err}");
    };
    // /dev/zero would grow memory without limit; a directory opens fine.
    check(
        Path::new("/dev/zero"),
        "not a regular file (it is a character device)",
    );
    check(dir.path(), "not a regular file (it is a directory)");
    // A FIFO would block on open.
    let fifo = dir.path().join("fifo.toml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        check(&fifo, "not a regular file (it is a FIFO)");
    }
    // Over 1 MiB.
    let big = dir.path().join("big.toml");
    let mut text = FILE.to_owned();
    while text.len() as u64 <= vxgate::config::MAX_CONFIG_FILE_BYTES {
        text.push_str("# padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&big, &text).unwrap();
    check(&big, "larger than 1 MiB");
    // Exactly at the limit is read.
    text.truncate(vxgate::config::MAX_CONFIG_FILE_BYTES as usize - 1);
    let cut = text.rfind('\n').unwrap();
    text.truncate(cut + 1);
    std::fs::write(&big, &text).unwrap();
    Config::from_args(["--config", big.to_str().unwrap()]).unwrap();
    // A symlink to a regular file (as Kubernetes ConfigMap mounts are) is fine.
    let link = dir.path().join("link.toml");
    std::os::unix::fs::symlink(&big, &link).unwrap();
    Config::from_args(["--config", link.to_str().unwrap()]).unwrap();
}

/// TLS paths in the file are relative to the file's directory (vxgate
/// under systemd starts in `/`); absolute ones and flags stay as given.
#[test]
fn relative_tls_paths_in_the_file_are_taken_from_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        r#"
underlay = "net_tap0"
underlay-ip = "172.28.147.40/28"
access = "net_tap1"
etcd-endpoints = ["https://10.0.0.5:2379"]
etcd-cafile = "tls/ca.pem"
etcd-certfile = "/etc/vxgate/tls/client.pem"
etcd-keyfile = "tls/client-key.pem"
eal = ["--no-pci"]
"#,
    );
    let p = path.to_str().unwrap();
    let cfg = Config::from_args(["--config", p]).unwrap();
    let tls = cfg.etcd.tls.expect("TLS configured");
    assert_eq!(tls.ca_file, Some(dir.path().join("tls/ca.pem")));
    let id = tls.identity.expect("client identity");
    assert_eq!(id.cert_file, PathBuf::from("/etc/vxgate/tls/client.pem"));
    assert_eq!(id.key_file, dir.path().join("tls/client-key.pem"));
    // A flag's relative path is the operator's, from the working directory.
    let flagged = Config::from_args(["--config", p, "--etcd-cafile", "ca.pem"]).unwrap();
    assert_eq!(
        flagged.etcd.tls.unwrap().ca_file,
        Some(PathBuf::from("ca.pem"))
    );
}
