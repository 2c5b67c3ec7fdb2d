//! Flags + TOML file -> one validated Config, before EAL starts.
#![deny(unsafe_code)]
