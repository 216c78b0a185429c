#!/bin/bash
# test_resume_safety — nothing a user has is lost to a run that cannot use it (issue 16, items
# 1, 3 and 5), each case with the command a user would type:
#  * --resume with a changed key stops before writing anything, naming the key and the
#    checkpoint; the run directory is byte-for-byte as it was; run.overwrite=true moves it aside;
#  * a fresh start over a directory that holds a run is refused; with run.overwrite=true the old
#    outputs and checkpoints are moved aside, not deleted;
#  * a checkpoint that fails (injected at its rename) is removed and retried at the next cadence
#    point, not at every step; a file size limit (ulimit -f) ends the run with exit 4 and a
#    message naming the file, never silently (SIGXFSZ) and never with exit 0;
#  * resume refuses a metrics.csv shorter than its checkpoint says (never pads it), a checkpoint
#    copied from another run, a directory renamed to another step, a FIFO in place of a role
#    file (without blocking), and a ckpt/ symlink loop (an error, not a restart).
#   test_resume_safety.sh BIN SOURCE_ROOT
set -u
BIN=$(readlink -f "$1"); SRC=$(readlink -f "$2")
. "$SRC/tests/lib.sh"
ARGS="$SRC/configs/inverted_pendulum.toml --set run.total_steps=600 --set env.init_steps=150
      --set env.min_pool_size=150 --set env.epoch_length=100 --set model.train_freq=100
      --set sac.hidden=32 --set sac.updates_per_step=2 --set model.hidden=32
      --set rollout.batch_size=2000 --set finetune.max_steps=8 --set topology.rollout_shards=2
      --set log.progress_s=1000 --set checkpoint.every_steps=100 --set checkpoint.keep=100"
RUN=inverted_pendulum-usbpo-s0
run() { timeout 300 "$BIN" $ARGS "$@"; }
# (.run.lock, the run directory's lock, is taken by every process that opens the run: bookkeeping)
snapshot() { (cd "$1" && find . \( -type f -o -type l -o -type p \) ! -name .run.lock | sort | while read -r f; do
  if [ -f "$f" ]; then echo "$f $(md5sum < "$f")"; else echo "$f special"; fi; done); }

# ---- a finished run to resume
run --set run.dir="$T/a" > "$T/a.log" 2>&1 || { bad "the base run failed"; tail "$T/a.log"; exit 1; }
A="$T/a/$RUN"
[ -f "$A/run.id" ] && ok "the run has an identity (run.id)" || bad "no run.id"

# ---- 1. a resume with one changed key
snapshot "$A" > "$T/before.txt"
run --set run.dir="$T/a" --resume --set sac.lr=0.001 > "$T/r1.log" 2>&1
rc=$?
snapshot "$A" > "$T/after.txt"
[ $rc = 1 ] && ok "changed key: exit 1" || bad "changed key: exit $rc"
grep -q "sac.lr = 0.0003 there, 0.001 now" "$T/r1.log" && grep -q "ckpt/0000" "$T/r1.log" &&
  ok "the error names the key, both values and the checkpoint" ||
  { bad "the error does not name the key"; grep -i error "$T/r1.log"; }
cmp -s "$T/before.txt" "$T/after.txt" && ok "the run directory is untouched" ||
  { bad "the refused resume changed the run directory"; diff "$T/before.txt" "$T/after.txt" | head; }
# the same through --resume RUN_DIR (a requeued job with a typo)
"$BIN" --resume "$A" --set sac.tau=0.5 > "$T/r1b.log" 2>&1
rc=$?
snapshot "$A" > "$T/after.txt"
[ $rc = 1 ] && grep -q "sac.tau" "$T/r1b.log" && cmp -s "$T/before.txt" "$T/after.txt" &&
  ok "--resume RUN_DIR with a changed key: refused, untouched" || bad "--resume RUN_DIR: exit $rc"

# ---- a fresh start over it: refused, then moved aside with run.overwrite
run --set run.dir="$T/a" > "$T/f.log" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "already holds a run" "$T/f.log" && ok "a fresh start over a run is refused" ||
  bad "fresh start over a run: exit $rc"
n_ckpt=$(ls "$A/ckpt" | wc -l)
run --set run.dir="$T/a" --set run.overwrite=true --set run.total_steps=200 > "$T/o.log" 2>&1
rc=$?
aside=$(ls -d "$A"/before-restart-* 2>/dev/null | head -1)
[ $rc = 0 ] && [ -n "$aside" ] && [ "$(ls "$aside/ckpt" | wc -l)" = "$n_ckpt" ] &&
  [ -f "$aside/metrics.csv" ] && [ -f "$aside/run.id" ] &&
  ok "run.overwrite moved the old outputs and all $n_ckpt checkpoints aside" ||
  { bad "run.overwrite: exit $rc, aside '$aside'"; ls -R "$A" | head -30; }
cmp -s "$aside/run.id" "$A/run.id" && bad "the new run kept the old identity" ||
  ok "the new run has a new identity"

# ---- 3. a failed checkpoint: removed, retried at the cadence
USBPO_TEST_DURABLE_FAIL=rename:12 run --set run.dir="$T/c" > "$T/c.log" 2>&1
rc=$?
C="$T/c/$RUN"
nfail=$(grep -c "failed and was removed" "$T/c.log")
[ $rc = 0 ] && [ "$nfail" = 1 ] && ok "one injected checkpoint failure, run finished" ||
  { bad "injected failure: exit $rc, $nfail failures"; grep -i -E "error|fail" "$T/c.log" | head; }
torn=$(for d in "$C"/ckpt/*; do [ -f "$d/MANIFEST" ] || echo "$d"; done)
[ -z "$torn" ] && ok "no torn checkpoint directory left" || bad "torn: $torn"
steps=$(ls "$C/ckpt" | sed 's/^0*//' | tr '\n' ' ')
echo "  checkpoints after one failure: $steps"
[ "$(ls "$C/ckpt" | wc -l)" -ge 5 ] && ok "later checkpoints at the cadence" || bad "checkpoints: $steps"
# a file size limit: exit 4 with the file named, no SIGXFSZ death, no torn directories
(ulimit -f 200; run --set run.dir="$T/x" > "$T/x.log" 2>&1)
rc=$?
X="$T/x/$RUN"
[ $rc = 4 ] && ok "ulimit -f: exit 4" || { bad "ulimit -f: exit $rc"; tail -5 "$T/x.log"; }
grep -q -E "File too large" "$T/x.log" && ok "the message names the failure" ||
  bad "no 'File too large' in the log"
torn=$(for d in "$X"/ckpt/*; do [ -d "$d" ] && [ ! -f "$d/MANIFEST" ] && echo "$d"; done)
[ -z "$torn" ] && ok "ulimit -f: no torn checkpoint directory" || bad "torn: $torn"
tail -c 1 "$X/log.txt" | od -c | grep -q '\\n' && ok "log.txt ends with a whole line" ||
  bad "log.txt cut mid-line"

# ---- 5. resume checks
cp -a "$A/../../a" "$T/p" 2>/dev/null || true
run --set run.dir="$T/b" > "$T/b.log" 2>&1 || bad "second run failed"
B="$T/b/$RUN"
# (a) metrics.csv shorter than the checkpoint's offset
cp -a "$T/b" "$T/s"
S="$T/s/$RUN"
head -c 20 "$S/metrics.csv" > "$S/m" && mv "$S/m" "$S/metrics.csv"
run --set run.dir="$T/s" --resume > "$T/s.log" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "shorter than" "$T/s.log" && [ "$(stat -c %s "$S/metrics.csv")" = 20 ] &&
  ! grep -q -P '\x00' "$S/metrics.csv" && ok "a short metrics.csv is refused, not padded" ||
  { bad "short metrics.csv: exit $rc, $(stat -c %s "$S/metrics.csv") bytes"; tail -3 "$T/s.log"; }
# (b) a checkpoint of another run of the same configuration, copied in as the newest
cp -a "$T/b" "$T/g"
G="$T/g/$RUN"
newest=$(ls "$G/ckpt" | tail -1)
mv "$G/ckpt/$newest" "$T/own-newest"
cp -a "$A/../../a/$RUN/before-restart-"*/ckpt/"$newest" "$G/ckpt/$newest" 2>/dev/null ||
  cp -a "$C/ckpt/$(ls "$C/ckpt" | tail -1)" "$G/ckpt/$newest"
run --set run.dir="$T/g" --resume > "$T/g.log" 2>&1
rc=$?
grep -q "belongs to another run" "$T/g.log" && [ $rc = 0 ] &&
  ok "a foreign checkpoint is refused and the run's own previous one used" ||
  { bad "foreign checkpoint: exit $rc"; grep -E "refused|resum" "$T/g.log" | head -3; }
# (c) a checkpoint directory renamed to another step
cp -a "$T/b" "$T/n"
N="$T/n/$RUN"
newest=$(ls "$N/ckpt" | tail -1)
mv "$N/ckpt/$newest" "$N/ckpt/000000099999"
run --set run.dir="$T/n" --resume > "$T/n.log" 2>&1
rc=$?
grep -q "named for step 000000099999" "$T/n.log" && [ $rc = 0 ] &&
  ok "a renamed checkpoint directory is refused" || { bad "renamed: exit $rc"; grep refused "$T/n.log"; }
# (d) a FIFO in place of a role file: refused at once, no blocking
cp -a "$T/b" "$T/q"
Q="$T/q/$RUN"
newest=$(ls "$Q/ckpt" | tail -1)
rm "$Q/ckpt/$newest/actor-0.ckpt" && mkfifo "$Q/ckpt/$newest/actor-0.ckpt"
timeout 60 "$BIN" $ARGS --set run.dir="$T/q" --resume > "$T/q.log" 2>&1
rc=$?
grep -q "actor-0.ckpt is not a regular file" "$T/q.log" && [ $rc = 0 ] &&
  ok "a FIFO role file is refused without blocking" || { bad "FIFO: exit $rc"; grep refused "$T/q.log"; }
# (e) a ckpt/ symlink loop: an error, not a restart from step 0
cp -a "$T/b" "$T/l"
L="$T/l/$RUN"
rm -rf "$L/ckpt" && ln -s ckpt "$L/ckpt"
snapshot "$L" > "$T/lb.txt"
run --set run.dir="$T/l" --resume > "$T/l.log" 2>&1
rc=$?
snapshot "$L" > "$T/la.txt"
[ $rc = 1 ] && grep -q "symbolic links" "$T/l.log" && cmp -s "$T/lb.txt" "$T/la.txt" &&
  ok "a ckpt symlink loop is an error and nothing is written" ||
  { bad "symlink loop: exit $rc"; tail -3 "$T/l.log"; }

# ---- 4. signals at np 1: SIGHUP checkpoints and exits 75; a closed stdout/stderr pipe
# (usbpo_dist ... | head) does not kill the run
"$BIN" $ARGS --set run.dir="$T/h" --set run.total_steps=5000 > "$T/h.log" 2>&1 &
P=$!
sleep 3
kill -HUP $P; wait $P; rc=$?
[ $rc = 75 ] && ls "$T/h/$RUN/ckpt" > /dev/null 2>&1 && ok "SIGHUP: checkpoint, exit 75" ||
  bad "SIGHUP: exit $rc"
( run --set run.dir="$T/pp" --set log.progress_s=0.01 2>&1; echo "rc=$?" > "$T/pp.rc" ) | head -3 > /dev/null
sleep 0.5
[ "$(cat "$T/pp.rc" 2>/dev/null)" = "rc=0" ] && [ -f "$T/pp/$RUN/policy_final.bin" ] &&
  ok "a closed output pipe: the run finishes (exit 0)" || bad "pipe: $(cat "$T/pp.rc" 2>/dev/null)"

# ---- 4b. a signal during a long model training is acted on within seconds: the training is
# given up, the model service put back as before it, the checkpoint written, exit 75; the
# resumed run redoes it and ends bit-identical to an uninterrupted one
LONG="--set run.total_steps=100 --set model.hidden=200 --set model.patience=1000
      --set model.improve_threshold=0 --set model.max_epochs=1200 --set log.progress_s=0.5"
run $LONG --set run.dir="$T/mt" --set run.name=ref > "$T/mt-ref.log" 2>&1 || bad "the long-training reference run"
rm -f "$T/mt.ready"
USBPO_READY_FILE="$T/mt.ready" "$BIN" $ARGS $LONG --set run.dir="$T/mt" --set run.name=cut > "$T/mt.log" 2>&1 &
P=$!
# once the first training is under way (its progress line), whatever the machine's load
for i in $(seq 600); do grep -q "model training 1: phase 1" "$T/mt.log" 2>/dev/null && break; sleep 0.1; done
t0=$(date +%s.%N); kill -USR1 $P; wait $P; rc=$?; t1=$(date +%s.%N)
took=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}')
if [ $rc = 75 ] && grep -q "given up" "$T/mt.log" && awk -v t="$took" 'BEGIN{exit !(t < 5)}'; then
  ok "SIGUSR1 during a model training: exit 75 after $took s (the training given up)"
else bad "signal during training: exit $rc after $took s"; grep -E "given up|SIGUSR1|checkpoint" "$T/mt.log"; fi
"$BIN" $ARGS $LONG --set run.dir="$T/mt" --set run.name=cut --resume > "$T/mt2.log" 2>&1 || bad "resume after the cut"
. "$SRC/tests/mpi_env.sh"
det_cols "$T/mt/ref/metrics.csv" > "$T/a.csv"; det_cols "$T/mt/cut/metrics.csv" > "$T/b.csv"
cmp -s "$T/a.csv" "$T/b.csv" && cmp -s "$T/mt/ref/policy_final.bin" "$T/mt/cut/policy_final.bin" &&
  ok "the training redone after resume: bit-identical to the uninterrupted run" ||
  { bad "redone training differs"; diff "$T/a.csv" "$T/b.csv" | head -4; }
# the same when the training has no new rows (HalfCheetah's 1 000-step episodes: none ended since
# the previous training): nothing of the real data may be taken back
HC="$SRC/configs/halfcheetah.toml --set run.algo=usbpo --set run.total_steps=100
    --set env.init_steps=150 --set env.min_pool_size=150 --set env.epoch_length=100
    --set model.train_freq=50 --set sac.hidden=32 --set sac.updates_per_step=1 --set model.hidden=64
    --set model.patience=1000 --set model.improve_threshold=0 --set model.max_epochs=600
    --set rollout.batch_size=1000 --set finetune.max_steps=8 --set log.progress_s=0.5
    --set checkpoint.every_steps=100"
"$BIN" $HC --set run.dir="$T/hc" --set run.name=ref > "$T/hc-ref.log" 2>&1 || bad "the HalfCheetah reference run"
rm -f "$T/hc.ready"
USBPO_READY_FILE="$T/hc.ready" "$BIN" $HC --set run.dir="$T/hc" --set run.name=cut > "$T/hc.log" 2>&1 &
P=$!
# once the second training (no new rows) is under way
for i in $(seq 1200); do grep -q "model training 2: phase 1" "$T/hc.log" 2>/dev/null && break; sleep 0.1; done
kill -USR1 $P; wait $P; rc=$?
if [ $rc = 75 ] && grep -q "model training 2 given up" "$T/hc.log"; then
  ok "SIGUSR1 during a training without new rows: given up, exit 75"
else bad "training without new rows: exit $rc"; grep -E "given up|checkpoint" "$T/hc.log"; fi
"$BIN" $HC --set run.dir="$T/hc" --set run.name=cut --resume > "$T/hc2.log" 2>&1 || bad "resume (HalfCheetah)"
det_cols "$T/hc/ref/metrics.csv" > "$T/a.csv"; det_cols "$T/hc/cut/metrics.csv" > "$T/b.csv"
cmp -s "$T/a.csv" "$T/b.csv" && cmp -s "$T/hc/ref/policy_final.bin" "$T/hc/cut/policy_final.bin" &&
  ok "a training without new rows redone after resume: bit-identical" ||
  { bad "redone training (no new rows) differs"; diff "$T/a.csv" "$T/b.csv" | head -4; }
exit $fail
