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
exit $fail
