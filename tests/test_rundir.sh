#!/bin/bash
# test_rundir — one writer per run directory, and a set-aside that never overwrites (issue 35,
# items 1 and 2), each case as a user (or a double submit) would cause it:
#  * a second --resume while the first runs is refused at once, naming the holder's pid and
#    host; the first finishes with every epoch once in metrics.csv;
#  * a plain start and a run.overwrite start beside a running run: both refused, nothing moved;
#  * a SIGKILLed run leaves no lock behind: its resume proceeds;
#  * a set-aside never writes into an existing before-restart directory (a start in the same
#    second as an earlier one): a new directory, the earlier ones untouched;
#  * an overwrite start killed in the middle of moving the run aside: the next start finishes
#    the set-aside (every original file lands in it, byte for byte) before it does anything else.
#   test_rundir.sh BIN SOURCE_ROOT
set -u
BIN=$(readlink -f "$1"); SRC=$(readlink -f "$2")
. "$SRC/tests/lib.sh"
ARGS="$SRC/configs/inverted_pendulum.toml --set env.init_steps=150
      --set env.min_pool_size=150 --set env.epoch_length=100 --set model.train_freq=100
      --set sac.hidden=32 --set sac.updates_per_step=2 --set model.hidden=32
      --set rollout.batch_size=2000 --set finetune.max_steps=8 --set topology.rollout_shards=2
      --set log.progress_s=1000 --set checkpoint.every_steps=100 --set run.threads=1"
RUN=inverted_pendulum-usbpo-s0
run() { timeout 300 "$BIN" $ARGS --set run.dir="$T/a" "$@"; }
bg() { "$BIN" $ARGS --set run.dir="$T/a" "$@" & } # $! is usbpo_dist itself
A="$T/a/$RUN"
epochs_once() { # metrics.csv: each epoch number exactly once, in order
  awk -F, 'NR > 1 { if ($1 != NR - 2) bad = 1 } END { exit bad }' "$1"
}

# ---- a run to work on: 300 steps, then resumed to 1 500 in the background
run --set run.total_steps=300 > "$T/base.log" 2>&1 || { bad "the base run failed"; tail "$T/base.log"; exit 1; }
bg --set run.total_steps=1500 --resume > "$T/r1.log" 2>&1
P1=$!
for _ in $(seq 1 100); do grep -q "resuming from checkpoint" "$T/r1.log" && break; sleep 0.1; done
sleep 0.5

# ---- 1. a second writer, three ways: refused at once, nothing touched
t0=$(date +%s)
run --set run.total_steps=1500 --resume > "$T/r2.log" 2>&1
rc2=$?
run --set run.total_steps=1500 > "$T/r3.log" 2>&1
rc3=$?
run --set run.total_steps=1500 --set run.overwrite=true > "$T/r4.log" 2>&1
rc4=$?
t1=$(date +%s)
[ $rc2 = 1 ] && [ $rc3 = 1 ] && [ $rc4 = 1 ] && ok "a second --resume, a plain start and an overwrite start: exit 1" ||
  bad "second writers: exits $rc2 $rc3 $rc4"
grep -q "in use by another process (pid $P1 host $(hostname) since " "$T/r2.log" &&
  ok "the refusal names the holder's pid and host" || { bad "no holder in the message"; cat "$T/r2.log"; }
[ $((t1 - t0)) -le 10 ] && ok "refused within seconds ($((t1 - t0)) s for three)" || bad "refusals took $((t1 - t0)) s"
ls -d "$A"/before-restart-* > /dev/null 2>&1 && bad "the refused overwrite moved something aside" ||
  ok "nothing was moved aside"
wait $P1
rc1=$?
[ $rc1 = 0 ] && ok "the first writer finished" || bad "the first writer: exit $rc1"
epochs_once "$A/metrics.csv" && ok "every epoch once in metrics.csv ($(($(wc -l < "$A/metrics.csv") - 1)) rows)" ||
  { bad "metrics.csv has epochs twice or missing"; cut -d, -f1 "$A/metrics.csv" | tr '\n' ' '; }

# ---- a SIGKILLed run holds no lock
bg --set run.total_steps=3000 --resume > "$T/k.log" 2>&1
P=$!
for _ in $(seq 1 100); do grep -q "resuming from checkpoint" "$T/k.log" && break; sleep 0.1; done
sleep 1
kill -KILL $P; wait $P 2> /dev/null
run --set run.total_steps=1600 --resume > "$T/k2.log" 2>&1
rc=$?
[ $rc = 0 ] && ok "after a SIGKILL the resume proceeds" || { bad "resume after SIGKILL: exit $rc"; tail -3 "$T/k2.log"; }
epochs_once "$A/metrics.csv" && ok "and its metrics.csv holds each epoch once" || bad "metrics after kill+resume"

# ---- 2a. a set-aside never lands in an existing directory: with before-restart-<t> already
# there for every second of the next minute (as a start in the same second as an earlier one
# finds it), an overwrite start makes a new one and touches none of them
cp "$A/metrics.csv" "$T/orig-metrics.csv"; cp "$A/episodes.csv" "$T/orig-episodes.csv"
ORIG_CKPTS=$(ls "$A/ckpt" | wc -l)
now=$(date +%s)
for t in $(seq $((now - 1)) $((now + 60))); do
  mkdir "$A/before-restart-$t"; echo "an earlier set-aside" > "$A/before-restart-$t/metrics.csv"
done
run --set run.total_steps=100 --set run.overwrite=true > "$T/o2.log" 2>&1
rc=$?
untouched=1
for t in $(seq $((now - 1)) $((now + 60))); do
  [ "$(cat "$A/before-restart-$t/metrics.csv")" = "an earlier set-aside" ] &&
    [ "$(ls "$A/before-restart-$t")" = metrics.csv ] || untouched=0
done
new=$(grep -o "kept .*/metrics.csv as .*/metrics.csv" "$T/o2.log" | sed 's/.* as //; s|/metrics.csv$||')
[ $rc = 0 ] && [ $untouched = 1 ] && ok "62 existing set-aside directories untouched" ||
  bad "an existing set-aside directory was written into (exit $rc)"
[ -n "$new" ] && cmp -s "$new/metrics.csv" "$T/orig-metrics.csv" && cmp -s "$new/episodes.csv" "$T/orig-episodes.csv" &&
  [ "$(ls "$new/ckpt" | wc -l)" = "$ORIG_CKPTS" ] &&
  ok "the original metrics.csv, episodes.csv and $ORIG_CKPTS checkpoints are whole in $(basename "$new")" ||
  bad "the original outputs are not whole in '$new'"

# ---- 2b. an overwrite start killed in the middle of the move: the next start finishes it
rm -rf "$T/a"
run --set run.total_steps=300 > "$T/b.log" 2>&1 || bad "second base run failed"
cp "$A/metrics.csv" "$T/orig-metrics.csv"; cp "$A/config.toml" "$T/orig-config.toml"
ORIG_CKPTS=$(ls "$A/ckpt" | wc -l)
USBPO_TEST_ASIDE_PAUSE_MS=3000 bg --set run.total_steps=300 --set run.overwrite=true > "$T/m1.log" 2>&1
P=$!
for _ in $(seq 1 100); do grep -q "kept .*metrics.csv" "$T/m1.log" && break; sleep 0.05; done
kill -KILL $P; wait $P 2> /dev/null
aside=$(ls -d "$A"/before-restart-* | head -1)
[ -f "$aside/.moving" ] && [ -d "$A/ckpt" ] && ok "killed mid-move: marker left, ckpt/ not moved yet" ||
  bad "the kill did not land mid-move (marker $(ls -a "$aside" | tr '\n' ' '))"
run --set run.total_steps=100 --set run.overwrite=true > "$T/m2.log" 2>&1
rc=$?
grep -q "finished an interrupted set-aside" "$T/m2.log" && ok "the next start says it finished the set-aside" ||
  bad "no word of the interrupted set-aside"
[ $rc = 0 ] && [ ! -f "$aside/.moving" ] && cmp -s "$aside/metrics.csv" "$T/orig-metrics.csv" &&
  cmp -s "$aside/config.toml" "$T/orig-config.toml" && [ "$(ls "$aside/ckpt" | wc -l)" = "$ORIG_CKPTS" ] &&
  ok "every original file is in $(basename "$aside"), byte for byte, and the new run ran" ||
  { bad "after the finished set-aside: exit $rc"; ls -la "$aside" "$A"; }
exit $fail
