#!/usr/bin/env bash
# heap_bench.sh - kernsim's heap beside glibc malloc, mimalloc, jemalloc and tcmalloc.
#
#   scripts/bench/heap_bench.sh [--rounds R] [--reps N] [--bin PATH]
#
# Each peer is put in front of the C library with LD_PRELOAD (jemalloc cannot be
# dlopen'ed into a running process), and kernsim runs in that same process against it
# (heap_bench --versus-libc): each repetition runs the peer, kernsim, the peer again,
# and the ratio is kernsim's rate over the mean of the two peer runs around it. This
# machine's speed drifts by tens of percent over seconds, which paired runs a few
# milliseconds apart cancel and runs in separate processes do not. R rounds of N
# repetitions; the script prints median rates and the median of the paired ratios.
# A last line gives the harness's own rate ("null": a call that returns a fixed
# block, a free that does nothing), against glibc the same way: no allocator can beat
# it here. Build first: cmake --workflow --preset bench.
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
  for a in kernsim-fast kernsim-checking; do
    for p in glibc mimalloc jemalloc tcmalloc; do
      LD_PRELOAD=${preload[$p]} "$bin" --allocator "$a" --reps "$reps" --versus-libc |
        sed -e "s/^RESULT libc /RESULT $p /" -e "s/^RATIO $a /RATIO $a $p /" >>"$out"
    done
  done
  "$bin" --allocator null --reps "$reps" --versus-libc |
    sed -e "s/^RESULT libc /RESULT glibc /" -e "s/^RATIO null /RATIO null glibc /" >>"$out"
done
awk -v rounds="$rounds" -v reps="$reps" '
  $1 == "RESULT" { k = $2 "," $3; v[k, ++n[k]] = $4 }
  $1 == "RATIO" { k = "ratio," $2 "," $3 "," $4; v[k, ++n[k]] = $5 }
  function median(k,   m, i, j, t, a) {
    m = n[k]; for (i = 1; i <= m; i++) a[i] = v[k, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  END {
    split("kernsim-fast kernsim-checking glibc mimalloc jemalloc tcmalloc", al, " ")
    split("a b c", wl, " ")
    name["a"] = "(a) pairs"; name["b"] = "(b) batches of 1000"; name["c"] = "(c) cross-thread"
    printf "%d rounds x %d paired runs: median Mops/s (allocations + frees), and the median of\n", rounds, reps
    printf "kernsim'"'"'s paired ratios to each peer (run in the peer'"'"'s process, around its runs)\n\n"
    printf "%-22s", "workload"; for (i = 1; i <= 6; i++) printf " %16s", al[i]; printf "\n"
    for (w = 1; w <= 3; w++) {
      printf "%-22s", name[wl[w]]
      for (i = 1; i <= 6; i++) printf " %16.1f", median(al[i] "," wl[w]) / 1e6
      printf "\n"
      for (k = 1; k <= 2; k++) {
        printf "  %-20s %16s %16s", al[k] " vs", "", ""
        for (i = 3; i <= 6; i++) printf " %15.2fx", median("ratio," al[k] "," al[i] "," wl[w])
        printf "\n"
      }
    }
    printf "\nthe harness alone (null allocator), Mops/s:"
    for (w = 1; w <= 3; w++)
      printf "  %s %.1f (%.2fx glibc)", wl[w], median("null," wl[w]) / 1e6, median("ratio,null,glibc," wl[w])
    printf "\n"
  }' "$out"
