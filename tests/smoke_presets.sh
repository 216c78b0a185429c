#!/bin/bash
# smoke_presets — every preset as shipped (configs/*.toml: the seven tasks and ant_full,
# humanoid_full), through its exploration, its first model training, one rollout round and a few
# hundred SAC updates (one epoch cut to 25 env steps: 500 updates at G = 20), with the preset's
# own networks, buffers and schedules. The pendulums explore 500 steps but update SAC only from
# min_pool_size = 1 000 rows: their epoch 0 is cut to those 500 steps, then 500 / G steps of epoch
# 1 make the updates (without it they ended with none, and the check caught it). Checks: exit 0, an epoch
# row with finite SAC losses, a model holdout MSE and rollout rows, and the peak resident memory
# within the printed budget and its reserve (no warning). Prints each preset's time.
#   smoke_presets.sh USBPO_DIST SOURCE_ROOT          (meson test --setup long --suite long)
#   SMOKE_PRESETS='hopper ant' smoke_presets.sh ...  only those
set -u
DIST=$(readlink -f "$1"); SRC=$(readlink -f "$2")
. "$SRC/tests/lib.sh"
for p in ${SMOKE_PRESETS:-hopper walker2d halfcheetah ant humanoid inverted_pendulum \
           inverted_double_pendulum ant_full humanoid_full}; do
  # the preset's exploration, SAC start and updates per step, as it resolves them
  read -r init pool g <<< "$("$DIST" "$SRC/configs/$p.toml" --check-config | awk -F' = ' '
    $1 == "init_steps" { i = $2 } $1 == "min_pool_size" { m = $2 } $1 == "updates_per_step" { g = $2 }
    END { print i, m, g }')"
  elen=$((pool > init ? pool - init : 25))
  steps=$((pool > init ? elen + (500 + g - 1) / g : 25))
  t0=$(date +%s)
  "$DIST" "$SRC/configs/$p.toml" --set run.total_steps=$steps --set env.epoch_length=$elen \
    --set run.dir="$T/r" --set run.name=$p --set log.progress_s=1000 > "$T/$p.log" 2>&1
  rc=$?
  dt=$(($(date +%s) - t0))
  M=$T/r/$p/metrics.csv
  if [ $rc != 0 ] || [ ! -f "$M" ]; then
    bad "$p: exit $rc"; tail -n 5 "$T/$p.log"; continue
  fi
  row=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    { printf "%s %s %s %s %s\n", $c["sac_q_loss"], $c["sac_pi_loss"], $c["model_holdout_mse"], $c["rollout_rows"], $c["sac_updates"] }' "$M" | tail -1)
  read -r q pi mse rows upd <<< "$row"
  budget=$(grep -o "memory budget [0-9.]* [KMG]iB" "$T/$p.log" | head -1 | cut -d' ' -f3-)
  peak=$(grep -o "peak resident memory [0-9.]* [KMG]iB" "$T/$p.log" | head -1 | cut -d' ' -f4-)
  if awk -v q="$q" -v pi="$pi" -v m="$mse" -v r="$rows" -v u="$upd" 'BEGIN {
       finite = (q == q + 0 && q != "nan" && pi != "nan" && m != "nan" && q !~ /inf/ && pi !~ /inf/)
       exit !(finite && m > 0 && r > 0 && u >= 400) }' && ! grep -q "above this rank's memory budget" "$T/$p.log"; then
    ok "$p: ${dt} s; Q loss $q, policy loss $pi, holdout MSE $mse, $rows rollout rows, $upd SAC updates; peak memory $peak (budget $budget)"
  else
    bad "$p: Q loss '$q', policy loss '$pi', holdout MSE '$mse', rollout rows '$rows', updates '$upd', peak '$peak' (budget '$budget')"
    grep -E "warning|error" "$T/$p.log" | head -3
  fi
done
exit $fail
