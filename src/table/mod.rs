//! Lockless lookup tables read by workers, written by one control thread.
#![deny(unsafe_code)]
