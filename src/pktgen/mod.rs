//! Traffic generator and measurement.
#![deny(unsafe_code)]
