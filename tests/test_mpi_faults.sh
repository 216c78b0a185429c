#!/bin/sh
# test_mpi_faults — the liveness promise: a rank that goes silent past
# runtime.heartbeat_timeout_s is named (rank, roles, last message) and the job ends with exit
# code 3, well before the stall would have ended; a bad config on an MPI run fails on every rank
# with exit code 1; signals under mpirun end in a checkpoint and the recorded exit 75 (and the
# one way they do not, with Open MPI's default kill timing, which usbpo.sbatch widens).
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
# rank 0 (the learner, the writer of log.txt) stopped past the timeout: the log names rank 0 as
# the silent one, and no other rank is blamed for rank 0's own gap
timeout 100 mpirun -np 3 -x USBPO_READY_FILE="$T/c.ready" "$BIN" \
  "$SRC/configs/inverted_pendulum.toml" $TINY --set run.total_steps=3000 --set run.dir="$T/c" \
  --set runtime.heartbeat_timeout_s=3 > "$T/c.log" 2>&1 &
MP=$!
for i in $(seq 600); do [ -f "$T/c.ready" ] && break; sleep 0.1; done
[ -f "$T/c.ready" ] || echo "FAILED: the run was not up after 60 s"
sleep 1
pid0=""
for p in $(pgrep -P $MP) $(pgrep -P "$(pgrep -P $MP | tr '\n' ',' | sed 's/,$//')" 2>/dev/null); do
  if tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=0"; then pid0=$p; fi
done
if [ -n "$pid0" ]; then
  kill -STOP "$pid0"; sleep 8; kill -CONT "$pid0" 2> /dev/null
  wait $MP; rc=$?
  L="$T/c/inverted_pendulum-usbpo-s0/log.txt"
  if [ $rc -eq 3 ] && grep -q "rank 0 (learner.*) has been silent" "$L" &&
     ! grep -q "rank [12] (.*) has been silent" "$L"; then
    echo "ok: rank 0 stopped: log.txt names rank 0, blames no other rank (exit 3)"
  else echo "FAILED: rank 0 stopped: exit $rc"; grep -i silent "$L" "$T/c.log" | head -5; fail=1; fi
else echo "FAILED: rank 0 of the run not found"; kill $MP; fail=1; fi

# TERM, INT and HUP to every rank (as Slurm signals every process of a job), and USR1 to mpirun
# (which passes it on): each ends in a checkpoint and the recorded outcome 75 in
# $USBPO_STATUS_FILE (mpirun itself exits non-zero), which usbpo.sbatch reads. (TERM, INT or
# HUP to mpirun start Open MPI's own kill of the ranks: the case of all processes below.) Each
# case is tried twice (start-up races under load).
sig_try() { # SIG ranks|mpirun|all: 0 when the checkpoint and the recorded 75 are there
  rm -rf "$T/s" "$T/s.ready" "$T/s.status"
  timeout 100 mpirun -np 4 -x USBPO_READY_FILE="$T/s.ready" -x USBPO_STATUS_FILE="$T/s.status" \
    -x USBPO_TEST_SLOW_CKPT="${SLOW:-0}" \
    "$BIN" "$SRC/configs/inverted_pendulum.toml" $TINY --set run.total_steps=3000 \
    --set run.dir="$T/s" > "$T/s.log" 2>&1 &
  MP=$!
  for i in $(seq 600); do [ -f "$T/s.ready" ] && break; sleep 0.1; done
  for i in $(seq 600); do grep -q "epoch 0:" "$T/s.log" 2>/dev/null && break; sleep 0.1; done
  mpr=$(pgrep -P $MP | head -1)
  case $2 in mpirun) kill -$1 "$mpr" ;; ranks) kill -$1 $(pgrep -P "$mpr") ;;
    all) kill -$1 "$mpr" $(pgrep -P "$mpr") ;; esac
  wait $MP; rc=$?
  n=$(ls "$T/s/inverted_pendulum-usbpo-s0/ckpt" 2>/dev/null | wc -l)
  [ "$(cat "$T/s.status" 2>/dev/null)" = 75 ] && [ "$n" -ge 1 ]
}
for case in TERM:ranks INT:ranks HUP:ranks USR1:mpirun; do
  sig=${case%%:*} to=${case#*:}
  if sig_try $sig $to || sig_try $sig $to; then
    echo "ok: SIG$sig to the $to at np 4: checkpoint written, outcome 75 recorded (mpirun exit $rc)"
  else echo "FAILED: SIG$sig to the $to: status '$(cat "$T/s.status" 2>/dev/null)', $n checkpoints, exit $rc"
    tail -5 "$T/s.log"; fail=1; fi
done

# Slurm's SIGTERM (scancel, preemption without a user signal) reaches every process at once,
# mpirun included, which then kills the ranks itself: SIGCONT, SIGTERM and SIGKILL,
# odls_base_sigkill_timeout apart (Open MPI's default 1 s). A checkpoint that takes 3 s
# (USBPO_TEST_SLOW_CKPT: a big one on slow storage) is lost with the default and written with
# a wider window (OMPI_MCA_odls_base_sigkill_timeout; 6 s here, usbpo.sbatch sets 10 s).
SLOW=3
if sig_try TERM all; then echo "FAILED: a 3 s checkpoint beat mpirun's default 1 s kill sequence"
  echo "  (the next case then proves nothing; has Open MPI's default changed?)"; fail=1
elif ! grep -q "the checkpoint starts 3 s late" "$T/s.log"; then
  echo "FAILED: SIGTERM to all: the learner never began its checkpoint"; tail -5 "$T/s.log"; fail=1
else echo "ok: SIGTERM to mpirun and every rank, a 3 s checkpoint, Open MPI's default timing: lost (exit $rc, status '$(cat "$T/s.status" 2>/dev/null)'), as usbpo.sbatch assumes"; fi
export OMPI_MCA_odls_base_sigkill_timeout=6
if sig_try TERM all; then
  echo "ok: the same with odls_base_sigkill_timeout = 6: checkpoint written, 75 recorded"
else echo "FAILED: SIGTERM to all with a 6 s kill timeout: status '$(cat "$T/s.status" 2>/dev/null)', $n checkpoints"
  tail -5 "$T/s.log"; fail=1; fi
unset OMPI_MCA_odls_base_sigkill_timeout SLOW

printf '[env]\nname = "hopper"\n[sac]\nlrr = 1\n' > "$T/bad.toml"
timeout 60 mpirun -np 2 "$BIN" "$T/bad.toml" > "$T/b.log" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "bad.toml:4:1: unknown key 'sac.lrr'" "$T/b.log"; then
  echo "ok: a bad config ends an MPI run with exit code 1 and the place"; else
  echo "FAILED: bad config under mpirun: exit $rc"; tail -5 "$T/b.log"; fail=1; fi
exit $fail
