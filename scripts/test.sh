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

# Leftovers of test processes killed before their cleanup ran (a test that
# timed out is killed, no Drop runs): EAL runtime dirs and hugepage files
# whose prefix ends in the pid of a process that is gone, and the e2e
# namespaces of a tag (the pid, seven digits) no running process has, with
# no process inside. Anything of a live test is left alone.
alive_tag() { kill -0 "$((10#$1))" 2>/dev/null; }
for f in /var/run/dpdk/vxt-* /dev/hugepages/vxt-*; do
  [ -e "$f" ] || continue
  pid=$(basename "$f" | sed -n 's/^vxt-.*-\([0-9][0-9]*\)\(map_[0-9]*\)\{0,1\}$/\1/p')
  if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then rm -rf "$f"; fi
done
for f in /var/run/dpdk/vxe-* /dev/hugepages/vxe-*; do
  [ -e "$f" ] || continue
  tag=$(basename "$f" | sed -n 's/^vxe-\([0-9][0-9]*\).*/\1/p')
  if [ -n "$tag" ] && ! alive_tag "$tag"; then rm -rf "$f"; fi
done
for ns in $(ip netns list 2>/dev/null | awk '/^vxe[0-9]/{print $1}'); do
  tag=$(sed -n 's/^vxe\([0-9][0-9]*\).*/\1/p' <<<"$ns")
  if [ -n "$tag" ] && ! alive_tag "$tag" && [ -z "$(ip netns pids "$ns" 2>/dev/null)" ]; then
    ip netns del "$ns" 2>/dev/null || true
  fi
done

cargo nextest run --workspace --lib --bins --tests --no-fail-fast "$@"
