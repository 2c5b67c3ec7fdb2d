//! The worker count, against the lcores EAL will have.

use crate::config::eal;
use crate::config::{lcore_count, ConfigError, DEFAULT_WORKERS};

pub(super) fn workers(value: Option<u32>, eal: &[String]) -> Result<u16, ConfigError> {
    const KEY: &str = "workers";
    let n = value.unwrap_or(u32::from(DEFAULT_WORKERS));
    let lcores = lcore_count(eal).map_err(|e| {
        ConfigError::invalid(
            "eal",
            eal::shorten(&eal.join(" ")),
            e.to_string(),
            "fix the lcore option after `--` (or the file's `eal` list)",
        )
    })?;
    if n == 0 {
        return Err(ConfigError::invalid(
            KEY,
            n,
            "at least one worker is needed",
            "give --workers 1 or more",
        ));
    }
    if n >= eal::MAX_LCORE {
        return Err(ConfigError::invalid(
            KEY,
            n,
            format!(
                "more workers than lcores can exist: this DPDK has at most {} lcores (RTE_MAX_LCORE) and the main lcore runs the control plane",
                eal::MAX_LCORE
            ),
            format!("give at most {} workers", eal::MAX_LCORE - 1),
        ));
    }
    // The lcores EAL will have: those the arguments name, else one per CPU
    // this process may run on (unknown if that list cannot be read).
    // The example option names CPUs this process may run on (EAL pins
    // lcores there whatever the affinity), in a form a shell takes as is.
    let allowed = eal::allowed_cpu_list();
    let example = eal::lcore_option_for(n as usize + 1, allowed.as_deref());
    let bound = match lcores {
        Some(l) => Some((
            l,
            format!("the EAL arguments give {l} lcore(s)"),
            format!("lower --workers or name {} lcores after `--` (e.g. {example})", n + 1),
        )),
        None => eal::default_lcore_count().map(|c| {
            (
                c,
                format!("no EAL lcore option is given, so EAL makes one lcore per CPU this process may run on ({c})"),
                format!(
                    "lower --workers, or name {} lcores after `--` (e.g. {example}: several lcores may share CPUs, at the cost of their speed)",
                    n + 1,
                ),
            )
        }),
    };
    if let Some((have, whence, fix)) = bound {
        if n as usize + 1 > have {
            return Err(ConfigError::invalid(
                KEY,
                n,
                format!(
                    "{whence}; the main lcore runs the control plane, so at most {} worker(s) fit",
                    have.saturating_sub(1)
                ),
                fix,
            ));
        }
    }
    Ok(n as u16) // below MAX_LCORE
}
