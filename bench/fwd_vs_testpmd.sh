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
LOG=$(mktemp /tmp/vxgate-fwd-testpmd.XXXXXX)
# testpmd stopped by a signal leaves its page files in hugetlbfs.
trap 'rm -rf /var/run/dpdk/bfv /var/run/dpdk/bft /dev/hugepages/bfvmap_* /dev/hugepages/bftmap_* "$LOG"' EXIT
EAL="-l 0-1 --no-pci --vdev net_null0 --vdev net_null1 --log-level=lib.eal:warning"
vx=() tp=()
for r in $(seq "$ROUNDS"); do
  out=$("${CARGO_TARGET_DIR:-./target}"/release/vxgate fwd --port-a net_null0 --port-b net_null1 --duration "$SECS" -- $EAL --file-prefix bfv 2>/dev/null)
  v=$(sed -n 's/.*rate \([0-9.]*\) Mpps.*/\1/p' <<<"$out")
  # testpmd: both ports forward (io mode, paired 0<->1). Its rate, like
  # vxgate fwd's (counted once forwarding started), leaves its start-up
  # out: the per-second Rx-pps of both ports summed, the median after the
  # first two seconds. Stopped by `timeout` (exit 124) is how it ends.
  rc=0
  timeout -s INT $((SECS + 3)) dpdk-testpmd $EAL --file-prefix bft -- --forward-mode=io \
    --stats-period 1 >"$LOG" 2>&1 || rc=$?
  [ "$rc" -eq 124 ] || { tail -n 20 "$LOG"; echo "testpmd round $r failed (exit $rc)"; exit 1; }
  t=$(awk '/Rx-pps:/{s+=$2; n++; if (n % 2 == 0) {print s; s=0}}' "$LOG" | tail -n +3 | sort -g \
      | awk '{a[NR]=$1} END{if (NR) printf "%.3f", a[int((NR+1)/2)]/1e6}')
  awk -v t="${t:-0}" -v v="${v:-0}" 'BEGIN{exit !(t > 0 && v > 0)}' \
    || { tail -n 20 "$LOG"; echo "round $r measured no rate (vxgate fwd '$v', testpmd '$t')"; exit 1; }
  echo "round $r: vxgate fwd $v Mpps, testpmd io $t Mpps"
  vx+=("$v") tp+=("$t")
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
mv=$(med "${vx[@]}") mt=$(med "${tp[@]}")
ratio=$(awk -v a="$mv" -v b="$mt" 'BEGIN{printf "%.2f", a/b}')
echo "median: vxgate fwd $mv Mpps, testpmd io $mt Mpps, ratio $ratio"
echo "{\"vxgate_fwd_mpps\":$mv,\"testpmd_io_mpps\":$mt,\"ratio\":$ratio}"
