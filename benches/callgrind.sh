#!/usr/bin/env bash
# Instruction counts per call for every benchmark case, with valgrind's
# callgrind: they repeat exactly, whatever else the machine is doing.
#
#   bash benches/callgrind.sh [N] [JOBS]     (defaults: N=2000, JOBS=10)
#
# Each case runs N times and 0 times; the difference divided by N is the cost
# of one call. Ratios are to the floor of the same bytes where one exists.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
jobs=${2:-10}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 2; }
cargo build --release --example dispatch_cost >/dev/null 2>&1
bin=target/release/examples/dispatch_cost

count() { # case n -> total instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" "$jobs" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

declare -A per
for case in floor floor-older-minor floor-header-after floor-two-step typetag value \
            current older-minor two-step-upcast conversion-only json-upcast header-after \
            defer-major defer-unknown seal seal-floor; do
  full=$(count "$case" "$n")
  setup=$(count "$case" 0)
  per[$case]=$(( (full - setup) / n ))
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
printf '%-34s %12s %10s\n' "case ($jobs jobs)" "instr/call" "ratio"
row() { printf '%-34s %12s %10s\n' "$1" "${per[$2]}" "$(ratio "${per[$2]}" "${per[$3]}")"; }
row "floor (typed decode)"            floor floor
row "typetag"                         typetag floor
row "serde_json::Value + from_value"  value floor
row "current-version dispatch"        current floor
row "older-minor dispatch"            older-minor floor-older-minor
row "header after the arguments"      header-after floor-header-after
row "two-step typed upcast"           two-step-upcast floor-two-step
row "  (floor of its bytes + steps)"  conversion-only floor-two-step
row "JSON-level upcast"               json-upcast floor
row "defer: newer major"              defer-major floor
row "defer: unknown job"              defer-unknown floor
row "seal"                            seal seal-floor
echo "two-step upcast over its floor: $(( per[two-step-upcast] - per[floor-two-step] )) instr; the two conversions alone: ${per[conversion-only]} instr"
