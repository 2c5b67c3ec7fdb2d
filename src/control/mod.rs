//! flannel's etcd registry: config, leases, our own lease -> table updates.
#![deny(unsafe_code)]
