#!/usr/bin/env bash
# Prepares a Debian 12 machine for vxgate: packages, hugepages, a build.
# Idempotent: run it as often as you like. Needs root (apt, sysfs, mount).
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(dpdk dpdk-dev libdpdk-dev pkg-config clang libclang-dev protobuf-compiler
      etcd-server etcd-client iproute2 iputils-ping tshark tcpdump python3 openssl
      netcat-openbsd procps curl ca-certificates ethtool)

need_install=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_install+=("$p")
done
if [ ${#need_install[@]} -gt 0 ]; then
  echo "setup: installing ${need_install[*]}"
  export DEBIAN_FRONTEND=noninteractive
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_install[@]}" >/dev/null
fi
# Debian enables etcd.service on install; the tests start their own etcd
# instances on free loopback ports, so the packaged one is not needed.
systemctl disable --now etcd >/dev/null 2>&1 || true

# 2 MB hugepages for DPDK (2 GiB), and hugetlbfs where EAL looks for it.
want=${VXGATE_HUGEPAGES:-1024}
nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
if [ "$(cat $nr)" -lt "$want" ]; then
  echo "$want" > $nr
fi
if [ "$(cat $nr)" -lt 256 ]; then
  echo "setup: could reserve only $(cat $nr) hugepages (memory fragmented?)" >&2
  exit 1
fi
if ! grep -q " /dev/hugepages hugetlbfs " /proc/mounts; then
  mkdir -p /dev/hugepages
  mount -t hugetlbfs nodev /dev/hugepages
fi

# Rust: rustup installs it per user, so under sudo cargo is often off the
# PATH (scripts/cargo-env.sh finds it); else install rustup (its minimal
# profile) from rustup.rs.
. scripts/cargo-env.sh
if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; installing Rust with rustup (https://rustup.rs)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal \
    || { echo "setup: could not install Rust; install it with rustup and run this again" >&2; exit 1; }
  export PATH="$HOME/.cargo/bin:$PATH"
fi
# The test suite checks formatting and lints.
if command -v rustup >/dev/null; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
t0=$(date +%s)
cargo build --release --bins
echo "setup: release build took $(( $(date +%s) - t0 )) s"
