#!/bin/bash
# test_checkpoint — the durability promises in sync mode:
#  * a run resumed from any of its checkpoints (early, middle, late; np = 1 and np = 4, and a
#    checkpoint written with np = 1 resumed with np = 4) ends bit-identical to the uninterrupted
#    run (metrics.csv apart from wall-clock columns, episodes.csv, final policy);
#  * SIGUSR1 (to the process, or to mpirun) checkpoints and exits 75, and --resume finishes the
#    run identically; SIGTERM checkpoints within checkpoint.grace_s (exit 75) or exits 1 without
#    one; a second SIGINT ends the process at once (exit 130);
#  * a diverging SAC update and a diverging model training are rolled back, counted, survived;
#  * TensorBoard events are cut back with the CSVs: a resumed run has one event per row;
#  * a finished run, moved elsewhere, extended (--resume RUN_DIR --set run.total_steps=...)
#    equals a longer run; so does one begun by a version with fewer metrics columns.
#   test_checkpoint.sh BIN SOURCE_ROOT
set -u
BIN=$(readlink -f "$1"); SRC=$(readlink -f "$2")
. "$SRC/tests/mpi_env.sh"
. "$SRC/tests/lib.sh"
ARGS="$SRC/configs/inverted_pendulum.toml --set run.total_steps=1500 --set env.init_steps=150
      --set env.min_pool_size=150 --set env.epoch_length=100 --set model.train_freq=100
      --set sac.hidden=32 --set sac.updates_per_step=2 --set model.hidden=32
      --set rollout.batch_size=3000 --set finetune.max_steps=8 --set topology.rollout_shards=4
      --set log.progress_s=1000 --set checkpoint.every_steps=150 --set checkpoint.keep=100
      --set log.tensorboard=true"
TFE="$(dirname "$BIN")/tests/test_tfevents"
tb() { "$TFE" --check "$(ls "$1/$RUN"/events.out.tfevents.* | head -1)"; }
RUN=inverted_pendulum-usbpo-s0
# np dir [extra args]: run in the background, pid in $PID; the file $d.ready appears once every
# rank has its signal handlers
launch() {
  local np=$1 d=$2; shift 2
  rm -f "$d.ready"
  if [ "$np" = 1 ]; then USBPO_READY_FILE="$d.ready" "$BIN" $ARGS --set run.dir="$d" "$@" > "$d.log" 2>&1 &
  else mpirun -np "$np" -x USBPO_READY_FILE="$d.ready" "$BIN" $ARGS --set run.dir="$d" "$@" > "$d.log" 2>&1 & fi
  PID=$!
}
signal() { # SIG dir seconds: once the run is up, wait the seconds, then signal it
  local i
  for i in $(seq 600); do [ -e "$2.ready" ] && break; sleep 0.1; done
  sleep "$3"; kill -"$1" $PID
}
same() { # dir: equal to the reference run?
  cmp -s <(det_cols "$T/ref/$RUN/metrics.csv") <(det_cols "$1/$RUN/metrics.csv") &&
    cmp -s "$T/ref/$RUN/episodes.csv" "$1/$RUN/episodes.csv" &&
    cmp -s "$T/ref/$RUN/policy_final.bin" "$1/$RUN/policy_final.bin" &&
    [ "$(tb "$T/ref")" = "$(tb "$1")" ] # TensorBoard events: as many, up to the same step
}

launch 1 "$T/ref"; wait $PID || { bad "reference run"; exit 1; }
ckpts=($(ls "$T/ref/$RUN/ckpt"))
echo "reference: ${#ckpts[@]} checkpoints (${ckpts[*]})"
[ ${#ckpts[@]} -ge 8 ] || bad "too few checkpoints"

# resume from early / middle / late checkpoints, with np = 1 and np = 4
n=${#ckpts[@]}
for pick in 1 $((n / 2)) $((n - 2)); do
  for np in 1 4; do
    d="$T/r$pick-$np"
    mkdir -p "$d" && cp -r "$T/ref/$RUN" "$d/"
    for c in "${ckpts[@]:$((pick + 1))}"; do rm -rf "$d/$RUN/ckpt/$c"; done
    rm -f "$d/$RUN/policy_final.bin"
    launch $np "$d" --resume; wait $PID; rc=$?
    if [ $rc -eq 0 ] && grep -q "resuming from checkpoint .*/${ckpts[$pick]}" "$d.log" && same "$d"; then
      ok "resume from checkpoint ${ckpts[$pick]} with np=$np: identical"
    else bad "resume from checkpoint ${ckpts[$pick]} with np=$np (exit $rc)"; tail -3 "$d.log"; fi
  done
done

# SIGUSR1 to the process (np = 1) and to mpirun (np = 4), then --resume
for np in 1 4; do
  d="$T/usr1-$np"
  launch $np "$d"; signal USR1 "$d" 1.5; wait $PID; rc=$?
  if [ $rc -eq 75 ] && grep -q 'SIGUSR1: checkpoint' "$d.log"; then ok "np=$np: SIGUSR1 -> checkpoint, exit 75"
  else bad "np=$np: SIGUSR1 gave exit $rc"; tail -3 "$d.log"; fi
  launch $np "$d" --resume; wait $PID; rc=$?
  if [ $rc -eq 0 ] && grep -q "resuming from checkpoint" "$d.log" && same "$d"; then
    ok "np=$np: resumed after SIGUSR1: identical"; else bad "np=$np: resume after SIGUSR1"; fi
done

# the newest checkpoint damaged (one flipped byte; a torn one without MANIFEST above it): refused
# with the reason, the previous one is used, and the run still ends identical
d="$T/damaged"; pick=$((n / 2))
mkdir -p "$d" && cp -r "$T/ref/$RUN" "$d/"
for c in "${ckpts[@]:$((pick + 1))}"; do rm -rf "$d/$RUN/ckpt/$c"; done
rm -f "$d/$RUN/policy_final.bin"
f="$d/$RUN/ckpt/${ckpts[$pick]}/learner-0.ckpt"
printf '\x5a' | dd of="$f" bs=1 seek=$(( $(stat -c %s "$f") / 2 )) conv=notrunc status=none
torn=$(printf '%012d' $(( 10#${ckpts[$pick]} + 50 ))); mkdir "$d/$RUN/ckpt/$torn"
launch 4 "$d" --resume; wait $PID; rc=$?
if [ $rc -eq 0 ] && grep -q "$torn refused: no MANIFEST" "$d.log" &&
   grep -q "${ckpts[$pick]} refused: learner-0.ckpt fails its checksum" "$d.log" &&
   grep -q "resuming from checkpoint .*/${ckpts[$((pick - 1))]}" "$d.log" && same "$d"; then
  ok "damaged newest checkpoint refused, previous one used: identical"
else bad "damaged newest checkpoint (exit $rc)"; grep -E "refused|resuming" "$d.log"; fi

# --resume with no checkpoint at all: a warning, a fresh start, earlier outputs kept aside
d="$T/nockpt"; mkdir -p "$d" && cp -r "$T/ref/$RUN" "$d/" && rm -rf "$d/$RUN/ckpt"
launch 1 "$d" --resume; wait $PID; rc=$?
if [ $rc -eq 0 ] && grep -q "no valid checkpoint" "$d.log" && same "$d" &&
   ls "$d/$RUN"/before-restart-*/metrics.csv > /dev/null 2>&1; then
  ok "--resume without a checkpoint: fresh start, old outputs kept aside"
else bad "--resume without a checkpoint (exit $rc)"; fi

# a finished run extended: 900 steps, the directory moved, then --resume RUN_DIR with
# run.total_steps = 1500: the run continues where RUN_DIR is now, not where it was written
d0="$T/extend0"; launch 1 "$d0" --set run.total_steps=900; wait $PID
d="$T/extend"; mv "$d0" "$d"
"$BIN" --resume "$d/$RUN/" --set run.total_steps=1500 > "$d.log2" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q "resuming from checkpoint $d/$RUN/ckpt" "$d.log2" && same "$d" &&
   [ ! -e "$d0" ]; then
  ok "a finished run, moved, extended with --resume RUN_DIR --set run.total_steps: identical"
else bad "extending a finished run (exit $rc)"; tail -3 "$d.log2"; fi

# an upgrade in the middle of a run: the first 900 steps written by a usbpo without the column
# model_holdout_mse_p1 (emulated with USBPO_TEST_OLD_METRICS), extended to 1500 by this one;
# metrics.csv takes this layout ("nan" where the old version wrote nothing), the original is kept
d="$T/upgrade"; C=model_holdout_mse_p1
USBPO_TEST_OLD_METRICS=$C "$BIN" $ARGS --set run.dir="$d" --set run.total_steps=900 > "$d.log" 2>&1
"$BIN" --resume "$d/$RUN/" --set run.total_steps=1500 > "$d.log2" 2>&1; rc=$?
drop() { awk -F, -v c=$C 'NR==1{for(i=1;i<=NF;i++) if($i==c) k=i} {o=""; for(i=1;i<=NF;i++) if(i!=k) o=o $i ","; print o}'; }
col() { awk -F, -v c=$C 'NR==1{for(i=1;i<=NF;i++) if($i==c) k=i; next} {print $k}' "$1"; }
nc=$(head -1 "$T/ref/$RUN/metrics.csv" | tr , '\n' | wc -l)
if [ $rc -eq 0 ] && grep -q "resuming from checkpoint" "$d.log2" && grep -q "rewritten by column name" "$d.log2" &&
   ! head -1 "$d/$RUN/metrics-$((nc - 1))cols.csv" | grep -q $C &&
   [ "$(head -1 "$d/$RUN/metrics.csv")" = "$(head -1 "$T/ref/$RUN/metrics.csv")" ] &&
   cmp -s <(det_cols "$T/ref/$RUN/metrics.csv" | drop) <(det_cols "$d/$RUN/metrics.csv" | drop) &&
   cmp -s "$T/ref/$RUN/episodes.csv" "$d/$RUN/episodes.csv" &&
   cmp -s "$T/ref/$RUN/policy_final.bin" "$d/$RUN/policy_final.bin" &&
   [ "$(col "$d/$RUN/metrics.csv" | head -1)" = nan ] &&
   [ "$(col "$d/$RUN/metrics.csv" | tail -1)" = "$(col "$T/ref/$RUN/metrics.csv" | tail -1)" ]; then
  ok "a run begun by a version with one metrics column fewer, resumed by this one: identical, metrics.csv migrated"
else bad "resuming after an upgrade that added a metrics column (exit $rc)"; tail -3 "$d.log2"; fi

# SIGTERM within and beyond the grace time; a second SIGINT
d="$T/term"; launch 1 "$d" --set checkpoint.grace_s=60; signal TERM "$d" 1.5; wait $PID; rc=$?
[ $rc -eq 75 ] && grep -q 'SIGTERM: checkpoint' "$d.log" && ok "SIGTERM within grace: checkpoint, exit 75" || bad "SIGTERM within grace: exit $rc"
d="$T/term0"; launch 1 "$d" --set checkpoint.grace_s=0; signal TERM "$d" 1.5; wait $PID; rc=$?
[ $rc -eq 1 ] && grep -q 'exiting without one' "$d.log" && ok "SIGTERM beyond grace: no checkpoint, exit 1" || bad "SIGTERM beyond grace: exit $rc"
d="$T/int"; launch 1 "$d"; signal INT "$d" 1.5; kill -INT $PID; wait $PID; rc=$?
[ $rc -eq 130 ] || [ $rc -eq 75 ] && ok "two SIGINTs: exit $rc" || bad "two SIGINTs: exit $rc"

# diverging updates are rolled back, counted, survived
d="$T/nan"
USBPO_TEST_INJECT_SAC_NAN=400 USBPO_TEST_INJECT_MODEL_NAN=4 "$BIN" $ARGS --set run.dir="$d" > "$d.log" 2>&1
rc=$?
nr=$(awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i=="nan_rollbacks") c=i} END{print $c}' "$d/$RUN/metrics.csv")
if [ $rc -eq 0 ] && [ "$nr" = 2 ] && grep -q 'rolled back' "$d.log"; then ok "NaN guard: 2 roll-backs counted, run completed"
else bad "NaN guard: exit $rc, nan_rollbacks $nr"; fi
exit $fail
