#!/bin/bash
# test_sweep — usbpo_sweep on a tiny experiment (2 variants x 2 seeds, InvertedPendulum):
#  * the sweep, killed mid-way (one of its runs SIGKILLed, then the sweep SIGTERMed), is
#    finished by running it again; --status tells the truth at each stage; every cell ends
#    bit-identical to the same run launched directly (metrics minus wall-clock columns,
#    episodes, final policy);
#  * --report on fixture metrics: means, stds, IQM, AUC and steps-to-threshold as computed by
#    hand, a degenerate bootstrap interval exact, verdicts "better" / "not distinguishable";
#  * --slurm --dry-run writes one array task per cell;
#  * bad experiment files are refused before anything starts, naming file, line and key.
#   test_sweep.sh USBPO_DIST USBPO_SWEEP SOURCE_ROOT
set -u
DIST=$(readlink -f "$1"); SWEEP=$(readlink -f "$2"); SRC=$(readlink -f "$3")
. "$SRC/tests/mpi_env.sh"
. "$SRC/tests/lib.sh"
cd "$T" || exit 1
cp "$SRC/tests/data/sweep/tiny-base.toml" .
sed 's/total_steps = 400/total_steps = 1500/' "$SRC/tests/data/sweep/tiny.toml" > tiny.toml
ROOT=exp/tiny/inverted_pendulum

# ---- 1. interrupted twice, finished by running it again
USBPO_DIST="$DIST" "$SWEEP" tiny.toml --jobs 2 > s1.log 2>&1 &
SP=$!
for i in $(seq 300); do ls $ROOT/*/s*/ckpt/0* > /dev/null 2>&1 && break; sleep 0.1; done
victim=$(pgrep -P $SP | head -1)
[ -n "$victim" ] && kill -9 "$victim" && echo "  killed one run (pid $victim)"
sleep 1
kill -TERM $SP; wait $SP; rc=$?
[ $rc = 75 ] && ok "a stopped sweep exits 75" || { bad "stopped sweep: exit $rc"; cat s1.log; }
"$SWEEP" tiny.toml --status > st1.txt 2>&1
grep -q "total: 4 cells" st1.txt && ! grep -q " 4 done" st1.txt && grep -q -E "partial|failed|new" st1.txt &&
  ok "--status after the interruption: $(tail -1 st1.txt | cut -d';' -f1)" || { bad "--status"; cat st1.txt; }
grep -q "failed(137)" st1.txt && ok "--status shows the killed run" || bad "the killed run is not shown"
# --variants / --seeds: a part of the grid, in the experiment's order; a name it lacks is refused
"$SWEEP" tiny.toml --status --variants usbpo-bias --seeds 1 > st1s.txt 2>&1
grep -q "total: 1 cells" st1s.txt && grep -q "usbpo-bias/s1 " st1s.txt && ! grep -q "mbpo/s" st1s.txt &&
  ok "--variants usbpo-bias --seeds 1: one cell" || { bad "--variants/--seeds"; cat st1s.txt; }
"$SWEEP" tiny.toml --status --variants mbpo,usbpo-bais > st1b.txt 2>&1; rc=$?
[ $rc = 2 ] && grep -q "no variant 'usbpo-bais'" st1b.txt && "$SWEEP" tiny.toml --status --seeds 0,7 > st1c.txt 2>&1
[ $? = 2 ] && grep -q "no seed '7'" st1c.txt && ok "an unknown variant or seed is refused (exit 2)" ||
  { bad "unknown variant/seed"; cat st1b.txt st1c.txt 2>/dev/null; }
USBPO_DIST="$DIST" "$SWEEP" tiny.toml --jobs 2 > s2.log 2>&1; rc=$?
"$SWEEP" tiny.toml --status > st2.txt 2>&1
[ $rc = 0 ] && grep -q "4 done" st2.txt && ok "run again: the sweep completes (4 done)" ||
  { bad "second sweep: exit $rc"; cat s2.log st2.txt; }
# two cells at a time share the cores: each gets its half (at least 1 thread)
share=$(( $(nproc) / 2 )); [ $share -lt 1 ] && share=1
grep -q "threads: $share on rank 0 (run.threads = $share," $ROOT/*/s0/log.txt &&
  ok "--jobs 2 on $(nproc) cores: $share thread(s) per cell" ||
  { bad "cells' threads"; grep -h "threads:" $ROOT/*/s0/log.txt; }
USBPO_DIST="$DIST" "$SWEEP" tiny.toml > s3.log 2>&1; rc=$?
[ $rc = 0 ] && grep -q "4 done, 0 to run" s3.log && ok "a finished sweep re-runs nothing" || bad "third sweep: $rc"
# every cell equals the run launched directly
for v in mbpo usbpo-bias; do
  for s in 0 1; do
    set_v="--set run.algo=mbpo"; [ $v = usbpo-bias ] && set_v="--set run.algo=usbpo --set finetune.terms=bias"
    "$DIST" tiny-base.toml $set_v --set run.total_steps=1500 --set run.seed=$s --set run.dir=direct/$v \
      --set run.name=s$s > /dev/null 2>&1 || bad "direct run $v s$s"
    a=$ROOT/$v/s$s; b=direct/$v/s$s
    det_cols $a/metrics.csv > a.csv; det_cols $b/metrics.csv > b.csv
    if cmp -s a.csv b.csv && cmp -s $a/episodes.csv $b/episodes.csv && cmp -s $a/policy_final.bin $b/policy_final.bin; then
      ok "cell $v/s$s is bit-identical to the direct run ($(($(wc -l < a.csv) - 1)) rows)"
    else bad "cell $v/s$s differs from the direct run"; fi
  done
done

# ---- 1b. a sweep of MPI cells (experiment.ranks = 2) stopped by SIGTERM: it asks mpirun with
# SIGUSR1 (a SIGTERM would start Open MPI's own kill of the ranks), the cell checkpoints on
# that and the sweep exits 75
sed -e 's/name = "tiny"/name = "tiny-mpi"/' -e 's/total_steps = 400/total_steps = 30000\nranks = 2/' \
  "$SRC/tests/data/sweep/tiny.toml" > tiny-mpi.toml
USBPO_DIST="$DIST" "$SWEEP" tiny-mpi.toml --variants mbpo --seeds 0 --jobs 1 > s4.log 2>&1 &
SP=$!
MC=exp/tiny-mpi/inverted_pendulum/mbpo/s0
for i in $(seq 600); do grep -q "epoch 2:" $MC/log.txt 2>/dev/null && break; sleep 0.1; done
kill -TERM $SP; wait $SP; rc=$?
[ $rc = 75 ] && grep -q "SIGUSR1: checkpoint" $MC/log.txt && grep -q "(SIGUSR1)" $MC/log.txt &&
  ok "an MPI cell is stopped with SIGUSR1 to its mpirun: checkpoint written, sweep exit 75" ||
  { bad "MPI cell stop: sweep exit $rc"; tail -5 $MC/log.txt s4.log; }

# ---- 2. --report on fixture metrics (variant a: finals 100..500; b: a + 1000; c: a shuffled)
mkdir -p fx
cat > fx/exp.toml <<EOT
[experiment]
name = "fx"
base = "../tiny-base.toml"
seeds = [0, 1, 2, 3, 4]
total_steps = 300
baseline = "a"
threshold = 150
plots = ["eval_return-wall_s"]
[[variant]]
label = "a"
set = []
[[variant]]
label = "b"
set = ["sac.lr=0.001"]
[[variant]]
label = "c"
set = ["sac.lr=0.002"]
[[variant]]
label = "d"
set = ["sac.lr=0.003"]
[[variant]]
label = "e"
set = ["sac.lr=0.004"]
EOT
sed -i 's/^set = \[\]$/set = ["run.algo=usbpo"]/' fx/exp.toml
mkrow() { # dir: rows "env_steps eval" ...
  local d=$1; shift; mkdir -p "$d"; echo "epoch,env_steps,eval_return,wall_s" > "$d/metrics.csv"
  local e=0; while [ $# -gt 1 ]; do echo "$e,$1,$2,1" >> "$d/metrics.csv"; e=$((e+1)); shift 2; done
  : > "$d/policy_final.bin"
  printf '[env]\nname = "inverted_pendulum"\n[run]\nseed = %s\n' "${d##*/s}" > "$d/config.toml"; }
for s in 0 1 2 3 4; do
  f=$((100 * (s + 1)))
  # evaluations at 100, 200, 300: 0, f, f -> final (last three) = 2f/3; AUC = (0+f)/2/3 + f/3 = f/2
  mkrow fx/exp/fx/inverted_pendulum/a/s$s 100 0 200 $f 300 $f
  mkrow fx/exp/fx/inverted_pendulum/b/s$s 100 1000 200 $((f + 1000)) 300 $((f + 1000))
  mkrow fx/exp/fx/inverted_pendulum/c/s$s 100 0 200 $((600 - f)) 300 $((600 - f))
  mkrow fx/exp/fx/inverted_pendulum/d/s$s 100 7 200 7 300 7
done
# e: one unfinished seed; d seed 0 with the holdout columns (ratios 1, 2, 1.5; one row without)
mkrow fx/exp/fx/inverted_pendulum/e/s3 100 30 200 90
# (and phase 2's trainings that kept step 0: 2 + 3 + 0 + 1 of the 12 - 1 after the first)
{ echo "epoch,env_steps,eval_return,model_holdout_mse,model_holdout_mse_p1,wall_s,ft_kept0,model_trainings,ft_dw_rms"
  echo "0,100,7,0.5,0.5,10,2,3,0"; echo "1,150,7,nan,0.5,20,3,6,nan"; echo "2,200,7,1.0,0.5,30,0,9,1e-5"
  echo "3,300,7,0.6,0.4,7300,1,12,0"; } > fx/exp/fx/inverted_pendulum/d/s0/metrics.csv
(cd fx && USBPO_DIST="$DIST" "$SWEEP" exp.toml --report > r.log 2>&1) || { bad "--report failed"; cat fx/r.log; }
R=fx/exp/fx/report.md
# per seed, at 75, 150, 225 and 300 env steps (last three evaluations at or before each)
grep -q '^| a, 1 | 300 | – | 0.0 | 100.0 | 133.3 | 1 s | – | – |$' $R &&
  grep -q '^| d, 0 | 300 | – | 7.0 | 7.0 | 7.0 | 7300 s (2.0 h) | 1.00 → 1.50 (2.00) | 6 of 11 (55 %) |$' $R &&
  grep -q '^| e, 3 | 200 | – | 30.0 | – | – | 1 s | – | – |$' $R && ! grep -q '^| e, 0 ' $R &&
  grep -q "^| e | 0 of 5 finished | " $R &&
  ok "per-seed rows: quarters of the budget, unfinished seeds, wall clock, holdout ratio and kept-step-0 share by hand" ||
  { bad "per-seed rows"; sed -n '/^| variant, seed/,$p' $R; }
# a: finals 66.7,133.3,200,266.7,333.3: mean 200, std sqrt(2/9*(100^2+... )) = 94.3, IQM (trim 1 each
# side) = 200, AUC mean 150, steps to 150: seeds 1..4 at 200 (f >= 150), seed 0 never
grep -q "^| a | 5 of 5 finished | 200.0 ± 94.3 | \[.*\] | 200.0 | 200.0 (4 of 5) | 150.0 |" $R &&
  ok "variant a: mean, std, IQM, steps to threshold, AUC as computed by hand" || { bad "row a"; grep '^| a ' $R; }
# at a smaller budget (--steps 100) no seed of a has reached 150 by then: the steps to it count
# only evaluations at or before the budget (the old report said 200.0, 4 of 5, from after it)
(cd fx && "$SWEEP" exp.toml --report --steps 100 > r100.log 2>&1)
grep -q "^| a | 5 of 5 finished | .* | – (0 of 5) |" $R &&
  ok "--steps: steps to threshold counts only evaluations inside the budget" ||
  { bad "steps to threshold past the budget"; grep '^| a ' $R; }
(cd fx && "$SWEEP" exp.toml --report > /dev/null 2>&1)
grep -q "^| d | 5 of 5 finished | 7.0 ± 0.0 | \[7.0, 7.0\] | 7.0 |" $R &&
  ok "equal seeds: the bootstrap interval is the point" || { bad "row d"; grep '^| d ' $R; }
grep -q "^| b | +1000.0 | \[+.*\] | better |" $R && ok "b - a: +1000, better" || { bad "b vs a"; grep '^| b ' $R; }
grep -q "^| c | +0.0 | \[-.*, +.*\] | not distinguishable |" $R &&
  ok "c - a: 0, not distinguishable" || { bad "c vs a"; grep '^| c ' $R; }
grep -q '^!\[inverted_pendulum: eval_return-wall_s\](inverted_pendulum-eval_return-wall_s.png)' $R &&
  [ -s fx/exp/fx/inverted_pendulum-eval_return-wall_s.png ] &&
  ok "experiment.plots: an extra figure of a column difference" || { bad "plots figure"; cat fx/r.log; }
cp $R r1.md; (cd fx && "$SWEEP" exp.toml --report > /dev/null 2>&1); cmp -s $R r1.md &&
  ok "the report is reproducible (fixed bootstrap seed)" || bad "report not reproducible"
# the figure draws the grid's cells only: --seeds narrows it (a, b x seeds 0, 1: 4 runs, not the
# 11 under a/ and b/), and a seed directory the experiment does not name (a/s9, say from an older
# grid) stays out of it (21 runs: 5 + 5 + 5 + 5 + e's one, not 22)
mkrow fx/exp/fx/inverted_pendulum/a/s9 100 5000 200 5000 300 5000
(cd fx && "$SWEEP" exp.toml --report --variants a,b --seeds 0,1 > r2.log 2>&1)
grep -q "inverted_pendulum.png (4 runs)" fx/r2.log && ok "the figure: the grid's (--seeds) cells only" ||
  { bad "figure cells"; cat fx/r2.log; }
(cd fx && "$SWEEP" exp.toml --report > r3.log 2>&1)
grep -q "inverted_pendulum.png (21 runs)" fx/r3.log &&
  ok "the figure: a seed directory outside the grid is not drawn" || { bad "stray seed"; cat fx/r3.log; }
rm -r fx/exp/fx/inverted_pendulum/a/s9
# a grid none of whose cells has run (an experiment queued, not started): the report is written
# with its tables and no figure, and it is not a failure (it was: usbpo_plot given no run)
sed 's/^name = "fx"/name = "fx-new"/' fx/exp.toml > fx/new.toml
(cd fx && "$SWEEP" new.toml --report > r4.log 2>&1); rc=$?
[ $rc = 0 ] && grep -q "^| a | 0 of 5 finished | " fx/exp/fx-new/report.md &&
  ! grep -q "Problems met" fx/exp/fx-new/report.md && ! grep -q "could not be drawn" fx/r4.log &&
  ok "a grid with no run yet: the report's tables, no figure, no problem" ||
  { bad "report of a grid with no run: exit $rc"; cat fx/r4.log; }

# --status estimates a cell not started at its variant's rate on that env, the env's with none.
# Seconds per step of the started cells: a, b, c and d/s1-s4 1/300 (wall 1 s), d/s0 7300/300,
# e/s3 1/200. A new seed of d at d's mean, (7300/300 + 4/300)/5 x 300 s = 1 461 s = 0h24m; of a,
# 0h00m; a variant with no started cell (f) at the mean over all 21, 24.40/21 x 300 = 349 s = 0h05m
sed 's/^seeds = \[0, 1, 2, 3, 4\]/seeds = [0, 1, 2, 3, 4, 5]/' fx/exp.toml > fx/eta.toml
printf '[[variant]]\nlabel = "f"\nset = ["sac.lr=0.005"]\n' >> fx/eta.toml
(cd fx && "$SWEEP" eta.toml --status > st-eta.txt 2>&1)
grep -q "^inverted_pendulum/d/s5 .* new *~0h24m$" fx/st-eta.txt &&
  grep -q "^inverted_pendulum/a/s5 .* new *~0h00m$" fx/st-eta.txt &&
  grep -q "^inverted_pendulum/f/s0 .* new *~0h05m$" fx/st-eta.txt &&
  ok "--status: a new cell's estimate is its variant's rate on the env, else the env's" ||
  { bad "--status estimate per variant"; cat fx/st-eta.txt; }
# the same cell alone (--variants f): the env's rate over every variant's seeds outside it
(cd fx && "$SWEEP" eta.toml --status --variants f --seeds 0 > st-eta1.txt 2>&1)
grep -q "^inverted_pendulum/f/s0 .* new *~0h05m$" fx/st-eta1.txt &&
  ok "--status --variants: a new cell's estimate from the env's cells outside the selection" ||
  { bad "--status estimate from the env outside the selection"; cat fx/st-eta1.txt; }
# with a finished seed of its variant, a cell's ETA is that seed's clock over the steps left (a
# cost per step that grows: 100 s, 300 s, 1 200 s per 100 steps), at the cell's pace against it:
# g/s1 at 100 steps in 100 s (the seed's pace) 1 600 - 100 = 1 500 s = 0h25m, where its own rate
# says 200 s; g/s2, twice as slow so far, 3 000 s = 0h50m; g/s3, not started, ~0h26m (1 600 s)
printf '[[variant]]\nlabel = "g"\nset = ["sac.lr=0.002"]\n' >> fx/eta.toml
# clocked DIR done|partial STEPS:WALL ...: a seed with those rows (eval 5), finished or not
clocked() {
  local d=fx/exp/fx/inverted_pendulum/$1 state=$2 e=0 r; shift 2
  mkrow "$d" 100 5
  echo "epoch,env_steps,eval_return,wall_s" > "$d/metrics.csv"
  for r in "$@"; do echo "$e,${r%%:*},5,${r#*:}" >> "$d/metrics.csv"; e=$((e + 1)); done
  [ "$state" = done ] || rm "$d/policy_final.bin"
}
clocked g/s0 done 100:100 200:400 300:1600
clocked g/s1 partial 100:100
clocked g/s2 partial 100:200
(cd fx && "$SWEEP" eta.toml --status > st-eta2.txt 2>&1)
grep -q "^inverted_pendulum/g/s1 .* partial *0h25m$" fx/st-eta2.txt &&
  grep -q "^inverted_pendulum/g/s2 .* partial *0h50m$" fx/st-eta2.txt &&
  grep -q "^inverted_pendulum/g/s3 .* new *~0h26m$" fx/st-eta2.txt &&
  grep -q "^inverted_pendulum/d/s5 .* new *~0h24m$" fx/st-eta2.txt &&
  ok "--status: the ETA follows a finished seed's clock, at the cell's own pace" ||
  { bad "--status estimate by a finished seed"; cat fx/st-eta2.txt; }
# a selection (--seeds 1) whose variant has a started seed outside it: that seed's rate, 6 s per
# step x 300 = 1 800 s = ~0h30m (the selection alone has no rate: "-")
printf '[[variant]]\nlabel = "h"\nset = ["sac.lr=0.003"]\n' >> fx/eta.toml
clocked h/s0 partial 100:600
(cd fx && "$SWEEP" eta.toml --status --variants h --seeds 1 > st-eta3.txt 2>&1)
grep -q "^inverted_pendulum/h/s1 .* new *~0h30m$" fx/st-eta3.txt &&
  ok "--status --seeds: a new cell's estimate from a seed of its variant outside the selection" ||
  { bad "--status estimate outside the selection"; cat fx/st-eta3.txt; }

# a variant with no finished seed takes another variant's finished seed on the env, the one whose
# clock at the cell's step is nearest its own (within x0.5-x2): k/s0, at 100 steps in 100 s, g/s0's
# clock over the steps left at pace 1, 1 500 s = 0h25m (its own rate says 200 s); k/s1, not
# started, k/s0's clock so far plus the same, ~0h26m; m/s0, at 100 steps in 1 000 s, is x10 of
# g/s0 and x400 of d (its finished seeds' mean clock at 100 steps): its own rate, 2 000 s = 0h33m
printf '[[variant]]\nlabel = "k"\nset = ["sac.lr=0.006"]\n[[variant]]\nlabel = "m"\nset = ["sac.lr=0.007"]\n' >> fx/eta.toml
clocked k/s0 partial 100:100
clocked m/s0 partial 100:1000
(cd fx && "$SWEEP" eta.toml --status --variants k,m --seeds 0,1 > st-eta4.txt 2>&1)
grep -q "^inverted_pendulum/k/s0 .* partial *0h25m$" fx/st-eta4.txt &&
  grep -q "^inverted_pendulum/k/s1 .* new *~0h26m$" fx/st-eta4.txt &&
  grep -q "^inverted_pendulum/m/s0 .* partial *0h33m$" fx/st-eta4.txt &&
  grep -q "2 by another variant's finished seed on that env at the cell's pace" fx/st-eta4.txt &&
  ok "--status: with no finished seed of its own, another variant's on the env at the cell's pace" ||
  { bad "--status estimate by another variant"; cat fx/st-eta4.txt; }

# ---- 3. --slurm --dry-run
"$SWEEP" tiny.toml --slurm --dry-run > sb.txt 2> /dev/null
[ "$(grep -c '^  [0-9]) ARGS=' sb.txt)" = 4 ] && grep -q -- "--array=0-3" sb.txt &&
  grep -q "usbpo.sbatch" sb.txt && ok "--slurm --dry-run: one array task per cell through usbpo.sbatch" ||
  { bad "--slurm --dry-run"; head -20 sb.txt; }

# ---- 4. bad experiment files: refused before anything starts
refuse() { # name, expected text, file contents on stdin
  cat > bad-$1.toml
  rm -rf exp/bad
  "$SWEEP" bad-$1.toml > bad-$1.log 2>&1; local rc=$?
  if [ $rc = 1 ] && grep -q -- "$2" bad-$1.log && [ ! -d exp/bad ]; then ok "refused: $1"
  else bad "$1: exit $rc"; cat bad-$1.log; fi
}
HDR='[experiment]
name = "bad"
base = "tiny-base.toml"
total_steps = 400'
printf '%s\nseeds = [0]\nfrobnicate = 1\n[[variant]]\nlabel = "x"\nset = []\n' "$HDR" |
  refuse unknown-key "bad-unknown-key.toml:6:1: unknown key 'experiment.frobnicate'"
printf '%s\nseeds = []\n[[variant]]\nlabel = "x"\nset = ["run.algo=sac"]\n' "$HDR" |
  refuse empty-grid "empty grid"
printf '%s\nseeds = [0]\n[[variant]]\nlabel = "x"\nset = ["sac.lrr=1"]\n' "$HDR" |
  refuse rejected-override "bad-rejected-override.toml:7:1: variant 'x'.*refuses"
printf '%s\nseeds = [0]\n[[variant]]\nlabel = "x"\nset = ["run.algo=sac"]\n[[variant]]\nlabel = "x"\nset = ["run.algo=mbpo"]\n' "$HDR" |
  refuse duplicate-label "bad-duplicate-label.toml:10:1: duplicate variant label 'x' (also at line 7)"
printf '%s\nseeds = [0]\n[[variant]]\nlabel = "x"\nset = ["run.algo=sac"]\n' "$HDR" | sed 's/total_steps = 400/total_steps = 450/' |
  refuse budget "bad-budget.toml:4:1: experiment.total_steps = 450 is not a whole number of epochs"
printf '%s\nseeds = [0]\nplots = ["ft_shiftt"]\n[[variant]]\nlabel = "x"\nset = ["run.algo=sac"]\n' "$HDR" |
  refuse plot-column "bad-plot-column.toml:6:9: experiment.plots: 'ft_shiftt' is not a metrics.csv column"
exit $fail
