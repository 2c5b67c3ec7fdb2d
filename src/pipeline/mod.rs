//! Classify, encap, decap and slow path: the per-burst packet logic.
#![deny(unsafe_code)]
