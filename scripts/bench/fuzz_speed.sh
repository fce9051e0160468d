#!/usr/bin/env bash
# fuzz_speed.sh - executions per second of every fuzz target in the fuzz preset: each
# target runs a fixed -runs=N -seed=1 from its committed corpus (as the explore test
# does: seeds by name, no corpus directory, randomisation off), --reps times; the
# table shows the median and the spread of runs / wall seconds, start-up and the
# corpus replay included.
#
#   scripts/bench/fuzz_speed.sh [--runs N] [--reps R] [--build DIR] [--corpus DIR]
#                               [--versus DIR] [TARGET...]
#
# --corpus takes the seeds from DIR/TARGET instead of fuzz/corpus/TARGET: the rate
# depends on the inputs (a campaign's finds are longer than hand-written seeds), so
# a comparison across commits runs both on one set, for example an older commit's
# (git archive COMMIT fuzz/corpus | tar -x -C /tmp/old; --corpus /tmp/old/fuzz/corpus).
#
# --versus DIR runs DIR's build of each target (another commit's fuzz preset) in turn
# with this one's, milliseconds apart on the same seeds, and adds its median rate and
# the median and spread of the paired ratios (this build's rate over DIR's).
#
# heap_ops runs twice, in fast and in checking mode (KERNSIM_HEAP_MODE).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
runs=20000 reps=3 build=$top/build/fuzz corpus=$top/fuzz/corpus versus= targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --corpus) corpus=$(realpath "$2"); shift 2 ;;
    --versus) versus=$(realpath "$2"); shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "fuzz_speed: unknown option '$1'" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(dma_ops ehframe heap_ops heap_ops:checking mmu_ops paging_ops ringdev_ops)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# rate FUZZER MODE: one run's executions per wall second.
rate() {
  local t0 t1
  t0=$(date +%s.%N)
  KERNSIM_HEAP_MODE=$2 setarch "$(uname -m)" -R "$1" -seed=1 -runs="$runs" -reload=0 \
    -close_fd_mask=1 -seed_inputs=@"$tmp/seeds" >"$tmp/log" 2>&1 ||
    { tail -20 "$tmp/log" >&2; echo "fuzz_speed: $1 failed" >&2; exit 1; }
  t1=$(date +%s.%N)
  awk -v n="$runs" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }'
}
# stats VALUES...: the median, the minimum and the maximum.
stats() {
  local sorted
  sorted=$(printf '%s\n' "$@" | sort -g)
  echo "$(sed -n "$((($# + 1) / 2))p" <<<"$sorted") $(head -1 <<<"$sorted") $(tail -1 <<<"$sorted")"
}

if [ -n "$versus" ]; then
  printf '%-20s %8s %10s %10s %10s %10s\n' target runs "median/s" "versus/s" "ratio" "min-max"
else
  printf '%-20s %8s %10s %10s %10s\n' target runs "median/s" "min/s" "max/s"
fi
for spec in "${targets[@]}"; do
  name=${spec%%:*} mode=fast
  [ "$spec" != "$name" ] && mode=${spec#*:}
  fuzzer=$build/${name}_fuzz
  [ -x "$fuzzer" ] || { echo "fuzz_speed: no $fuzzer (build the fuzz preset)" >&2; exit 2; }
  [ -z "$versus" ] || [ -x "$versus/${name}_fuzz" ] || { echo "fuzz_speed: no $versus/${name}_fuzz" >&2; exit 2; }
  [ -d "$corpus/$name" ] || { echo "fuzz_speed: no $corpus/$name" >&2; exit 2; }
  find "$corpus/$name" -maxdepth 1 -type f | LC_ALL=C sort | paste -sd, >"$tmp/seeds"
  rates=() vrates=() ratios=()
  for ((i = 0; i < reps; i++)); do
    r=$(rate "$fuzzer" "$mode")
    rates+=("$r")
    if [ -n "$versus" ]; then
      v=$(rate "$versus/${name}_fuzz" "$mode")
      vrates+=("$v")
      ratios+=("$(awk -v a="$r" -v b="$v" 'BEGIN { printf "%.3f", a / b }')")
    fi
  done
  read -r med lo hi <<<"$(stats "${rates[@]}")"
  if [ -n "$versus" ]; then
    read -r vmed _ _ <<<"$(stats "${vrates[@]}")"
    read -r rmed rlo rhi <<<"$(stats "${ratios[@]}")"
    printf '%-20s %8d %10.0f %10.0f %9.2fx %s-%s\n' "$spec" "$runs" "$med" "$vmed" "$rmed" "$rlo" "$rhi"
  else
    printf '%-20s %8d %10.0f %10.0f %10.0f\n' "$spec" "$runs" "$med" "$lo" "$hi"
  fi
done
