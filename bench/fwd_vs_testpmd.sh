#!/usr/bin/env bash
# Packets per second of `vxgate fwd` next to `dpdk-testpmd --forward-mode=io`
# between two net_null devices, one forwarding core each, alternated ROUNDS
# times in the same run (ratios hold on noisy machines, absolute rates do not).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3} SECS=${SECS:-5}
# One command on a fresh machine: packages (dpdk-testpmd among them),
# hugepages and hugetlbfs, the release build (idempotent, quick when done).
./scripts/setup.sh
grep -q " /dev/hugepages hugetlbfs " /proc/mounts || { echo "refusing: no hugetlbfs (benchmarks never run under --no-huge)"; exit 1; }
cargo build --release --bins -q
trap 'rm -rf /var/run/dpdk/bfv /var/run/dpdk/bft' EXIT
EAL="-l 0-1 --no-pci --vdev net_null0 --vdev net_null1 --log-level=lib.eal:warning"
vx=() tp=()
for r in $(seq "$ROUNDS"); do
  out=$(./target/release/vxgate fwd --port-a net_null0 --port-b net_null1 --duration "$SECS" -- $EAL --file-prefix bfv 2>/dev/null)
  v=$(sed -n 's/.*rate \([0-9.]*\) Mpps.*/\1/p' <<<"$out")
  # testpmd: both ports forward (io mode, paired 0<->1); read the totals.
  t=$( (sleep "$SECS"; echo stop; echo quit) | dpdk-testpmd $EAL --file-prefix bft -- -i --forward-mode=io --auto-start 2>/dev/null \
       | awk '/Accumulated forward statistics for all ports/{f=1} f&&/RX-packets:/{print $2; exit}')
  t=$(awk -v n="$t" -v s="$SECS" 'BEGIN{printf "%.3f", n/s/1e6}')
  echo "round $r: vxgate fwd $v Mpps, testpmd io $t Mpps"
  vx+=("$v") tp+=("$t")
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
mv=$(med "${vx[@]}") mt=$(med "${tp[@]}")
ratio=$(awk -v a="$mv" -v b="$mt" 'BEGIN{printf "%.2f", a/b}')
echo "median: vxgate fwd $mv Mpps, testpmd io $mt Mpps, ratio $ratio"
echo "{\"vxgate_fwd_mpps\":$mv,\"testpmd_io_mpps\":$mt,\"ratio\":$ratio}"
