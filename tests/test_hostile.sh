#!/bin/bash
# test_hostile — what a careless or malicious user can hand the tools (issue 35, items 3, 4, 6,
# 7), each case as typed:
#  * user text reaching a shell or gnuplot is data: usbpo_plot -o '|cmd', an experiment dir that
#    starts with '|', a directory named inj'$(cmd)'z for --slurm --dry-run, quotes, backticks and
#    a space in experiment.dir: no command runs, the batch script is valid bash, #SBATCH -o is
#    quoted, a line break is refused;
#  * the sweep cannot hang or report wrongly: a cell path that is a file fails with a message; a
#    FIFO as metrics.csv is refused at once by --status, --report, usbpo_plot and usbpo_dist,
#    each naming a FIFO; a cell whose directory vanished mid-run is failed, not done;
#    --report names and counts torn and non-finite rows and fails, keeps a seed whose last row
#    has no evaluation finished, fails when its figure fails, refuses a symlinked report.md, and
#    gives no verdict from one seed a side;
#  * a variant's set cannot take the sweep's keys (run.seed, run.total_steps, run.dir, run.name,
#    env.name, run.resume, run.overwrite): refused with file:line;
#  * the smaller ones: a metrics.csv replaced by a longer one is refused on resume, not spliced;
#    --eval refuses a policy without its checksum file; --probe-model refuses an empty
#    --variants and an --at past the newest checkpoint; --eval refuses --as-epoch past the run;
#    SIGHUP is logged as SIGHUP; --help lists exit codes 4, 5 and 130; a file size limit at
#    start exits 4, and so does a resume whose metrics.csv is immutable; $USBPO_STATUS_FILE is
#    written when a rank goes silent (exit 3); usbpo_plot's time grows linearly with a published
#    curve's rows.
#   test_hostile.sh USBPO_DIST USBPO_SWEEP USBPO_PLOT SOURCE_ROOT
set -u
DIST=$(readlink -f "$1"); SWEEP=$(readlink -f "$2"); PLOT=$(readlink -f "$3"); SRC=$(readlink -f "$4")
. "$SRC/tests/mpi_env.sh"
. "$SRC/tests/lib.sh"
export USBPO_DIST="$DIST"
cd "$T" || exit 1
cp "$SRC/tests/data/sweep/tiny-base.toml" .
TINY="tiny-base.toml --set run.threads=1"

# ---- a finished tiny run (300 steps) to work on
"$DIST" $TINY --set run.total_steps=300 --set run.dir=runs --set run.name=a > a.log 2>&1 ||
  { bad "the base run failed"; tail a.log; exit 1; }
A=runs/a

# ==== 3. shell commands through user text
"$PLOT" "$A" -o '|touch pwned1 #.png' > p1.log 2>&1
[ ! -e pwned1 ] && ok "usbpo_plot -o '|touch ...': no command ran" || bad "usbpo_plot -o ran a command"
[ -s './|touch pwned1 #.png' ] && ok "  and the figure is a file of that name here" ||
  { bad "  no file of that name"; cat p1.log; }
"$PLOT" "$A" -o '|touch pwned1b; cat >/dev/null #.png' > p1b.log 2>&1
[ ! -e pwned1b ] && ok "usbpo_plot -o '|touch ...; cat >/dev/null #': no command ran" || bad "usbpo_plot -o ran a command"
"$PLOT" "$A" -o $'two\nlines.png' > p2.log 2>&1; rc=$?
[ $rc = 2 ] && grep -q "control character" p2.log && ok "usbpo_plot -o with a line break: refused (exit 2)" ||
  { bad "line break in -o: exit $rc"; cat p2.log; }
"$PLOT" "$A" -o ok.png --title "x' ; system('touch pwned2') ; print '" > p3.log 2>&1
[ ! -e pwned2 ] && [ -f ok.png ] && ok "a title with quotes and system(): drawn as text" || bad "--title ran a command"

# an experiment whose cells live in a directory that starts with '|'
mkdir -p "|touch pwned3; cat #"
cat > pipe.toml <<'EOF'
[experiment]
name = "p"
base = "tiny-base.toml"
seeds = [0]
total_steps = 300
baseline = "a"
dir = "|touch pwned3; cat #"
[[variant]]
label = "a"
set = ["run.algo=mbpo"]
EOF
mkdir -p "|touch pwned3; cat #/p/inverted_pendulum/a"
cp -r "$A" "|touch pwned3; cat #/p/inverted_pendulum/a/s0"
"$SWEEP" pipe.toml --report > r1.log 2>&1
[ ! -e pwned3 ] && ok "--report with dir = '|touch ...': no command ran" || bad "--report ran a command from dir"

# --slurm --dry-run from a directory named inj'$(touch F)'z/, with a space in experiment.dir
mkdir -p "inj'\$(touch pwned4)'z"
cp tiny-base.toml "inj'\$(touch pwned4)'z/"
printf '[experiment]\nname = "s"\nbase = "tiny-base.toml"\nseeds = [0]\ntotal_steps = 300\nbaseline = "a"\ndir = "my exp`touch pwned5`"\n[[variant]]\nlabel = "a"\nset = ["run.algo=mbpo"]\n' > "inj'\$(touch pwned4)'z/s.toml"
"$SWEEP" "inj'\$(touch pwned4)'z/s.toml" --slurm --dry-run > sb.txt 2> sb.log
rc=$?
[ $rc = 0 ] && bash -n sb.txt && ok "--slurm --dry-run in a hostile directory: a valid batch script" ||
  { bad "--slurm --dry-run: exit $rc"; cat sb.log; }
# run the script's case statement with sbatch's variables and a stand-in for usbpo.sbatch: the
# arguments arrive as the literal text, and nothing ran
sed -e 's|^exec bash .*|printf "%s\\n" "${ARGS[@]}"|' sb.txt > sb-run.sh
SLURM_ARRAY_TASK_ID=0 bash sb-run.sh > sb-args.txt 2>&1
[ ! -e pwned4 ] && [ ! -e "inj'\$(touch pwned4)'z/pwned4" ] && [ ! -e pwned5 ] &&
  ok "the array task's arguments ran no command" || bad "the batch script ran a command"
grep -q "inj'\$(touch pwned4)'z/tiny-base.toml" sb-args.txt &&
  ok "the path reaches usbpo_dist as written" || { bad "the path was changed"; head -3 sb-args.txt; }
grep -q '^#SBATCH -o "my exp`touch pwned5`/s/slurm-%A_%a.out"$' sb.txt &&
  ok "#SBATCH -o is quoted (a space and a backtick in experiment.dir)" || { bad "#SBATCH -o"; grep SBATCH sb.txt; }
printf '[experiment]\nname = "s"\nbase = "tiny-base.toml"\nseeds = [0]\ntotal_steps = 300\nbaseline = "a"\ndir = "q\\"uote"\n[[variant]]\nlabel = "a"\nset = ["run.algo=mbpo"]\n' > q.toml
"$SWEEP" q.toml --slurm --dry-run > /dev/null 2> q.log; rc=$?
[ $rc = 1 ] && grep -q "an #SBATCH line cannot carry" q.log && ok "a double quote in experiment.dir: refused for Slurm" ||
  { bad "quote in dir: exit $rc"; cat q.log; }

# ==== 4. the sweep cannot hang or report wrongly
cat > g.toml <<'EOF'
[experiment]
name = "g"
base = "tiny-base.toml"
seeds = [0, 1]
total_steps = 300
baseline = "a"
[[variant]]
label = "a"
set = ["run.algo=mbpo"]
[[variant]]
label = "b"
set = ["run.algo=sac"]
EOF
G=exp/g/inverted_pendulum
mkdir -p $G/a && touch $G/a/s0 # a cell path that is a file
timeout 120 "$SWEEP" g.toml --jobs 1 --variants a --seeds 0 > f1.log 2>&1; rc=$?
[ $rc != 124 ] && [ $rc != 0 ] && grep -q "a/s0" f1.log && ok "a cell path that is a file: failed with a message (exit $rc), no hang" ||
  { bad "cell path is a file: exit $rc"; tail -3 f1.log; }
rm -f $G/a/s0
mkdir -p $G/a/s1 && mkfifo $G/a/s1/metrics.csv && cp "$A/config.toml" "$A/run.id" $G/a/s1/
timeout 20 "$SWEEP" g.toml --status > f2.log 2>&1; rc=$?
[ $rc != 124 ] && grep -q "FIFO" f2.log && grep -q "a/s1 .*failed" f2.log &&
  ok "a FIFO metrics.csv: --status says FIFO and failed, at once" || { bad "--status on a FIFO: exit $rc"; cat f2.log; }
timeout 20 "$SWEEP" g.toml --report > f3.log 2>&1; rc=$?
[ $rc != 124 ] && grep -q "FIFO" f3.log && ok "  --report: refused at once (exit $rc)" || { bad "--report on a FIFO: exit $rc"; cat f3.log; }
timeout 20 "$PLOT" $G/a/s1 -o fifo.png > f4.log 2>&1; rc=$?
[ $rc = 1 ] && grep -q "FIFO" f4.log && ok "  usbpo_plot: refused, naming a FIFO" || { bad "usbpo_plot on a FIFO: exit $rc"; cat f4.log; }
cp -r "$A/ckpt" $G/a/s1/
timeout 30 "$DIST" $TINY --set run.total_steps=300 --set run.dir=$G/a --set run.name=s1 --resume > f5.log 2>&1; rc=$?
[ $rc != 124 ] && [ $rc != 0 ] && grep -q "FIFO" f5.log && ok "  usbpo_dist --resume: refused, naming a FIFO (exit $rc)" ||
  { bad "usbpo_dist on a FIFO: exit $rc"; tail -3 f5.log; }
rm -rf $G/a/s1
# a cell whose directory is deleted while it runs: failed, not done
"$SWEEP" g.toml --jobs 1 --variants a --seeds 1 --steps 3000 > f6.log 2>&1 &
SP=$!
for _ in $(seq 300); do [ -f $G/a/s1/metrics.csv ] && break; sleep 0.1; done
sleep 1; rm -rf $G/a/s1
wait $SP; rc=$?
grep -q "a/s1: exit .*FAILED: its" f6.log && [ $rc != 0 ] && ok "a cell whose directory vanished: failed (exit $rc)" ||
  { bad "vanished cell: exit $rc"; cat f6.log; }
# --report: fixtures with bad rows
mkdir -p $G/a/s0 $G/a/s1 $G/b/s0 $G/b/s1
for c in a/s0 a/s1 b/s0 b/s1; do cp "$A/config.toml" $G/$c/; cp "$A/metrics.csv" $G/$c/; touch $G/$c/policy_final.bin; done
# b/s0: a torn row and a nan evaluation in the middle; b/s1: its newest row has no evaluation
awk -F, 'NR==3{print "2,1,2"; next} NR==4{OFS=","; $4="nan"} {print}' "$A/metrics.csv" > $G/b/s0/metrics.csv
cp "$A/metrics.csv" $G/b/s1/metrics.csv
last=$(tail -1 "$A/metrics.csv" | awk -F, 'BEGIN{OFS=","} {$4="nan"; print}')
sed -i '$d' $G/b/s1/metrics.csv; echo "$last" >> $G/b/s1/metrics.csv
"$SWEEP" g.toml --report > r2.log 2>&1; rc=$?
[ $rc = 1 ] && grep -q "b/s0/metrics.csv:3: .*1 torn or non-numeric rows" r2.log &&
  grep -q "b/s0/metrics.csv: 1 rows with a non-finite eval_return" r2.log &&
  ok "--report names and counts a torn row and a nan row, and fails (exit 1)" || { bad "--report bad rows: exit $rc"; cat r2.log; }
grep -q "^| b | 2 of 2 finished" exp/g/report.md && ok "  a seed whose newest row has no evaluation is finished" ||
  { bad "  the nan-last seed is not finished"; grep "^| b" exp/g/report.md; }
grep -q "Problems met while writing this page" exp/g/report.md && ok "  the page lists the problems" || bad "  no problems section"
cp $G/b/s1/metrics.csv $G/b/s0/metrics.csv
ln -sf "$T/victim.txt" exp/g/report.md; echo precious > victim.txt
"$SWEEP" g.toml --report > r3.log 2>&1; rc=$?
[ $rc = 1 ] && [ "$(cat victim.txt)" = precious ] && grep -q "symbolic link" r3.log &&
  ok "a symlinked report.md: refused, its target untouched" || { bad "symlinked report.md: exit $rc"; cat r3.log; }
rm -f exp/g/report.md
PATH_SAVE=$PATH
mkdir -p nognuplot && printf '#!/bin/sh\nexit 1\n' > nognuplot/gnuplot && chmod +x nognuplot/gnuplot
PATH="$T/nognuplot:$PATH" "$SWEEP" g.toml --report > r4.log 2>&1; rc=$?
PATH=$PATH_SAVE
[ $rc = 1 ] && grep -q "could not be drawn" r4.log && ok "a figure that fails fails the report (exit 1)" ||
  { bad "failed figure: exit $rc"; cat r4.log; }
"$SWEEP" g.toml --report --seeds 0 > r5.log 2>&1
grep -q "^| b | .* | – | no verdict: 1 and 1 finished seeds" exp/g/report.md &&
  ok "one seed a side: a difference, no interval, no verdict" || { bad "one-seed verdict"; grep "^| b" exp/g/report.md; }

# ==== 6. a variant's set cannot take the sweep's keys
for key in run.seed=3 run.total_steps=10 run.dir=x run.name=y env.name=hopper "run.seed = 4" run.overwrite=true; do
  printf '[experiment]\nname = "k"\nbase = "tiny-base.toml"\nseeds = [0]\ntotal_steps = 300\nbaseline = "a"\n[[variant]]\nlabel = "a"\nset = ["run.algo=mbpo",\n       "%s"]\n' "$key" > k.toml
  "$SWEEP" k.toml --status > k.log 2>&1; rc=$?
  [ $rc != 0 ] && grep -q "^k.toml:9:" k.log && grep -q "is the sweep's to set" k.log && ok "variant set '$key': refused at k.toml:9" ||
    { bad "variant set '$key': exit $rc"; cat k.log; }
done

# ==== 7. the smaller ones
# a metrics.csv replaced by a longer one from another run: refused on resume, nothing spliced
"$DIST" $TINY --set run.total_steps=300 --set run.dir=runs --set run.name=b --set run.seed=1 > b.log 2>&1
"$DIST" $TINY --set run.total_steps=600 --set run.dir=runs --set run.name=b2 --set run.seed=2 > b2.log 2>&1
cp runs/b2/metrics.csv runs/b/metrics.csv; cp runs/b/metrics.csv longer.csv
"$DIST" $TINY --set run.total_steps=400 --set run.dir=runs --set run.name=b --set run.seed=1 --resume > b3.log 2>&1; rc=$?
[ $rc = 1 ] && grep -q "not those the checkpoint recorded" b3.log && cmp -s runs/b/metrics.csv longer.csv &&
  ok "a longer metrics.csv from another run: resume refused, the file untouched" || { bad "spliced metrics: exit $rc"; tail -3 b3.log; }
# --eval without the policy's checksum file
cp -r "$A" ev && rm -rf ev/ckpt ev/policy_final.bin.sum
"$DIST" --eval ev > e1.log 2>&1; rc=$?
[ $rc = 1 ] && grep -q "without its checksum file" e1.log && ok "--eval: a policy without its .sum is refused" || { bad "--eval no sum: exit $rc"; cat e1.log; }
"$DIST" --eval "$A" --as-epoch 99 > e2.log 2>&1; rc=$?
[ $rc = 2 ] && grep -q "has epochs 0 to" e2.log && ok "--eval --as-epoch past the run: refused (exit 2)" || { bad "--as-epoch 99: exit $rc"; cat e2.log; }
"$DIST" --probe-model "$A" --variants '' > pr1.log 2>&1; rc=$?
[ $rc = 2 ] && grep -q "empty list" pr1.log && ok "--probe-model --variants '': refused (exit 2)" || { bad "empty variants: exit $rc"; cat pr1.log; }
"$DIST" --probe-model "$A" --at 999999 --variants faithful > pr2.log 2>&1; rc=$?
[ $rc != 0 ] && grep -q "past its newest checkpoint" pr2.log && ok "--probe-model --at past the newest checkpoint: refused" ||
  { bad "--at past: exit $rc"; cat pr2.log; }
# SIGHUP is logged as SIGHUP, once
"$DIST" $TINY --set run.total_steps=3000 --set run.dir=runs --set run.name=h > h.log 2>&1 &
P=$!
for _ in $(seq 300); do grep -q "epoch 1:" h.log 2> /dev/null && break; sleep 0.1; done
kill -HUP $P; wait $P; rc=$?
[ $rc = 75 ] && grep -q "SIGHUP: checkpoint" h.log && ! grep -q "SIGTERM" h.log &&
  ok "SIGHUP: logged as SIGHUP, checkpointed, exit 75" || { bad "SIGHUP: exit $rc"; grep -i sig h.log; }
[ "$(grep -c 'checkpoint.*(SIGHUP)' runs/h/log.txt)" = 1 ] && ok "  one checkpoint for it" || { bad "  checkpoints"; grep -i "SIGHUP" runs/h/log.txt; }
"$DIST" $TINY --set run.total_steps=3000 --set run.dir=runs --set run.name=h --resume > u.log 2>&1 &
P=$!
for _ in $(seq 300); do grep -q "epoch 2:" u.log 2> /dev/null && break; sleep 0.1; done
kill -USR1 $P; wait $P
[ "$(grep -c 'SIGUSR1' runs/h/log.txt)" -le 2 ] && [ "$(grep -c 'SIGUSR1: checkpoint' runs/h/log.txt)" = 1 ] &&
  ok "SIGUSR1: 'SIGUSR1: checkpoint' said once" || { bad "SIGUSR1 said twice"; grep SIGUSR1 runs/h/log.txt; }
"$DIST" --help > help.txt 2>&1
grep -q "4 a write failed" help.txt && grep -q "5 out of memory" help.txt && grep -q "130 a second Ctrl-C" help.txt &&
  ok "--help lists exit codes 4, 5 and 130" || bad "--help exit codes"
# a file size limit at start: exit 4, not 1
(ulimit -f 0; "$DIST" $TINY --set run.total_steps=300 --set run.dir=runs --set run.name=f > fs.log 2>&1); rc=$?
[ $rc = 4 ] && ok "a file size limit at start: exit 4" || { bad "ulimit -f 0 at start: exit $rc"; tail -3 fs.log; }
# an immutable metrics.csv on resume: a write that fails, exit 4 (not 1), nothing changed
cp -r "$A" runs/imm
if chattr +i runs/imm/metrics.csv 2> /dev/null; then
  md5sum runs/imm/metrics.csv > imm.md5
  "$DIST" $TINY --set run.total_steps=400 --set run.dir=runs --set run.name=imm --resume > imm.log 2>&1; rc=$?
  chattr -i runs/imm/metrics.csv
  [ $rc = 4 ] && grep -q "make the file writable" imm.log && md5sum -c --quiet imm.md5 &&
    ok "an immutable metrics.csv on resume: exit 4, saying what to do, the file untouched" ||
    { bad "immutable metrics.csv: exit $rc"; tail -3 imm.log; }
else
  echo "ok: chattr +i is not available here (not root, or the file system has no such flag): the immutable case is not run"
fi
# a rank that goes silent: exit 3, and the status file says so
if command -v mpirun > /dev/null; then
  USBPO_STATUS_FILE=$T/status.txt USBPO_TEST_STALL=1:60 timeout 120 mpirun -np 2 "$DIST" $TINY \
    --set run.total_steps=300 --set run.dir=runs --set run.name=st --set runtime.heartbeat_timeout_s=5 > st.log 2>&1
  [ "$(cat status.txt 2> /dev/null)" = 3 ] && ok "a silent rank: \$USBPO_STATUS_FILE says 3" ||
    { bad "status file on exit 3: '$(cat status.txt 2> /dev/null)'"; tail -5 st.log; }
fi
# usbpo_plot's time grows with the rows, not their square: published curves (--ref) of 10 000,
# 40 000 and 160 000 rows beside a run that spans them. The fixed cost (the run, gnuplot) cancels
# in the ratio of the increments: (t160k - t40k) / (t40k - t10k) is 4 when the time is linear in
# the rows, 16 when it is quadratic (the old reader: 40 000 rows 7.3 s, 5 000 1.5 s). Measured as
# CPU time: on 2026-12-07, beside two campaign cells, the wall clock read 6.0 / 6.4 / 13.6 s (18x)
mkdir -p wide
awk 'BEGIN { print "epoch,env_steps,eval_return"; for (i = 0; i < 40000; i++) print i "," i * 2000 "," i % 1000 }' > wide/metrics.csv
cp "$A/config.toml" wide/
ts=""; plotted=1
for n in 10000 40000 160000; do
  awk -v n=$n 'BEGIN { print "step,time,reward,seed"; for (i = 0; i < n; i++) print i * 500 "," i "," i % 1000 ",0" }' > ref$n.csv
  best=""
  for rep in 1 2; do # the lesser of two; CPU time (user + system, gnuplot's included), not wall
    # clock, so that the cells or builds beside the test do not add to it
    TIMEFORMAT='%U %S'
    { time "$PLOT" wide --ref ref$n.csv=A -o w$n.png > w$n.log 2>&1; } 2> w$n.time; rc=$?
    unset TIMEFORMAT
    [ $rc = 0 ] && [ -s w$n.png ] || { plotted=0; bad "usbpo_plot --ref with $n rows: exit $rc"; tail -3 w$n.log; }
    best=$(awk -v m="$best" '{ d = $1 + $2; printf "%.2f", (m == "" || d < m) ? d : m }' w$n.time)
  done
  ts="$ts $best"
done
read -r d1 d2 d3 <<< "$ts"
r=$(awk -v a=$d1 -v b=$d2 -v c=$d3 'BEGIN { printf "%.1f", (c - b) / (b - a > 0.01 ? b - a : 0.01) }')
echo "  usbpo_plot --ref: 10 000 rows $d1 s, 40 000 rows $d2 s, 160 000 rows $d3 s of CPU time"
[ $plotted = 1 ] && awk -v r="$r" 'BEGIN { exit !(r < 8) }' && ok "usbpo_plot --ref: the time's increments grow ${r}x for 4x the rows (linear: 4, quadratic: 16)" ||
  bad "usbpo_plot --ref: the time's increments grow ${r}x for 4x the rows (linear: 4, quadratic: 16)"
exit $fail
