#!/usr/bin/env bash
# heap_ab.sh - another tree's heap (B) against this tree's (A), in one process.
#
#   scripts/bench/heap_ab.sh [--procs P] [--reps N] OTHER_TREE
#
# OTHER_TREE is a kernsim checkout (a git worktree of another commit, say). Both trees
# are built with the bench preset. B's heap objects come from its subsystems' archive
# (libks_subsys.a; libks_sim.a before the libraries were split) with their global
# symbols renamed B_*, and heap_ab.c links them beside this tree's libraries: workload (a) of heap_bench runs on A, B, glibc and A again, N times,
# and B/A is B's rate over the mean of A's two runs around it. P processes (each
# lays memory out anew); the last line is the median of their B/A medians. Run it
# with this tree as OTHER_TREE first: that A/A ratio is the noise.
set -euo pipefail
procs=5 reps=15 other=
while [ $# -gt 0 ]; do
  case "$1" in
    --procs) procs=${2:?}; shift 2 ;;
    --reps) reps=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "heap_ab.sh: unknown option '$1'" >&2; exit 2 ;;
    *) [ -z "$other" ] || { echo "heap_ab.sh: one tree only" >&2; exit 2; }; other=$1; shift ;;
  esac
done
case "$procs$reps" in *[!0-9]*|'') echo "heap_ab.sh: --procs and --reps take numbers" >&2; exit 2 ;; esac
[ "$procs" -ge 1 ] && [ "$reps" -ge 1 ] && [ "$reps" -le 99 ] ||
  { echo "heap_ab.sh: --procs at least 1, --reps 1 to 99" >&2; exit 2; }
[ -n "$other" ] && [ -f "$other/subsys/heap/heap.c" ] ||
  { echo "usage: heap_ab.sh [--procs P] [--reps N] OTHER_TREE (a kernsim checkout)" >&2; exit 2; }
here=$(cd "$(dirname "$0")/../.." && pwd)
other=$(cd "$other" && pwd)
for t in "$here" "$other"; do
  (cd "$t" && cmake --preset bench >/dev/null &&
    if grep -q 'add_library(ks_subsys' cmake/hosted.cmake; then
      cmake --build --preset bench --target ks_subsys ks_harness >/dev/null
    else
      cmake --build --preset bench --target ks_sim >/dev/null
    fi) || { echo "heap_ab.sh: the bench build of $t failed" >&2; exit 1; }
done
b_archive=$other/build/bench/libks_subsys.a
[ -f "$b_archive" ] || b_archive=$other/build/bench/libks_sim.a
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
heap_objs=$(cd "$other/subsys/heap" && for f in *.c; do echo "$f.o"; done)
(cd "$w" && ar x "$b_archive" $heap_objs)
nm -g --defined-only "$w"/*.o | awk 'NF == 3 { print $3, "B_" $3 }' | sort -u >"$w/syms"
for o in "$w"/*.o; do objcopy --redefine-syms="$w/syms" "$o"; done
lib=$here/build/bench
battach=
grep -q '^bool heap_attach_paging' "$other/subsys/heap/heap.h" && battach=-DB_ATTACH_BOOL
clang -O2 $battach -std=gnu11 -DKERNSIM_FRAME_POINTERS -I"$here/arch_stub/include" -I"$here/sim/include" \
  -I"$here/subsys" -I"$here/tests/runner" -o "$w/heap_ab" "$here/scripts/bench/heap_ab.c" "$w"/*.o \
  "$lib/libks_harness.a" "$lib/libks_subsys.a" "$lib/libks_seam.a" "$lib/libks_unwind.a" \
  "$lib/libks_seam.a" -lpthread -lm -ldl
echo "A = $here, B = $other; per process: A, B, glibc (Mops/s), median B/A, median A/glibc"
for ((p = 0; p < procs; p++)); do "$w/heap_ab" --reps "$reps"; done | tee "$w/out"
awk '{ print $5 }' "$w/out" | sort -n | awk '{ r[NR] = $1 } END {
  m = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
  printf "B/A: median %.3f of %d processes (%.3f to %.3f)\n", m, NR, r[1], r[NR] }'
