//! The `log-level` syntax vxgate accepts: stricter than tracing's
//! `EnvFilter`, which reads any bare word as a target name, so a typo such
//! as `--log-level inf` would silently turn every other line off.

/// Level names, matched without regard to case.
pub const LOG_LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];

/// What to give instead of a refused `log-level`: one text for the start
/// and for SIGHUP's reload, so both list the same levels.
pub const LOG_LEVEL_FIX: &str = "use error, warn, info, debug, trace or off, or comma-separated TARGET=LEVEL directives like vxgate::control=debug,info";

/// Checks `log-level`: a level (`error`, `warn`, `info`, `debug`, `trace`,
/// `off`, any case), or comma-separated directives each of which is a
/// level or `target=level`, the target made of `A-Z a-z 0-9 _ :` (a Rust
/// module path such as `vxgate::control`). Returns the value to give
/// tracing, or the problem.
///
/// Blanks around the value and around each directive are dropped from the
/// returned value: tracing 0.3 reads ` info` (after a comma) as a target
/// name, so `vxgate=debug, info` would otherwise turn `info` off.
pub fn check_log_level(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("empty".to_owned());
    }
    let mut normalized = Vec::new();
    for directive in value.split(',') {
        let directive = directive.trim();
        if directive.is_empty() {
            return Err(
                "an empty directive (a comma at the start or end, or two in a row)".to_owned(),
            );
        }
        match directive.split_once('=') {
            Some((target, level)) => {
                if target.is_empty() {
                    return Err(format!("`{directive}` has no target before `=`"));
                }
                if let Some(c) = target
                    .chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == ':'))
                {
                    return Err(format!(
                        "target `{target}` contains {c:?}; a target is a Rust module path such as vxgate::control"
                    ));
                }
                if !is_level(level) {
                    return Err(format!("`{level}` in `{directive}` is not a level"));
                }
            }
            None if is_level(directive) => {}
            None => {
                return Err(format!(
                    "`{directive}` is not a level (tracing would take it for a target name and log nothing else)"
                ))
            }
        }
        normalized.push(directive);
    }
    Ok(normalized.join(","))
}

fn is_level(s: &str) -> bool {
    LOG_LEVELS.iter().any(|l| l.eq_ignore_ascii_case(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The advice names every level there is.
    #[test]
    fn the_fix_lists_every_level() {
        for level in LOG_LEVELS {
            assert!(LOG_LEVEL_FIX.contains(level), "{level}");
        }
    }

    #[test]
    fn accepted() {
        for v in [
            "info",
            "DEBUG",
            " Warn ",
            "off",
            "trace",
            "error",
            "vxgate=debug,info",
            "vxgate::control=debug, info",
            "h2=warn,tower_http=off,vxgate::ops::logging=TRACE",
            "warn,vxgate=debug",
        ] {
            let n = check_log_level(v).unwrap_or_else(|e| panic!("{v}: {e}"));
            assert!(!n.contains(' '), "{n}");
        }
        assert_eq!(
            check_log_level(" vxgate::control=debug , info ").unwrap(),
            "vxgate::control=debug,info"
        );
        assert_eq!(check_log_level(" Warn ").unwrap(), "Warn");
    }

    #[test]
    fn refused() {
        for (v, part) in [
            ("bogus", "`bogus` is not a level"),
            ("", "empty"),
            ("  ", "empty"),
            ("é", "`é` is not a level"),
            ("inf", "not a level"),
            ("info,", "empty directive"),
            (",info", "empty directive"),
            ("info,,debug", "empty directive"),
            (
                "vxgate=verbose",
                "`verbose` in `vxgate=verbose` is not a level",
            ),
            ("vxgate=", "is not a level"),
            ("=debug", "no target"),
            ("vx-gate=debug", "contains '-'"),
            ("vxgate =debug", "contains ' '"),
            (
                "vxgate= debug",
                "` debug` in `vxgate= debug` is not a level",
            ),
            ("vxgate[span]=debug", "contains '['"),
            ("vxgate=debug=info", "not a level"),
            ("info,[[", "not a level"),
            ("3", "not a level"),
        ] {
            let err = check_log_level(v).expect_err(v);
            assert!(err.contains(part), "{v:?}: {err}");
        }
    }
}
