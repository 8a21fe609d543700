#!/usr/bin/env bash
# Instruction counts per call for every benchmark case, with valgrind's
# callgrind: they repeat exactly, whatever else the machine is doing.
#
#   bash benches/callgrind.sh [N] [JOBS] [FILTER]   (defaults: N=2000, JOBS=10, every case)
#
# Each case runs N times and 0 times; the difference divided by N is the cost
# of one call (sized cases run fewer times: N*100/size, at least 20). Each
# ratio is to the case's own baseline, measured in the same run; the table is
# markdown, ready for the README.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
jobs=${2:-10}
filter=${3:-.}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 2; }
cargo build --release --example dispatch_cost >/dev/null 2>&1
bin=target/release/examples/dispatch_cost

count() { # case n -> total instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" "$jobs" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

declare -A per
# The cases whose names match FILTER, and the baselines they need.
mapfile -t rows < <("$bin" --list | awk -F'\t' -v f="$filter" '
  { line[NR] = $0; name[NR] = $1; base[NR] = $2; if ($1 ~ f) { want[$1] = 1; want[$2] = 1 } }
  END { for (i = 1; i <= NR; i++) if (want[name[i]]) print line[i] }')
for row in "${rows[@]}"; do
  IFS=$'\t' read -r name base target label <<<"$row"
  size=$(grep -oE '[0-9]+$' <<<"$name" || true)
  runs=$n
  if [[ -n "$size" && "$size" -gt 100 ]]; then runs=$(( n * 100 / size )); (( runs < 20 )) && runs=20; fi
  full=$(count "$name" "$runs")
  setup=$(count "$name" 0)
  per[$name]=$(( (full - setup) / runs ))
done

echo "| case | instructions per call | ratio to its baseline | target |"
echo "| --- | ---: | ---: | --- |"
for row in "${rows[@]}"; do
  IFS=$'\t' read -r name base target label <<<"$row"
  ratio="1.00x"
  if [[ "$base" != "-" && -n "${per[$base]:-}" ]]; then
    ratio=$(awk -v a="${per[$name]}" -v b="${per[$base]}" 'BEGIN { printf "%.2fx", a / b }')
  fi
  [[ "$target" == "-" ]] && target=""
  printf '| %s | %s | %s | %s |\n' "$label" "${per[$name]}" "$ratio" "$target"
done
