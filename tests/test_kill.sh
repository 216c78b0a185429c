#!/bin/bash
# test_kill — crashes: a 4-rank sync run is killed with SIGKILL four times, each time on a
# different rank (0, 1, 2, 3) at a pseudo-random moment (possibly inside a checkpoint write), and
# resumed with --resume after each kill. The finished run must equal an uninterrupted one
# (metrics.csv apart from wall-clock columns, episodes.csv, final policy).
#   test_kill.sh BIN SOURCE_ROOT [SEED]
set -u
BIN=$(readlink -f "$1"); SRC=$(readlink -f "$2"); RANDOM=${3:-12345}
. "$SRC/tests/mpi_env.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ARGS="$SRC/configs/inverted_pendulum.toml --set run.total_steps=2000 --set env.init_steps=150
      --set env.min_pool_size=150 --set env.epoch_length=100 --set model.train_freq=100
      --set sac.hidden=32 --set sac.updates_per_step=2 --set model.hidden=32
      --set rollout.batch_size=3000 --set finetune.max_steps=8 --set topology.rollout_shards=4
      --set log.progress_s=1000 --set checkpoint.every_steps=100 --set runtime.heartbeat_timeout_s=10"
RUN=inverted_pendulum-usbpo-s0
fail=0

timeout 600 mpirun -np 4 "$BIN" $ARGS --set run.dir="$T/ref" > "$T/ref.log" 2>&1 ||
  { echo "FAILED: reference run"; tail -5 "$T/ref.log"; exit 1; }
start=$(date +%s%N)
timeout 600 mpirun -np 4 "$BIN" $ARGS --set run.dir="$T/ref2" > /dev/null 2>&1
full=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN{printf "%.2f", (b - a) / 1e9}')
echo "an uninterrupted run takes ${full}s"

# the pid of MPI rank $2 among the descendants of $1
rank_pid() {
  local p
  for p in $(pgrep -f "$BIN"); do
    [ "$p" = "$1" ] && continue
    if tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
      echo "$p"; return 0
    fi
  done
  return 1
}

d="$T/run"
extra=""
for victim in 0 1 2 3; do
  # a moment between 13 % and 25 % of a full run's time (start-up included) after the launch:
  # each attempt advances less than that, so four kills fall before the end on any machine
  delay=$(awk -v u=$((RANDOM % 1000)) -v f="$full" 'BEGIN{printf "%.2f", f * (0.13 + u / 1000 * 0.12)}')
  mpirun -np 4 "$BIN" $ARGS --set run.dir="$d" $extra >> "$T/run.log" 2>&1 &
  MP=$!
  sleep "$delay"
  pid="" # (a slow start: the rank may not be there yet)
  for _ in $(seq 50); do
    pid=$(rank_pid $MP $victim) && break
    kill -0 $MP 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$pid" ]; then
    echo "FAILED: no rank $victim found at ${delay}s (did the run end early?)"; fail=1
  else
    kill -9 "$pid"
    echo "killed rank $victim (pid $pid) at $(printf %.2f "$delay")s"
  fi
  timeout 120 tail --pid=$MP -f /dev/null
  wait $MP; rc=$?
  [ $rc -ne 0 ] || { echo "FAILED: the job survived the kill of rank $victim"; fail=1; }
  [ -d "$d/$RUN/ckpt" ] && echo "  checkpoints now: $(ls "$d/$RUN/ckpt" | tr '\n' ' ')"
  extra="--resume"
done
timeout 600 mpirun -np 4 "$BIN" $ARGS --set run.dir="$d" --resume >> "$T/run.log" 2>&1; rc=$?
echo "resumes: $(grep -c 'resuming from checkpoint' "$T/run.log"), refusals of torn checkpoints: $(grep -c 'refused' "$T/run.log")"
if [ $rc -eq 0 ] && cmp -s <(det_cols "$T/ref/$RUN/metrics.csv") <(det_cols "$d/$RUN/metrics.csv") &&
   cmp -s "$T/ref/$RUN/episodes.csv" "$d/$RUN/episodes.csv" &&
   cmp -s "$T/ref/$RUN/policy_final.bin" "$d/$RUN/policy_final.bin"; then
  echo "ok: after four kills and resumes the run equals the uninterrupted one"
else
  echo "FAILED: final run (exit $rc) differs from the uninterrupted one"; fail=1
  grep -E "resuming|refused|error" "$T/run.log" | tail -20
fi
exit $fail
