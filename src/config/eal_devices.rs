//! Whether EAL, given its arguments, would give us a port of the name
//! `--underlay` / `--access` ask for: checked before EAL starts (and by
//! `--check-config`), so a missing `--vdev` or a PCI address that is not
//! on this machine is a config error (exit 2) rather than EAL's or the
//! port lookup's failure after it (exit 1, which a service manager
//! restarts forever).

use super::types::canonical_device_name;

/// What EAL's arguments say about devices.
#[derive(Debug, Default, PartialEq, Eq)]
struct EalDevices {
    /// `--vdev NAME[,ARGS]`: the names EAL creates virtual ports for.
    vdevs: Vec<String>,
    /// `-a` / `--allow`: when any is given, the only PCI devices probed.
    allow: Vec<String>,
    /// `-b` / `--block`: PCI devices never probed.
    block: Vec<String>,
    no_pci: bool,
}

/// Reads the device options of `eal` (`--opt VALUE`, `--opt=VALUE`, and
/// `-aVALUE` for the short ones, as getopt takes them).
fn eal_devices(eal: &[String]) -> EalDevices {
    let mut d = EalDevices::default();
    let name = |v: &str| canonical_device_name(v.split(',').next().unwrap_or(v));
    let mut it = eal.iter().map(String::as_str);
    while let Some(arg) = it.next() {
        let (opt, inline) = match arg.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o, Some(v)),
            _ => match arg.get(..2) {
                Some(o @ ("-a" | "-b")) if arg.len() > 2 => (o, Some(&arg[2..])),
                _ => (arg, None),
            },
        };
        let list = match opt {
            "--vdev" => &mut d.vdevs,
            "-a" | "--allow" => &mut d.allow,
            "-b" | "--block" => &mut d.block,
            "--no-pci" => {
                d.no_pci = true;
                continue;
            }
            _ => continue,
        };
        if let Some(v) = inline.or_else(|| it.next()) {
            list.push(name(v));
        }
    }
    d
}

/// `dddd:bb:dd.f`, the form [`canonical_device_name`] gives a PCI address.
fn is_pci_address(canonical: &str) -> bool {
    let b = canonical.as_bytes();
    b.len() == 12 && b[4] == b':' && b[7] == b':' && b[10] == b'.'
}

/// Why EAL would give no port named `dev` (canonical, as the config holds
/// it): (problem, fix); `None` when it would, or when the arguments cannot
/// tell (a port id; a name that is neither a PCI address nor a `net_`
/// virtual device, such as another bus's device). `pci_present` says
/// whether this machine has the PCI device.
pub fn device_missing(
    eal: &[String],
    dev: &str,
    pci_present: impl Fn(&str) -> bool,
) -> Option<(String, String)> {
    let d = eal_devices(eal);
    if is_pci_address(dev) {
        let problem = if d.no_pci {
            "it is a PCI device, and the EAL arguments say --no-pci".to_string()
        } else if d.block.iter().any(|b| b == dev) {
            "the EAL arguments block it (-b), so EAL would not probe it".to_string()
        } else if !d.allow.is_empty() && !d.allow.iter().any(|a| a == dev) {
            format!(
                "the EAL arguments allow only {} on the PCI bus (-a), so EAL would not probe it",
                d.allow.join(", ")
            )
        } else if !pci_present(dev) {
            "this machine has no PCI device of that address (/sys/bus/pci/devices)".to_string()
        } else {
            return None;
        };
        let fix = format!(
            "give the address of a NIC bound for DPDK (`dpdk-devbind.py --status` lists them) and let EAL probe it: no --no-pci, -a {dev} when other -a are given, no -b {dev}"
        );
        return Some((problem, fix));
    }
    if dev.starts_with("net_") && !d.vdevs.iter().any(|v| v == dev) {
        let made = if d.vdevs.is_empty() {
            "none".to_string()
        } else {
            d.vdevs.join(", ")
        };
        return Some((
            format!("the EAL arguments create no virtual device of that name (their --vdev: {made})"),
            format!(
                "add `--vdev {dev},...` with the driver's arguments (e.g. `--vdev net_tap0,iface=vxu0`) after `--` or to the file's `eal` list, or name a device that a --vdev creates"
            ),
        ));
    }
    None
}

/// Whether this machine has the PCI device `dev` (canonical address).
pub fn pci_present(dev: &str) -> bool {
    std::path::Path::new("/sys/bus/pci/devices")
        .join(dev)
        .exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn device_options_are_read_in_every_form() {
        let d = eal_devices(&args(
            "-l 0-1 --vdev net_tap0,iface=a --vdev=net_pcap1,rx_pcap=x.pcap -a 3B:00.0,rxq=2 --allow=0000:3b:00.1 -a0000:5e:00.0 -b 5e:00.1 --block=0000:af:00.0 --no-pci --file-prefix a",
        ));
        assert_eq!(d.vdevs, ["net_tap0", "net_pcap1"]);
        assert_eq!(d.allow, ["0000:3b:00.0", "0000:3b:00.1", "0000:5e:00.0"]);
        assert_eq!(d.block, ["0000:5e:00.1", "0000:af:00.0"]);
        assert!(d.no_pci);
        // A missing value is none.
        assert_eq!(eal_devices(&args("--vdev")).vdevs, Vec::<String>::new());
        // Long options that only begin like the short ones.
        assert_eq!(
            eal_devices(&args("--allow-x 0000:3b:00.0")),
            EalDevices::default()
        );
    }

    #[test]
    fn a_virtual_device_needs_its_vdev() {
        let eal = args("-l 0-1 --vdev net_tap0,iface=a --vdev=net_null1");
        let none = |_: &str| false;
        assert_eq!(device_missing(&eal, "net_tap0", none), None);
        assert_eq!(device_missing(&eal, "net_null1", none), None);
        let (problem, fix) = device_missing(&eal, "net_tap1", none).unwrap();
        assert!(problem.contains("net_tap0, net_null1"), "{problem}");
        assert!(fix.contains("--vdev net_tap1,"), "{fix}");
        let (problem, _) = device_missing(&args("-l 0-1"), "net_tap0", none).unwrap();
        assert!(problem.contains("(their --vdev: none)"), "{problem}");
        // Port ids and other buses' names are not judged.
        assert_eq!(device_missing(&args("-l 0-1"), "0", none), None);
        assert_eq!(device_missing(&args("-l 0-1"), "eth_pcap0", none), None);
    }

    #[test]
    fn a_pci_device_must_be_there_and_probed() {
        let here = |d: &str| d == "0000:3b:00.0";
        let dev = "0000:3b:00.0";
        assert_eq!(device_missing(&args("-l 0-1"), dev, here), None);
        assert_eq!(device_missing(&args("-a 3b:00.0"), dev, here), None);
        for (eal, says) in [
            ("-l 0-1", "no PCI device"),
            ("--no-pci", "--no-pci"),
            ("-b 3b:00.0", "block it"),
            ("-a 0000:5e:00.0", "allow only 0000:5e:00.0"),
        ] {
            let present = |d: &str| says != "no PCI device" && here(d);
            let (problem, fix) = device_missing(&args(eal), dev, present)
                .unwrap_or_else(|| panic!("{eal}: not refused"));
            assert!(problem.contains(says), "{eal}: {problem}");
            assert!(fix.contains("dpdk-devbind.py"), "{fix}");
        }
    }
}
