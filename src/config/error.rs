//! Configuration errors: each names the key, the problem and the fix.
use std::path::PathBuf;

/// Exit code for every configuration error (and for clap usage errors).
pub const CONFIG_EXIT_CODE: i32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Bad flag syntax, or `--help`/`--version` (then the "error" is the text
    /// to print and the exit code is 0).
    #[error("{0}")]
    Usage(#[from] clap::Error),

    #[error("cannot read config file {path}: {source}; check the path given to --config")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("config file {path} is not valid: {message}")]
    ParseFile { path: PathBuf, message: String },

    #[error("missing {key}: give --{key} {example} or `{key} = ...` in the config file")]
    Missing {
        key: &'static str,
        example: &'static str,
    },

    /// A key that must come with another one that is given.
    #[error("missing {key}: {given} is given without it; {fix}")]
    Unpaired {
        key: &'static str,
        given: String,
        fix: &'static str,
    },

    #[error("invalid {key} `{value}`: {problem}; {fix}")]
    Invalid {
        key: &'static str,
        value: String,
        problem: String,
        fix: String,
    },

    #[error("{key}: cannot use file {path}: {source}; {fix}")]
    UnusableFile {
        key: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
        fix: &'static str,
    },
}

impl ConfigError {
    pub(crate) fn invalid(
        key: &'static str,
        value: impl ToString,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        // An empty value reads as `""`, not as a broken pair of quotes.
        let value = match value.to_string() {
            v if v.is_empty() => "\"\"".to_owned(),
            v => v,
        };
        ConfigError::Invalid {
            key,
            value,
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// The flag / file key at fault, when there is one.
    pub fn key(&self) -> Option<&'static str> {
        match self {
            ConfigError::Missing { key, .. }
            | ConfigError::Unpaired { key, .. }
            | ConfigError::Invalid { key, .. }
            | ConfigError::UnusableFile { key, .. } => Some(key),
            ConfigError::Usage(_)
            | ConfigError::ReadFile { .. }
            | ConfigError::ParseFile { .. } => None,
        }
    }

    /// Process exit code: [`CONFIG_EXIT_CODE`], or clap's own (0 for `--help`).
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::Usage(e) => e.exit_code(),
            _ => CONFIG_EXIT_CODE,
        }
    }

    /// Prints the message (help text to stdout, errors to stderr) and exits
    /// with [`ConfigError::exit_code`].
    pub fn exit(&self) -> ! {
        match self {
            ConfigError::Usage(e) => e.exit(),
            other => {
                crate::ops::print_err(&format!("vxgate: {other}"));
                std::process::exit(other.exit_code())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ConfigError;

    #[test]
    fn an_empty_value_is_quoted_as_such() {
        let err = ConfigError::invalid("etcd-cafile", "", "empty path", "give a path");
        assert_eq!(
            err.to_string(),
            "invalid etcd-cafile `\"\"`: empty path; give a path"
        );
        let err = ConfigError::invalid("etcd-prefix", "x", "not absolute", "give /x");
        assert_eq!(
            err.to_string(),
            "invalid etcd-prefix `x`: not absolute; give /x"
        );
    }

    #[test]
    fn an_unpaired_key_names_what_is_given() {
        let err = ConfigError::Unpaired {
            key: "etcd-keyfile",
            given: "etcd-certfile /c.pem".into(),
            fix: "give the key",
        };
        assert_eq!(err.key(), Some("etcd-keyfile"));
        assert_eq!(
            err.to_string(),
            "missing etcd-keyfile: etcd-certfile /c.pem is given without it; give the key"
        );
    }
}
