#!/bin/bash -eu
# build.sh - kernsim's fuzz targets under OSS-Fuzz or ClusterFuzzLite, unchanged.
#
# The infrastructure provides $CC, $CFLAGS (sanitizer and coverage flags, including
# -fsanitize=fuzzer-no-link), $LIB_FUZZING_ENGINE and $OUT; $SRC/kernsim is this
# repository. Each fuzz/NAME.c becomes $OUT/NAME with its seed corpus as
# $OUT/NAME_seed_corpus.zip. Locally:
#   CC=clang CFLAGS="-fsanitize=address,fuzzer-no-link" LIB_FUZZING_ENGINE=-fsanitize=fuzzer \
#     OUT=/tmp/out SRC=$(dirname $PWD) fuzz/oss-fuzz/build.sh
src=${SRC:?}/kernsim
[ -d "$src" ] || src=$(cd "$(dirname "$0")/../.." && pwd)
work=${WORK:-/tmp}/kernsim-build
cmake -S "$src" -B "$work" -G Ninja -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$CFLAGS" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKERNSIM_HOSTED=ON -DKERNSIM_BARE=OFF \
  -DKERNSIM_FUZZ=ON -DKERNSIM_SANITIZE= -DKERNSIM_FUZZ_ENGINE="$LIB_FUZZING_ENGINE"
for f in "$src"/fuzz/*.c; do
  name=$(basename "$f" .c)
  cmake --build "$work" --target "${name}_fuzz"
  cp "$work/${name}_fuzz" "$OUT/$name"
  (cd "$src/fuzz/corpus/$name" && zip -q -r "$OUT/${name}_seed_corpus.zip" .)
done
