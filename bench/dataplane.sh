#!/usr/bin/env bash
# vxgate's data plane (benches/dataplane.rs: one Worker, net_pcap -> net_null)
# next to dpdk-testpmd --forward-mode=macswap on the same devices and pcaps,
# alternated ROUNDS times in one run; plus lookup scaling (10 vs 1 000 000
# leases, each on a pcap of 1 048 576 frames: with a million leases a frame
# to every lease, or from every VTEP) and 1 000 lease changes/s during the run;
# and the yardsticks: `vxgate fwd` (the I/O floor, no packet work) and the
# write passes alone (encap_write, decap_write: the rewrite without checks
# or lookups, the least any VXLAN encap or decap adds to that floor).
# Prints a table and ONE JSON object (last line). Ratios are per round, then
# the median: on a shared machine only same-run ratios mean something.
# SET=yardsticks runs only macswap, the floor, the write alone and the full
# path, both ways, and prints each one's least and median cycles/packet
# with the budget 0.75 x macswap leaves after the write (docs/performance.md,
# "What limits the remaining gap"): the least of several rounds is the run
# the VM's neighbours slowed least.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3} SECS=${SECS:-3} SET=${SET:-all}
case "$SET" in all|yardsticks) ;; *) echo "SET=$SET: all or yardsticks"; exit 1 ;; esac
# One command on a fresh machine: packages (dpdk-testpmd among them),
# hugepages and hugetlbfs, the release build (idempotent, quick when done).
./scripts/setup.sh

grep -q " /dev/hugepages hugetlbfs " /proc/mounts \
  || { echo "refusing: no hugetlbfs mounted (benchmarks never run under --no-huge)"; exit 1; }
free=$(awk '/^HugePages_Free:/{print $2}' /proc/meminfo)
[ "${free:-0}" -ge 512 ] || { echo "refusing: $free free hugepages, need 512 x 2 MiB (echo 1024 > /proc/sys/vm/nr_hugepages)"; exit 1; }
command -v dpdk-testpmd >/dev/null || { echo "dpdk-testpmd not found (apt-get install dpdk)"; exit 1; }

cargo build --release --bins -q
BENCH=$(cargo bench --bench dataplane --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -1)
[ -x "$BENCH" ] || { echo "could not find the dataplane bench executable"; exit 1; }
VX=${CARGO_TARGET_DIR:-./target}/release/vxgate

TMP=$(mktemp -d /tmp/vxgate-dataplane.XXXXXX)
cleanup() {
  rm -rf "$TMP"
  rm -rf /var/run/dpdk/vxbd* /var/run/dpdk/vxbt* /var/run/dpdk/vxbf* \
    /dev/hugepages/vxbd*map_* /dev/hugepages/vxbt*map_* /dev/hugepages/vxbf*map_* 2>/dev/null || true
}
trap cleanup EXIT

# The layout benches/dataplane.rs serves (see its header): Network 10.0.0.0/8,
# SubnetLen 28, own subnet 10.255.255.240/28, hosts from .242, VTEP i at
# 100.64.0.0 + i, underlay 172.28.147.40.
NET="--network 10.0.0.0/8 --subnet-len 28 --host-ip 10.255.255.242 --hosts 4"
inner() { # file leases frames
  $VX pktgen --write-pcap "$1" --mode inner --dst-mac 02:00:00:00:00:aa $NET \
    --leases "$2" --flows "$3" --count "$3" >/dev/null; }
vxlan() { # file vteps frames
  $VX pktgen --write-pcap "$1" --mode vxlan --dst-mac 02:00:00:00:00:bb $NET \
    --vteps "$2" --vtep-base 100.64.0.0 --gw-ip 172.28.147.40 \
    --gw-vtep-mac 0e:aa:bb:cc:dd:ee --flows "$3" --count "$3" >/dev/null; }
inner "$TMP/inner.pcap" 1000 4096
vxlan "$TMP/vxlan.pcap" 1000 4096
# Lookup scaling: traffic over all of a million leases (one frame each,
# the table far beyond the caches) against 10, with as many frames, so only
# the lease count differs. Held in mbufs of a small data room: a million
# frames in ~600 MB of hugepages.
LOOKUP_FRAMES=1048576
LOOKUP_ENV="VXB_DATA_ROOM=384 VXB_MBUFS=$((LOOKUP_FRAMES + 32768))"
if [ "$SET" = all ]; then
  inner "$TMP/inner-10.pcap" 10 $LOOKUP_FRAMES
  inner "$TMP/inner-1m.pcap" 1000000 $LOOKUP_FRAMES
  vxlan "$TMP/vxlan-10.pcap" 10 $LOOKUP_FRAMES
  vxlan "$TMP/vxlan-1m.pcap" 1000000 $LOOKUP_FRAMES
fi

# fail OUTPUT WHY: a run that failed or printed no figure stops the bench
# with what it printed, never enters the medians as zero.
fail() { printf '%s\n' "$1" >&2; echo "$2" >&2; exit 1; }

RES="$TMP/results.txt"
: >"$RES"
# vxgate NAME MODE PCAP LEASES CHURN [WORKERS]: one bench run, its RESULT
# line kept. With WORKERS, lcores 1 and 2 are pinned to CPUs 0 and 1 (the
# main lcore, which only sleeps and samples, shares CPU 0), so 1 and 2
# workers run on the same layout; each worker has its own pcap and null port.
# VXB_EXTRA (set for one call) adds bench settings (the lookup runs' pool).
vxgate() {
  local out lcores=0-1 workers=1
  [ -n "${6:-}" ] && { workers=$6; lcores='0@0,1@0,2@1'; }
  # shellcheck disable=SC2086 # VXB_EXTRA is a list of assignments
  out=$(env ${VXB_EXTRA:-} VXB_MODE=$2 VXB_PCAP=$3 VXB_LEASES=$4 VXB_CHURN=$5 VXB_SECS=$SECS \
        VXB_PREFIX=vxbd VXB_WORKERS=$workers VXB_LCORES=$lcores "$BENCH" 2>&1) \
    || fail "$out" "bench run $1 failed"
  local line; line=$(sed -n 's/^RESULT //p' <<<"$out")
  [ -n "$line" ] || fail "$out" "bench run $1 printed no RESULT line"
  # Every packet forwarded: a figure that counts drops is no throughput.
  grep -q '"drops":0,' <<<"$line" || fail "$out" "bench run $1 dropped packets"
  # The churn really applied: at least 90 % of the changes asked for.
  if [ "$5" -gt 0 ]; then
    local changes asked; changes=$(sed -n 's/.*"changes":\([0-9]*\).*/\1/p' <<<"$line")
    asked=$(awk -v r="$5" -v s="$SECS" 'BEGIN{printf "%d", r * s}')
    awk -v c="${changes:-0}" -v w="$asked" 'BEGIN{exit !(w > 0 && c >= 0.9 * w)}' \
      || fail "$out" "bench run $1 made ${changes:-no} lease changes of $asked asked for"
  fi
  printf '%s %s %s\n' "$r" "$1" "$line" >>"$RES"
  printf '  %-14s %s\n' "$1" "$(grep -m1 Mpps <<<"$out" | sed 's/^ *//')"
}
# testpmd NAME MODE PCAP: Rx-pps of port 0 every second; the median after
# the first two samples (start-up).
testpmd() {
  local pps rc=0 log="$TMP/testpmd.log"
  # Stopped by `timeout` (exit 124) is how every run ends; any other exit
  # is a failure (EAL, pcap, hugepages), never a row of zeros.
  timeout -s INT $((SECS + 3)) dpdk-testpmd -l 0-1 --no-pci \
    --vdev "net_pcap0,rx_pcap=$3,infinite_rx=1" --vdev net_null0,no-rx=1 \
    --file-prefix vxbt --log-level=lib.eal:warning -- \
    --forward-mode="$2" --stats-period 1 --total-num-mbufs=32768 >"$log" 2>&1 || rc=$?
  [ "$rc" -eq 124 ] || fail "$(tail -n 30 "$log")" "testpmd run $1 failed (exit $rc)"
  pps=$(awk '/Rx-pps:/{n++; if (n % 2 == 1) print $2}' "$log" | tail -n +3 | sort -g \
        | awk '{a[NR]=$1} END{if (NR) print a[int((NR+1)/2)]}')
  [ -n "$pps" ] || fail "$(tail -n 30 "$log")" "testpmd run $1 printed no Rx-pps samples"
  printf '%s %s {"mpps":%s}\n' "$r" "$1" "$(awk -v p="$pps" 'BEGIN{printf "%.3f", p/1e6}')" >>"$RES"
  printf '  %-14s %.2f Mpps\n' "$1" "$(awk -v p="$pps" 'BEGIN{print p/1e6}')"
}

# floor NAME PCAP: `vxgate fwd` on the same devices: vxgate's burst loop
# and the two PMDs with no packet work at all (the I/O floor any pipeline
# adds its per-packet cost to). Its rate is over the whole --duration.
floor() {
  local out mpps
  out=$("$VX" fwd --port-a net_pcap0 --port-b net_null0 --duration "$SECS" --mbufs 16383 -- \
        -l 0-1 --no-pci --vdev "net_pcap0,rx_pcap=$2,infinite_rx=1" --vdev net_null0,no-rx=1 \
        --file-prefix vxbf --log-level=lib.eal:warning 2>&1) \
    || fail "$out" "vxgate fwd run $1 failed"
  mpps=$(sed -n 's/.*rate \([0-9.]*\) Mpps.*/\1/p' <<<"$out")
  [ -n "$mpps" ] || fail "$out" "vxgate fwd run $1 printed no rate"
  printf '%s %s {"mpps":%s}\n' "$r" "$1" "$mpps" >>"$RES"
  printf '  %-14s %s Mpps\n' "$1" "$mpps"
}

for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS"
  if [ "$SET" = yardsticks ]; then
    testpmd tp_inner     macswap "$TMP/inner.pcap"
    floor   fwd_inner    "$TMP/inner.pcap"
    vxgate  encap_write  encap_write "$TMP/inner.pcap" 10000 0
    vxgate  encap        encap "$TMP/inner.pcap" 10000 0
    testpmd tp_vxlan     macswap "$TMP/vxlan.pcap"
    floor   fwd_vxlan    "$TMP/vxlan.pcap"
    vxgate  decap_write  decap_write "$TMP/vxlan.pcap" 10000 0
    vxgate  decap        decap "$TMP/vxlan.pcap" 10000 0
    continue
  fi
  vxgate  encap        encap "$TMP/inner.pcap" 10000 0
  testpmd tp_inner     macswap "$TMP/inner.pcap"
  vxgate  decap        decap "$TMP/vxlan.pcap" 10000 0
  testpmd tp_vxlan     macswap "$TMP/vxlan.pcap"
  testpmd tp_inner_io  io "$TMP/inner.pcap"
  floor   fwd_inner    "$TMP/inner.pcap"
  floor   fwd_vxlan    "$TMP/vxlan.pcap"
  vxgate  encap_write  encap_write "$TMP/inner.pcap" 10000 0
  vxgate  decap_write  decap_write "$TMP/vxlan.pcap" 10000 0
  # Half the changes rewrite the 1 000 leases / VTEPs the pcaps use.
  VXB_EXTRA=VXB_TRAFFIC_LEASES=1000 vxgate encap_churn encap "$TMP/inner.pcap" 10000 1000
  VXB_EXTRA=VXB_TRAFFIC_LEASES=1000 vxgate decap_churn decap "$TMP/vxlan.pcap" 10000 1000
  VXB_EXTRA=$LOOKUP_ENV vxgate encap_10 encap "$TMP/inner-10.pcap" 10 0
  VXB_EXTRA=$LOOKUP_ENV vxgate encap_1m encap "$TMP/inner-1m.pcap" 1000000 0
  VXB_EXTRA=$LOOKUP_ENV vxgate decap_10 decap "$TMP/vxlan-10.pcap" 10 0
  VXB_EXTRA=$LOOKUP_ENV vxgate decap_1m decap "$TMP/vxlan-1m.pcap" 1000000 0
  vxgate  encap_w1     encap "$TMP/inner.pcap" 10000 0 1
  vxgate  encap_w2     encap "$TMP/inner.pcap" 10000 0 2
  vxgate  decap_w1     decap "$TMP/vxlan.pcap" 10000 0 1
  vxgate  decap_w2     decap "$TMP/vxlan.pcap" 10000 0 2
done

python3 - "$RES" "$ROUNDS" "$SET" <<'EOF'
import json, statistics, sys, datetime, platform, os
# The machine the figures belong to (the README's table names it).
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
           platform.processor() or "?")
machine = {"date": datetime.date.today().isoformat(), "machine": platform.node(), "cpu": cpu,
           "cpus": os.cpu_count()}
rows = [l.split(" ", 2) for l in open(sys.argv[1]) if l.strip()]
runs = {}
for r, name, js in rows:
    runs.setdefault(name, {})[int(r)] = json.loads(js)
hz = next(v["tsc_hz"] for n in runs for v in runs[n].values() if "tsc_hz" in v)
med = statistics.median
def mpps(n): return med(v["mpps"] for v in runs[n].values())
for n in runs:  # a run that measured nothing stops the bench, never a 0 in a median
    for r, v in runs[n].items():
        if not v["mpps"] > 0:
            sys.exit(f"run {n} of round {r} measured no packets: {v}")
def cycles(v): return v.get("cycles_per_packet", hz / (v["mpps"] * 1e6))
def cpp(n): return med(cycles(v) for v in runs[n].values())
# Every comparison is made within a round, then the median over rounds.
def ratio(a, b):  # throughput a / b
    return med(runs[a][r]["mpps"] / runs[b][r]["mpps"] for r in runs[a])
def cost_ratio(a, b):  # cycles per packet a / b
    return med(cycles(runs[a][r]) / cycles(runs[b][r]) for r in runs[a])
def above(a, b):  # cycles per packet a - b
    return med(cycles(runs[a][r]) - cycles(runs[b][r]) for r in runs[a])
if sys.argv[3] == "yardsticks":
    least = lambda n: min(c for c in map(cycles, runs[n].values()) if c > 0)
    print(f"\ncycles/packet over {sys.argv[2]} rounds ({cpu}, {os.cpu_count()} CPUs, TSC {hz/1e9:.2f} GHz, one worker core):")
    print(f"{'run':<14} {'least':>7} {'median':>7}")
    for n in ["tp_inner", "fwd_inner", "encap_write", "encap", "tp_vxlan", "fwd_vxlan", "decap_write", "decap"]:
        print(f"{n:<14} {least(n):7.1f} {cpp(n):7.1f}")
    out = {**machine, "tsc_hz": hz, "rounds": int(sys.argv[2]), "set": "yardsticks"}
    for m, tp, fl in [("encap", "tp_inner", "fwd_inner"), ("decap", "tp_vxlan", "fwd_vxlan")]:
        budget, write = least(tp) / 0.75, least(f"{m}_write")
        out[m] = {"macswap_at_0_75_cycles": round(budget, 1), "floor_cycles": round(least(fl), 1),
                  "write_alone_cycles": round(write, 1), "full_path_cycles": round(least(m), 1),
                  "left_for_checks_and_lookups": round(budget - write, 1),
                  "checks_and_lookups_cost": round(least(m) - write, 1)}
        print(f"{m} (least of each): 0.75 x macswap is {budget:.1f} cycles/packet, the write alone takes "
              f"{write:.1f}, which leaves {budget - write:.1f} for the checks and lookups; they cost "
              f"{least(m) - write:.1f}")
    print(json.dumps(out))
    sys.exit(0)
print(f"\nmedians of {sys.argv[2]} rounds ({cpu}, {os.cpu_count()} CPUs, TSC {hz/1e9:.2f} GHz, one worker core):")
print(f"{'run':<14} {'Mpps':>7} {'cycles/pkt':>10}  ratio")
ref = {"encap": "tp_inner", "decap": "tp_vxlan", "encap_write": "tp_inner", "decap_write": "tp_vxlan", "encap_churn": "encap",
       "decap_churn": "decap", "encap_1m": "encap_10", "decap_1m": "decap_10",
       "encap_w2": "encap_w1", "decap_w2": "decap_w1"}
for n in ["tp_inner_io", "tp_inner", "tp_vxlan", "fwd_inner", "fwd_vxlan", "encap_write", "decap_write",
          "encap", "decap", "encap_churn",
          "decap_churn", "encap_10", "encap_1m", "decap_10", "decap_1m",
          "encap_w1", "encap_w2", "decap_w1", "decap_w2"]:
    if n.endswith("_1m"):  # the lookup target is a cost: cycles, not Mpps
        extra = f"  {cost_ratio(n, ref[n]):.2f} x the cycles of {ref[n]}"
    else:
        extra = f"  {ratio(n, ref[n]):.2f} x {ref[n]}" if n in ref else ""
    print(f"{n:<14} {mpps(n):7.2f} {cpp(n):10.1f}{extra}")
out = {
    **machine, "tsc_hz": hz, "rounds": int(sys.argv[2]),
    "testpmd": {"macswap_inner_mpps": mpps("tp_inner"), "macswap_vxlan_mpps": mpps("tp_vxlan"),
                "io_inner_mpps": mpps("tp_inner_io")},
    "io_floor": {"fwd_inner_mpps": mpps("fwd_inner"), "fwd_vxlan_mpps": mpps("fwd_vxlan"),
                 "encap_pipeline_cycles": round(above("encap", "fwd_inner"), 1),
                 "decap_pipeline_cycles": round(above("decap", "fwd_vxlan"), 1),
                 "macswap_budget_at_0_75_cycles": {
                     "encap": round(med(cycles(runs["tp_inner"][r]) / 0.75 - cycles(runs["fwd_inner"][r])
                                        for r in runs["tp_inner"]), 1),
                     "decap": round(med(cycles(runs["tp_vxlan"][r]) / 0.75 - cycles(runs["fwd_vxlan"][r])
                                        for r in runs["tp_vxlan"]), 1)}},
    "write_alone": {m: {"mpps": mpps(f"{m}_write"), "cycles_per_packet": cpp(f"{m}_write"),
                        "ratio": round(ratio(f"{m}_write", tp), 3),
                        "cycles_above_floor": round(above(f"{m}_write", fl), 1),
                        "checks_and_lookups_cycles": round(above(m, f"{m}_write"), 1)}
                    for m, tp, fl in [("encap", "tp_inner", "fwd_inner"), ("decap", "tp_vxlan", "fwd_vxlan")]},
    "encap": {"mpps": mpps("encap"), "cycles_per_packet": cpp("encap"),
              "ratio": round(ratio("encap", "tp_inner"), 3)},
    "decap": {"mpps": mpps("decap"), "cycles_per_packet": cpp("decap"),
              "ratio": round(ratio("decap", "tp_vxlan"), 3)},
    "lookup_scaling": {m: {"cycles_per_packet_10": cpp(f"{m}_10"),
                           "cycles_per_packet_1m": cpp(f"{m}_1m"),
                           "cost_ratio_1m_vs_10": round(cost_ratio(f"{m}_1m", f"{m}_10"), 3)}
                       for m in ["encap", "decap"]},
    "workers_scaling": {m: {"mpps_1": mpps(f"{m}_w1"), "mpps_2": mpps(f"{m}_w2"),
                            "ratio_2_vs_1": round(ratio(f"{m}_w2", f"{m}_w1"), 3)}
                        for m in ["encap", "decap"]},
    "churn_1000_per_s": {m: {"mpps": mpps(f"{m}_churn"),
                             "ratio_vs_no_churn": round(ratio(f"{m}_churn", m), 3)}
                         for m in ["encap", "decap"]},
}
print(f"pipeline cycles/packet above the I/O floor (vxgate fwd): encap "
      f"{out['io_floor']['encap_pipeline_cycles']}, decap {out['io_floor']['decap_pipeline_cycles']}; "
      f"0.75 x macswap leaves {out['io_floor']['macswap_budget_at_0_75_cycles']['encap']} (encap) and "
      f"{out['io_floor']['macswap_budget_at_0_75_cycles']['decap']} (decap)")
w = out["write_alone"]
print(f"write pass alone (no checks, no lookups): {w['encap']['ratio']:.2f} x macswap for encap, "
      f"{w['decap']['ratio']:.2f} x for decap, {w['encap']['cycles_above_floor']} / "
      f"{w['decap']['cycles_above_floor']} cycles above the floor; checks and lookups add "
      f"{w['encap']['checks_and_lookups_cycles']} / {w['decap']['checks_and_lookups_cycles']}")
print(json.dumps(out))
EOF
