#!/usr/bin/env bash
# Runs vxgate's whole test suite (installs what it needs first).
# Each test runs in its own process (nextest): EAL starts once per process.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
. scripts/cargo-env.sh
cargo fmt --check
cargo clippy --all-targets -- -D warnings
# Benchmarks are built by clippy above and run by bench/*.sh, not here.
# nextest does not run doc tests; among them are compile_fail checks of
# the DPDK layer's safe API (Eal::launch stays on the main lcore's thread).
cargo test --doc -q
cargo nextest run --workspace --lib --bins --tests --no-fail-fast "$@"
