#!/bin/sh
# test_mpi_faults — the liveness promise: a rank that goes silent past
# runtime.heartbeat_timeout_s is named (rank, roles, last message) and the job ends with exit
# code 3, well before the stall would have ended; a bad config on an MPI run fails on every rank
# with exit code 1.
#   test_mpi_faults.sh BIN SOURCE_ROOT
set -u
BIN=$1; SRC=$2
. "$SRC/tests/mpi_env.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
TINY="--set run.total_steps=300 --set env.init_steps=150 --set env.min_pool_size=150
      --set env.epoch_length=100 --set model.train_freq=100 --set sac.hidden=32
      --set model.hidden=32 --set rollout.batch_size=2000 --set log.progress_s=1000"
start=$(date +%s)
USBPO_TEST_STALL=2:120 timeout 100 mpirun -np 3 -x USBPO_TEST_STALL "$BIN" \
  "$SRC/configs/inverted_pendulum.toml" $TINY --set run.dir="$T/a" \
  --set runtime.heartbeat_timeout_s=3 > "$T/a.log" 2>&1
rc=$?
took=$(( $(date +%s) - start ))
if [ $rc -eq 3 ]; then echo "ok: exit code 3 after ${took}s"; else echo "FAILED: exit code $rc (want 3)"; fail=1; fi
if [ $took -lt 60 ]; then echo "ok: detected in ${took}s (stall was 120 s)"; else echo "FAILED: took ${took}s"; fail=1; fi
if grep -q "rank 2 (rollout 0, actor 0) has been silent" "$T/a.log"; then echo "ok: the silent rank is named"; else
  echo "FAILED: no naming of rank 2"; tail -20 "$T/a.log"; fail=1; fi
printf '[env]\nname = "hopper"\n[sac]\nlrr = 1\n' > "$T/bad.toml"
timeout 60 mpirun -np 2 "$BIN" "$T/bad.toml" > "$T/b.log" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "bad.toml:4:1: unknown key 'sac.lrr'" "$T/b.log"; then
  echo "ok: a bad config ends an MPI run with exit code 1 and the place"; else
  echo "FAILED: bad config under mpirun: exit $rc"; tail -5 "$T/b.log"; fail=1; fi
exit $fail
