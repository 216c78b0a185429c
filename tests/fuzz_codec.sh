#!/bin/sh
# fuzz_codec.sh — build the decoder's libFuzzer target with clang and run it for SECONDS
# (default 30) from the stored corpus; a crash fails the test and leaves the input in $OUT.
#   fuzz_codec.sh SOURCE_ROOT [SECONDS] [OUT_DIR]
set -eu
SRC=$1; SECS=${2:-30}; OUT=${3:-$(mktemp -d)}
mkdir -p "$OUT"
command -v clang > /dev/null || { echo "clang is not installed (scripts/install-deps.sh --ci)"; exit 1; }
MSGPACK=$(pkg-config --cflags --libs msgpack)
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$SRC/common/base" -I"$SRC/common/runtime" -D_GNU_SOURCE "$SRC/tests/fuzz_codec.c" "$SRC/common/runtime/codec.c" \
  "$SRC/common/base/util.c" "$SRC/common/base/mpscan.c" $MSGPACK -o "$OUT/fuzz_codec"
mkdir -p "$OUT/corpus"
cp "$SRC"/tests/data/codec_corpus/* "$OUT/corpus/" 2>/dev/null || true
cd "$OUT"
ASAN_OPTIONS=detect_leaks=1 ./fuzz_codec -max_total_time="$SECS" -max_len=4096 -timeout=10 \
  -print_final_stats=1 corpus 2>&1 | tail -15
echo "fuzzing for ${SECS}s found no crash"
