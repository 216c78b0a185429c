#!/bin/bash
# test_slurm — a real single-node Slurm (../shared/tools/slurm-local.sh): submit
# deploy/slurm/usbpo.sbatch with a tiny config on 4 tasks, wait, check the job's exit status and
# its outputs; Slurm is stopped afterwards.
#   test_slurm.sh BIN SOURCE_ROOT
set -u
BIN=$(readlink -f "$1"); SRC=$(readlink -f "$2")
export SLURM_LOCAL_DIR=/tmp/usbpo-slurm-test
. "$SRC/tests/slurm_env.sh"
JOB=$(sbatch --parsable -n 4 -o "$T/job-%j.out" "$SRC/deploy/slurm/usbpo.sbatch" \
  "$SRC/configs/inverted_pendulum.toml" --set run.dir="$T/runs" --set run.total_steps=300 \
  --set env.init_steps=150 --set env.min_pool_size=150 --set env.epoch_length=100 \
  --set model.train_freq=100 --set sac.hidden=32 --set model.hidden=32 \
  --set rollout.batch_size=2000 --set finetune.max_steps=5 --set log.progress_s=1000)
[ -n "$JOB" ] || { echo "FAILED: sbatch"; exit 1; }
echo "submitted job $JOB"
"$TOOLS/slurm-local.sh" wait "$JOB" 600
rc=$?
fail=0
if [ $rc -eq 0 ]; then echo "ok: job $JOB completed with exit code 0"; else echo "FAILED: job exit $rc"; fail=1; fi
cat "$T/job-$JOB.out" | tail -5
m="$T/runs/inverted_pendulum-usbpo-s0/metrics.csv"
if [ -s "$m" ] && tail -1 "$m" | cut -d, -f2 | grep -qx 300; then echo "ok: metrics.csv reaches 300 steps"; else
  echo "FAILED: metrics.csv"; fail=1; fi
if grep -q "4 rank(s)" "$T/runs/inverted_pendulum-usbpo-s0/log.txt"; then echo "ok: ran on 4 ranks"; else
  echo "FAILED: not 4 ranks"; fail=1; fi

# usbpo_sweep --slurm: the tiny experiment (2 variants x 2 seeds) as one array job, a task per
# cell through usbpo.sbatch; every cell, and the report, equal a local sweep of the same file
SWEEP="$(dirname "$BIN")/usbpo_sweep"
mkdir -p "$T/arr" "$T/loc"
for d in arr loc; do cp "$SRC/tests/data/sweep/tiny.toml" "$SRC/tests/data/sweep/tiny-base.toml" "$T/$d/"; done
cd "$T/arr" || exit 1
AJ=$(USBPO_DIST="$BIN" "$SWEEP" tiny.toml --slurm 2>&1 | sed -n 's/^usbpo_sweep: sbatch .*: \([0-9][0-9]*\)$/\1/p')
if [ -z "$AJ" ]; then echo "FAILED: usbpo_sweep --slurm did not submit"; fail=1; else
  echo "submitted array job $AJ"
  for i in $(seq 600); do [ -z "$(squeue -h -j "$AJ" 2>/dev/null)" ] && break; sleep 1; done
  USBPO_DIST="$BIN" "$SWEEP" tiny.toml --status > st.txt 2>&1
  grep -q "4 done" st.txt && echo "ok: the array job ran all 4 cells" || { echo "FAILED: array job"; cat st.txt; ls exp/tiny; fail=1; }
  (cd "$T/loc" && USBPO_DIST="$BIN" "$SWEEP" tiny.toml --jobs 2 > loc.log 2>&1) || { echo "FAILED: local sweep"; fail=1; }
  same=1
  for c in mbpo/s0 mbpo/s1 usbpo-bias/s0 usbpo-bias/s1; do
    a="$T/arr/exp/tiny/inverted_pendulum/$c"; b="$T/loc/exp/tiny/inverted_pendulum/$c"
    cmp -s <(det_cols "$a/metrics.csv") <(det_cols "$b/metrics.csv") && cmp -s "$a/policy_final.bin" "$b/policy_final.bin" || same=0
  done
  [ $same = 1 ] && echo "ok: every array cell equals the local sweep's" || { echo "FAILED: array cells differ"; fail=1; }
  (cd "$T/arr" && "$SWEEP" tiny.toml --report > /dev/null 2>&1); (cd "$T/loc" && "$SWEEP" tiny.toml --report > /dev/null 2>&1)
  # every number but the wall clock (the per-seed rows' "N s" column) must match
  nowall() { sed -E 's/\| [0-9]+ s( \([0-9.]+ h\))? \|/| (wall) |/' "$1"; }
  nowall "$T/arr/exp/tiny/report.md" > "$T/arr.md"; nowall "$T/loc/exp/tiny/report.md" > "$T/loc.md"
  grep -q '| (wall) |' "$T/loc.md" && cmp -s "$T/arr.md" "$T/loc.md" && echo "ok: the reports match (but the wall clock)" ||
    { echo "FAILED: reports differ"; diff "$T/arr.md" "$T/loc.md" | head; fail=1; }
fi
exit $fail
