#!/usr/bin/env bash
# kernsim_cli_test.sh - every subcommand of scripts/kernsim answers --help (exit 0), and a
# wrong flag, a missing argument or a missing file gets one clear line and exit 2,
# before anything is built.
set -u
k=${1:?usage: kernsim_cli_test.sh path/to/scripts/kernsim}
fail=0
check() { # expected-status description command...
  local want=$1 what=$2 out rc
  shift 2
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL: $what: exit $rc, want $want: $out"
    fail=1
  elif [ "$want" -eq 2 ] && [ "$(printf '%s\n' "$out" | grep -c .)" -ne 1 ]; then
    echo "FAIL: $what: want one line, got: $out"
    fail=1
  else
    echo "ok: $what"
  fi
}
for c in check test boot fuzz bugs explore replay bench coverage; do
  check 0 "$c --help" "$k" "$c" --help
done
check 0 "help" "$k" help
check 2 "unknown command" "$k" frobnicate
check 2 "test: unknown preset" "$k" test nosuch
check 2 "test: unknown flag" "$k" test --frob
check 2 "check: stray argument" "$k" check extra
check 2 "boot: unknown flag" "$k" boot --frob
check 2 "boot: --gdb without a port" "$k" boot --gdb
check 2 "fuzz: no target" "$k" fuzz
check 2 "fuzz: unknown target" "$k" fuzz nosuch
check 2 "fuzz: bad --time" "$k" fuzz ehframe --time soon
check 2 "fuzz: bad --jobs" "$k" fuzz ehframe --jobs 0
check 2 "bugs: stray argument" "$k" bugs extra
check 2 "explore: no test" "$k" explore
check 2 "explore: unknown test" "$k" explore nosuch
check 2 "explore: bad strategy" "$k" explore aba_stack --strategy best
check 2 "explore: bad seed" "$k" explore aba_stack --seed x1
check 2 "explore: bad --cpus" "$k" explore aba_stack --cpus many
check 2 "replay: no file" "$k" replay
check 2 "replay: missing file" "$k" replay /no/such.schedule
check 2 "replay: not a schedule" "$k" replay "$(dirname "$k")/../README.md"
check 2 "bench: stray argument" "$k" bench extra
check 2 "coverage: stray argument" "$k" coverage extra
exit $fail
