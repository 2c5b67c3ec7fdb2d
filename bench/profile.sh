#!/usr/bin/env bash
# Instructions per packet of the encap and decap paths (process_burst on
# bursts of 32 with the real lock-free tables at 10 000 leases; the frames
# of benches/pipeline.rs), counted by callgrind, and where they go by
# source file. An instruction count is exact and repeatable where times on
# a shared VM are not: compare it before and after a change to the fast
# path. Needs no hugepages and no DPDK port. VXP_ONLINK=1 puts every VTEP
# on the underlay's link (a next hop per VTEP instead of one gateway).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-20}
if ! command -v valgrind >/dev/null; then
  echo "profile: installing valgrind"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null; }
fi
cargo bench --bench pipeline --no-run -q
BENCH=$(cargo bench --bench pipeline --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -1)
[ -x "$BENCH" ] || { echo "could not find the pipeline bench executable"; exit 1; }
TMP=$(mktemp -d /tmp/vxgate-profile.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

for path in ${PATHS:-encap decap}; do
  out=$(VXP_COUNT=$path VXP_ROUNDS=$ROUNDS valgrind --tool=callgrind --toggle-collect='*counted_burst*' \
        --callgrind-out-file="$TMP/$path.out" "$BENCH" 2>"$TMP/$path.err") \
    || { echo "$path: the counting run failed:"; grep -v '^==' "$TMP/$path.err" | head -5; exit 1; }
  read -r packets forwarded < <(sed -n 's/^COUNT [a-z]* packets \([0-9]*\) forwarded \([0-9]*\)$/\1 \2/p' <<<"$out") || true
  [ -n "${packets:-}" ] && [ "$packets" -gt 0 ] || { echo "$path: no count from the run: $out"; exit 1; }
  # Every packet must have been sent on, or the count would be of drops.
  [ "$forwarded" = "$packets" ] || { echo "$path: only $forwarded of $packets packets sent on"; exit 1; }
  ann=$(callgrind_annotate --auto=no "$TMP/$path.out" 2>/dev/null)
  total=$(awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1}' <<<"$ann")
  [ -n "$total" ] || { echo "$path: no PROGRAM TOTALS in callgrind_annotate's output"; exit 1; }
  printf '%s: %.1f instructions/packet (%s packets)\n' "$path" "$(bc -l <<<"$total/$packets")" "$packets"
  # By source file: inlined code counts where it is written, the project's
  # files by their path, the standard library's as std/...
  sed -n 's/^ *\([0-9,]*\) ( *[0-9.]*%)  *\([^:]*\):.*/\1 \2/p' <<<"$ann" \
    | awk -v n="$packets" '{ c=$1; gsub(",","",c); f=$2
        # The standard library under the rust-src component or, without it, under
        # the path it was built at (/rustc/<commit>/library/...).
        if (f ~ /rustlib\/src\/rust\/library\// || f ~ /^\/rustc\/[0-9a-f]+\/library\//) {
          sub(/.*\/library\/[a-z]*\/src\//,"",f); f="std/" f }
        by[f]+=c }
      END { for (f in by) if (by[f]/n >= 1) printf "  %7.1f  %s\n", by[f]/n, f }' | sort -rn
done
