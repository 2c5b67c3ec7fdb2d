//! Metrics endpoint, logging and signals (non-worker threads).
#![deny(unsafe_code)]
