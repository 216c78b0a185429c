#!/bin/sh
# fuzz_config.sh — build the TOML -> Config libFuzzer target with clang and run it for SECONDS
# (default 30) from a corpus of the presets and the test configs; a crash fails the test and
# leaves the input in $OUT.
#   fuzz_config.sh SOURCE_ROOT BUILD_ROOT [SECONDS] [OUT_DIR]
set -eu
SRC=$1; BUILD=$2; SECS=${3:-30}; OUT=${4:-$(mktemp -d)}
mkdir -p "$OUT"
command -v clang > /dev/null || { echo "clang is not installed (scripts/install-deps.sh --ci)"; exit 1; }
[ -f "$BUILD/presets.c" ] || { echo "no $BUILD/presets.c (build first)"; exit 1; }
TOML=$(pkg-config --cflags tomlplusplus)
F="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE"
clang++ $F -fno-sanitize=vptr -std=c++17 $TOML -I"$SRC/common/base" -c "$SRC/common/base/config_toml.cpp" -o "$OUT/toml.o"
clang $F -I"$SRC/common/base" "$SRC/tests/fuzz_config.c" "$SRC/common/base/config.c" \
  "$SRC/common/base/config_keys.c" "$SRC/common/base/util.c" "$BUILD/presets.c" "$OUT/toml.o" \
  $(pkg-config --libs tomlplusplus) -lstdc++ -lm -o "$OUT/fuzz_config"
mkdir -p "$OUT/corpus"
cp "$SRC"/configs/*.toml "$SRC"/tests/data/sweep/tiny-base.toml "$OUT/corpus/"
cd "$OUT"
ASAN_OPTIONS=detect_leaks=1 ./fuzz_config -max_total_time="$SECS" -max_len=2048 -timeout=10 \
  -print_final_stats=1 corpus 2>&1 | tail -8
echo "fuzzing for ${SECS}s found no crash"
