#!/bin/bash
# test_semantics — what a sync run does, tick by tick, against the spec (§3.3), from the
# learner's own trace of its schedule (USBPO_TEST_TRACE) and its metrics, with 1 and 2 actors:
#  * inside a tick: a model training and its rollouts first (when t mod F < A), then the env
#    step of every actor, then the SAC updates: never another order;
#  * G x A SAC updates per tick once the buffer holds min_pool_size, none before;
#  * a model training at t = 0, F, 2F, ... of every epoch and nowhere else; the first one of
#    the run is the only one without phase 2 (spec §3.4);
#  * metrics: between two epochs, sac_updates grows by G times the env steps taken;
#  * the progress line's count and share never go back, and its total is the run's.
#   test_semantics.sh USBPO_DIST SOURCE_ROOT
set -u
DIST=$(readlink -f "$1"); SRC=$(readlink -f "$2")
. "$SRC/tests/lib.sh"
cd "$T" || exit 1
cp "$SRC/tests/data/sweep/tiny-base.toml" .
# F = 50 with epochs of 100 steps: two trainings per epoch; G = 3
BASE="tiny-base.toml --set run.threads=1 --set run.total_steps=400 --set model.train_freq=50
      --set sac.updates_per_step=3 --set env.min_pool_size=400 --set log.progress_s=0"
for A in 1 2; do
  USBPO_TEST_TRACE=$T/trace$A.txt "$DIST" $BASE --set topology.actors=$A --set run.dir=r$A > run$A.log 2>&1 ||
    { bad "the run with $A actors failed"; tail -3 run$A.log; continue; }
  M=r$A/inverted_pendulum-usbpo-s0/metrics.csv
  # the trace as ticks: the events between two "step" lines belong to the tick after the first
  awk -v A=$A -v G=3 -v F=50 '
    function fail(msg) { print "FAILED: " A " actor(s): line " NR ": " msg ": " $0; bad = 1 }
    # "pending": an env step whose updates have not come; once updates have started (the
    # buffer holds min_pool_size) every env step is followed by exactly one batch of them
    $1 == "train" {
      if (last_step == $2 " " $3) fail("a training after the env step of its own tick")
      if (($3 % F) >= A) fail("a training at t = " $3 " (not a multiple of F = " F ")")
      seen_train[$2 " " int($3 / F)]++
      trainings++
    }
    $1 == "rollout" { if (prev != "train") fail("rollouts not right after their training") }
    $1 == "step" {
      if ($4 != A) fail("a tick of " $4 " env steps")
      if (started && pending) fail("an env step without its SAC updates")
      pending = 1; last_step = $2 " " $3
    }
    $1 == "update" {
      if (prev != "step") fail("SAC updates not right after the env step")
      if ($4 != G * A) fail($4 " updates in a tick, want G x A = " G * A)
      started = 1; pending = 0; updates += $4
    }
    { prev = $1 }
    END {
      for (e = 0; e < 4; e++) for (k = 0; k < 2; k++)
        if (seen_train[e " " k] != 1) { print "FAILED: " A " actor(s): epoch " e " training " k " seen " seen_train[e " " k] + 0 " times"; bad = 1 }
      if (!started) { print "FAILED: no SAC updates"; bad = 1 }
      if (!bad) print "ok: " A " actor(s): " NR " events, " trainings " trainings at t = 0 and F of each epoch; train -> rollout -> step -> update in every tick, " G * A " updates per tick (" updates " in all)"
      exit bad
    }' trace$A.txt || fail=1
  # the first training has no phase 2, every later one has (ft_steps > 0 in its epoch row)
  awk -F, -v A=$A 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { s = $col["sac_updates"]; e = $col["total_env_steps"]
      if (NR > 2 && s - ps != 3 * (e - pe)) { print "FAILED: " A " actor(s): epoch " $1 ": " s - ps " updates for " e - pe " env steps (G = 3)"; bad = 1 }
      if (NR > 2 && $col["ft_steps"] + 0 < 1) { print "FAILED: epoch " $1 ": no phase 2"; bad = 1 }
      ps = s; pe = e }
    END { if (!bad) print "ok: " A " actor(s): sac_updates grows by G x the env steps, epoch to epoch; phase 2 in every epoch after the first training"; exit bad }' "$M" || fail=1
  # the progress line counts every env step: its count and its share never go back, and its
  # total, predicted while epoch 0 runs past its length, is the run's at the end
  grep -o "env step [0-9]*/[0-9]* ([0-9.]*%)" run$A.log | tr '/()%' '   ' | awk -v A=$A \
    -v final=$(tail -1 "$M" | cut -d, -f3) '
    { n = $3; tot = $4; pct = $5
      if (NR > 1 && (n < pn || pct < pp)) { print "FAILED: " A " actor(s): the progress went back: " pn " -> " n ", " pp " -> " pct " %"; bad = 1 }
      if (!first && n > 0) first = tot
      pn = n; pp = pct; last = tot }
    END { if (NR < 10) { print "FAILED: " NR " progress lines"; bad = 1 }
          if (last != final || first < 0.97 * final) { print "FAILED: " A " actor(s): progress totals " first " ... " last ", the run took " final; bad = 1 }
          if (!bad) print "ok: " A " actor(s): " NR " progress lines, never back; total " first " at the start, " last " at the end (the run: " final ")"
          exit bad }' || fail=1
done
exit $fail
