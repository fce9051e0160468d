#!/usr/bin/env bash
# heap_bench.sh - kernsim's heap beside glibc malloc, mimalloc, jemalloc and tcmalloc.
#
#   scripts/bench/heap_bench.sh [--rounds R] [--reps N] [--bin PATH]
#
# One process per allocator (jemalloc cannot be dlopen'ed into a running process, so
# each peer is put in front of the C library with LD_PRELOAD), R rounds interleaved so
# machine noise falls on all of them alike. Each process prints the median of N runs
# of each workload; this script prints the median over rounds and kernsim's ratio to
# each peer. A last line gives the harness's own rate ("null": a call that returns a
# fixed block, a free that does nothing): no allocator can beat it here.
# Build first: cmake --workflow --preset bench.
set -euo pipefail
rounds=3 reps=3 bin=build/bench/heap_bench
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=${2:?}; shift 2 ;;
    --reps) reps=${2:?}; shift 2 ;;
    --bin) bin=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "heap_bench.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
case "$rounds$reps" in *[!0-9]*) echo "heap_bench.sh: --rounds and --reps take numbers" >&2; exit 2 ;; esac
[ -x "$bin" ] || { echo "heap_bench.sh: $bin not built (cmake --workflow --preset bench)" >&2; exit 2; }
lib=/usr/lib/x86_64-linux-gnu
declare -A preload=([glibc]="" [mimalloc]=$lib/libmimalloc.so.2 [jemalloc]=$lib/libjemalloc.so.2
                    [tcmalloc]=$lib/libtcmalloc_minimal.so.4)
for p in mimalloc jemalloc tcmalloc; do
  [ -f "${preload[$p]}" ] || { echo "heap_bench.sh: ${preload[$p]} missing (scripts/setup)" >&2; exit 2; }
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((r = 1; r <= rounds; r++)); do
  for a in kernsim-fast kernsim-checking null; do
    "$bin" --allocator "$a" --reps "$reps" >>"$out"
  done
  for p in glibc mimalloc jemalloc tcmalloc; do
    LD_PRELOAD=${preload[$p]} "$bin" --allocator libc --reps "$reps" | sed "s/ libc / $p /" >>"$out"
  done
done
awk -v rounds="$rounds" -v reps="$reps" '
  $1 == "RESULT" { k = $2 "," $3; v[k, ++n[k]] = $4 }
  function median(k,   m, i, j, t, a) {
    m = n[k]; for (i = 1; i <= m; i++) a[i] = v[k, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  END {
    split("kernsim-fast kernsim-checking glibc mimalloc jemalloc tcmalloc", al, " ")
    split("a b c", wl, " ")
    name["a"] = "(a) pairs"; name["b"] = "(b) batches of 1000"; name["c"] = "(c) cross-thread"
    printf "median of %d rounds x %d runs, Mops/s (allocations + frees)\n\n", rounds, reps
    printf "%-22s", "workload"; for (i = 1; i <= 6; i++) printf " %16s", al[i]; printf "\n"
    for (w = 1; w <= 3; w++) {
      printf "%-22s", name[wl[w]]
      for (i = 1; i <= 6; i++) { m[al[i]] = median(al[i] "," wl[w]); printf " %16.1f", m[al[i]] / 1e6 }
      printf "\n"
      for (k = 1; k <= 2; k++) {
        printf "  %-20s", al[k] " ratio"
        for (i = 1; i <= 6; i++) printf " %15.2fx", m[al[k]] / m[al[i]]
        printf "\n"
      }
    }
    printf "\nthe harness alone (null allocator), Mops/s:"
    for (w = 1; w <= 3; w++) {
      nv = median("null," wl[w]); g = median("glibc," wl[w])
      printf "  %s %.1f (%.2fx glibc)", wl[w], nv / 1e6, nv / g
    }
    printf "\n"
  }' "$out"
