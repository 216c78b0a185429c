#!/bin/sh
# long_learning — evidence of learning on InvertedPendulum (meson test --setup long --suite long).
#   long_learning.sh BIN SOURCE_ROOT ALGO MAX_STEPS THRESHOLD SEED...
# Each seed must reach an evaluation return >= THRESHOLD within MAX_STEPS env steps (the run
# stops at the threshold). Prints the curve and wall time of every seed.
set -u
BIN=$1; SRC=$2; ALGO=$3; MAX=$4; THR=$5; shift 5
OUT=${USBPO_LONG_DIR:-$(mktemp -d)}
fail=0
for seed in "$@"; do
  "$BIN" "$SRC/configs/inverted_pendulum.toml" --set run.algo="$ALGO" --set run.seed="$seed" \
    --set run.total_steps="$MAX" --set run.target_return="$THR" --set run.dir="$OUT" \
    --set run.overwrite=true --set log.progress_s=60 > "$OUT/$ALGO-$seed.log" 2>&1 || {
      echo "seed $seed: the run failed"; tail -5 "$OUT/$ALGO-$seed.log"; fail=1; continue; }
  m="$OUT/inverted_pendulum-$ALGO-s$seed/metrics.csv"
  echo "== $ALGO seed $seed: env_steps eval_return wall_s"
  awk -F, 'NR==1{for(i=1;i<=NF;i++) c[$i]=i; next} {print $c["env_steps"], $c["eval_return"], $c["wall_s"]}' "$m"
  if awk -F, -v thr="$THR" -v max="$MAX" 'NR==1{for(i=1;i<=NF;i++) c[$i]=i; next}
      $c["eval_return"] >= thr && $c["env_steps"] <= max {found=1} END{exit !found}' "$m"; then
    echo "seed $seed: reached $THR"
  else
    echo "FAILED: seed $seed did not reach $THR within $MAX steps"; fail=1
  fi
done
exit $fail
