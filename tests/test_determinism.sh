#!/bin/sh
# test_determinism — the sync-mode promise: for a fixed seed, metrics.csv (every column but the
# wall-clock ones) and the final policy parameters are bit-identical across repeated runs, for
# np = 1, 2 and 4, for 1, 2 and 3 threads per rank and for exploration in bursts of 256, 7 and 1
# steps per round trip to the actor (a short USB-PO job on InvertedPendulum with small networks).
#   test_determinism.sh BIN SOURCE_ROOT
set -u
BIN=$1; SRC=$2
. "$SRC/tests/mpi_env.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
TINY="--set run.total_steps=500 --set env.init_steps=150 --set env.min_pool_size=150
      --set env.epoch_length=100 --set model.train_freq=100 --set sac.hidden=32
      --set sac.updates_per_step=2 --set model.hidden=32 --set rollout.batch_size=3000
      --set finetune.max_steps=8 --set topology.rollout_shards=5 --set log.progress_s=1000"
run() { # name np threads
  if [ "$2" = 1 ]; then
    "$BIN" "$SRC/configs/inverted_pendulum.toml" $TINY --set run.dir="$T/$1" \
      --set run.threads="$3" > "$T/$1.log" 2>&1
  else
    timeout 600 mpirun -np "$2" "$BIN" "$SRC/configs/inverted_pendulum.toml" $TINY \
      --set run.dir="$T/$1" --set run.threads="$3" > "$T/$1.log" 2>&1
  fi
  rc=$?
  [ $rc -eq 0 ] || { echo "FAILED: run $1 (np=$2) exited $rc"; tail -20 "$T/$1.log"; exit 1; }
}
# threads: 1, 3 (members, SAC chains and rollout shards on three threads), and the default
run a 1 1
run b 1 3
# exploration in bursts (default 256 steps per round trip), one step at a time, and 7 at a time
(USBPO_TEST_EXPLORE_BURST=1; export USBPO_TEST_EXPLORE_BURST; run c 2 0) || exit 1
(USBPO_TEST_EXPLORE_BURST=7; export USBPO_TEST_EXPLORE_BURST; run d 4 2) || exit 1
grep -q "bursts of 1 step" "$T/c.log" && grep -q "bursts of 7 step" "$T/d.log" ||
  { echo "FAILED: the exploration bursts were not set"; exit 1; }
grep -q "threads: 3 on rank 0" "$T/b.log" || { echo "FAILED: run b did not use 3 threads"; exit 1; }
fail=0
ref="$T/a/inverted_pendulum-usbpo-s0"
det_cols "$ref/metrics.csv" > "$T/ref.csv"
rows=$(wc -l < "$T/ref.csv")
[ "$rows" -ge 5 ] || { echo "FAILED: only $rows metric rows"; fail=1; }
grep -q ',nan,' "$T/ref.csv" && true
for x in b c d; do
  d="$T/$x/inverted_pendulum-usbpo-s0"
  det_cols "$d/metrics.csv" > "$T/$x.csv"
  if cmp -s "$T/ref.csv" "$T/$x.csv"; then echo "ok: metrics of run $x equal run a"; else
    echo "FAILED: metrics of run $x differ from run a"; diff "$T/ref.csv" "$T/$x.csv" | head -5; fail=1; fi
  if cmp -s "$ref/policy_final.bin" "$d/policy_final.bin"; then echo "ok: final policy of run $x equals run a"; else
    echo "FAILED: final policy of run $x differs"; fail=1; fi
done
# and a different seed does change them (the comparison can fail)
"$BIN" "$SRC/configs/inverted_pendulum.toml" $TINY --set run.dir="$T/e" --set run.seed=1 > "$T/e.log" 2>&1
if cmp -s "$ref/policy_final.bin" "$T/e/inverted_pendulum-usbpo-s1/policy_final.bin"; then
  echo "FAILED: another seed gave the same policy"; fail=1; else echo "ok: another seed differs"; fi
exit $fail
