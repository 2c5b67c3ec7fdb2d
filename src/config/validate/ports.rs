//! The port flags: the device each names, and a port's MTU.

use crate::config::types;
use crate::config::{canonical_device_name, ConfigError, DeviceRef, PORT_MTU_RANGE};

/// A port MTU flag (`underlay-mtu`, `access-mtu`, pktgen's `rx-mtu`):
/// absent, or inside [`PORT_MTU_RANGE`].
pub fn port_mtu(key: &'static str, value: Option<u32>) -> Result<Option<u16>, ConfigError> {
    let Some(v) = value else { return Ok(None) };
    match u16::try_from(v) {
        Ok(mtu) if PORT_MTU_RANGE.contains(&mtu) => Ok(Some(mtu)),
        _ => Err(ConfigError::invalid(
            key,
            v,
            format!(
                "outside the port MTUs vxgate sets ({} to {} bytes of IPv4 packet)",
                PORT_MTU_RANGE.start(),
                PORT_MTU_RANGE.end()
            ),
            format!(
                "give --{key} from {} to {} (9000 for jumbo frames), or leave it out for its default",
                PORT_MTU_RANGE.start(),
                PORT_MTU_RANGE.end()
            ),
        )),
    }
}

pub(super) fn device(key: &'static str, value: Option<String>) -> Result<DeviceRef, ConfigError> {
    let Some(value) = value else {
        return Err(ConfigError::Missing {
            key,
            example: "DEV (e.g. 0000:3b:00.0, net_tap0 or a port id)",
        });
    };
    let name = value.trim();
    if name.is_empty() {
        return Err(ConfigError::invalid(
            key,
            &value,
            types::EMPTY_DEVICE_NAME,
            types::DEVICE_NAME_FIX,
        ));
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return name.parse::<u16>().map(DeviceRef::PortId).map_err(|_| {
            ConfigError::invalid(
                key,
                name,
                "port ids go from 0 to 65535",
                "give the port id DPDK assigned, or the device name",
            )
        });
    }
    Ok(DeviceRef::Name(canonical_device_name(name)))
}
