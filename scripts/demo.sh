#!/usr/bin/env bash
# Sets everything up and runs vxgate on a self-contained demo:
# `vxgate fwd` between two net_tap devices; a frame injected into one TAP
# from the kernel side comes out of the other, byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
BIN=./target/release/vxgate
A=vxdemo0 B=vxdemo1
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; }
trap cleanup EXIT
"$BIN" fwd --port-a net_tap0 --port-b net_tap1 -- -l 0-1 --no-pci \
  --vdev "net_tap0,iface=$A" --vdev "net_tap1,iface=$B" --file-prefix vxgate-demo \
  --log-level=lib.eal:warning > /tmp/vxgate-demo.out 2>&1 &
pid=$!
for _ in $(seq 100); do ip link show "$B" 2>/dev/null | grep -q "UP" && break; sleep 0.1; done
python3 scripts/inject_and_sniff.py "$A" "$B"
kill -TERM "$pid"; wait "$pid"; pid=
cat /tmp/vxgate-demo.out
