//! Finding ports: those EAL probed, with their names, and a port by device name or id.

use std::ffi::{CStr, CString};

use super::{with_ethdev, Locked};
use crate::dpdk::error::{DpdkError, Result};
use crate::ffi;

/// Port ids of every device EAL probed, with their names (none when EAL
/// is not running).
pub fn available_ports() -> Vec<(u16, String)> {
    with_ethdev(|l| available(l)).unwrap_or_default()
}

fn available(l: &Locked) -> Vec<(u16, String)> {
    let mut out = Vec::new();
    for id in 0..ffi::RTE_MAX_ETHPORTS as u16 {
        // SAFETY: any port id may be asked about; EAL runs (caller's Live).
        if unsafe { ffi::rte_eth_dev_is_valid_port(id) } == 1 {
            out.push((id, port_name(l, id)));
        }
    }
    out
}

pub(super) fn port_name(_: &Locked, id: u16) -> String {
    let mut buf = [0 as std::os::raw::c_char; 64];
    // SAFETY: buf is large enough (RTE_ETH_NAME_MAX_LEN is 64) and
    // NUL-terminated by DPDK; the lock keeps the port from closing meanwhile.
    let rc = unsafe { ffi::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
    if rc != 0 {
        return format!("port{id}");
    }
    // SAFETY: DPDK wrote a NUL-terminated string into buf.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Finds a port by device name (`net_tap0`, `0000:3b:00.0`) or numeric id.
pub fn find_port(name_or_id: &str) -> Result<u16> {
    with_ethdev(|l| find(l, name_or_id)).unwrap_or_else(|| {
        Err(DpdkError::UnknownDevice {
            name: name_or_id.to_owned(),
            available: "none (EAL is not running)".into(),
        })
    })
}

/// The ports EAL probed as errors list them: `0=net_tap0, 1=net_tap1`.
pub(crate) fn available_text() -> String {
    with_ethdev(|l| available_text_of(l)).unwrap_or_else(|| "none (EAL is not running)".into())
}

fn available_text_of(l: &Locked) -> String {
    let list: Vec<String> = available(l)
        .into_iter()
        .map(|(id, n)| format!("{id}={n}"))
        .collect();
    if list.is_empty() {
        "none (no --vdev or -a device was probed)".into()
    } else {
        list.join(", ")
    }
}

pub(super) fn find(l: &Locked, name_or_id: &str) -> Result<u16> {
    let unknown = || DpdkError::UnknownDevice {
        name: name_or_id.to_owned(),
        available: available_text_of(l),
    };
    if let Ok(id) = name_or_id.parse::<u16>() {
        // SAFETY: any port id may be asked about.
        if unsafe { ffi::rte_eth_dev_is_valid_port(id) } == 1 {
            return Ok(id);
        }
        return Err(unknown());
    }
    let cname = CString::new(name_or_id).map_err(|_| unknown())?;
    let mut id = 0u16;
    // SAFETY: cname is a valid C string; id is a valid out-pointer.
    let rc = unsafe { ffi::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
    if rc == 0 {
        Ok(id)
    } else {
        Err(unknown())
    }
}
