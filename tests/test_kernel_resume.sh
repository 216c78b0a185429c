#!/bin/bash
# test_kernel_resume — a resume knows its BLAS kernel (issue 35, item 5). A run started with one
# OpenBLAS kernel and stopped at a checkpoint:
#  * resumed where the environment chooses no kernel: usbpo_dist restarts itself on the kernel
#    the checkpoint recorded, and the whole run is bit-identical to an uninterrupted run on it;
#  * resumed with another kernel set by the user: it goes on, says so in the log, and the
#    metrics column blas_kernel_changes is 0 up to the resume and 1 from it; the sweep's --status
#    marks the cell (+kernel1);
#  * resumed on a CPU that cannot run the recorded kernel (a fake CPU without AVX2): it goes on
#    with a warning that names both.
#   test_kernel_resume.sh USBPO_DIST USBPO_SWEEP SOURCE_ROOT
set -u
DIST=$(readlink -f "$1"); SWEEP=$(readlink -f "$2"); SRC=$(readlink -f "$3")
. "$SRC/tests/mpi_env.sh"
. "$SRC/tests/lib.sh"
cd "$T" || exit 1
cp "$SRC/tests/data/sweep/tiny-base.toml" .
unset OPENBLAS_CORETYPE
# two kernels this CPU runs whose arithmetic differs: Sandybridge (AVX) and Haswell (AVX2, FMA);
# without AVX2, Sandybridge and Nehalem (SSE)
if grep -qw avx2 /proc/cpuinfo; then K1=Sandybridge K2=Haswell; else K1=Nehalem K2=Sandybridge; fi
grep -qw avx /proc/cpuinfo || { echo "ok: no AVX on this CPU: skipped"; exit 0; }
RUN="tiny-base.toml --set run.threads=1 --set run.total_steps=900"
stop_at_epoch() { # dir name epoch: start on K1, SIGUSR1 once the epoch is logged
  OPENBLAS_CORETYPE=$K1 "$DIST" $RUN --set run.dir="$1" --set run.name="$2" > "$2.log" 2>&1 &
  local p=$!
  for _ in $(seq 600); do grep -q "epoch $3:" "$2.log" 2> /dev/null && break; sleep 0.1; done
  kill -USR1 $p; wait $p
}

OPENBLAS_CORETYPE=$K1 "$DIST" $RUN --set run.dir=r --set run.name=ref > ref.log 2>&1 ||
  { bad "the reference run failed"; tail ref.log; exit 1; }
grep -q "BLAS: OpenBLAS kernel $K1" r/ref/log.txt && ok "the reference runs on $K1" ||
  { bad "the reference does not run on $K1"; grep BLAS r/ref/log.txt; exit 1; }

# ---- the environment chooses nothing: the recorded kernel, bit for bit
stop_at_epoch r a 2; rc=$?
[ $rc = 75 ] || bad "the stop: exit $rc"
"$DIST" $RUN --set run.dir=r --set run.name=a --resume > a2.log 2>&1; rc=$?
grep -q "restarting with OPENBLAS_CORETYPE=$K1 so that the run continues bit-identical" a2.log &&
  grep -q "BLAS: OpenBLAS kernel $K1 (chosen by usbpo: the kernel of the checkpoint resumed" r/a/log.txt &&
  ok "a resume with no kernel chosen restarts on $K1, the checkpoint's" ||
  { bad "no restart on the recorded kernel (exit $rc)"; grep -i -E "blas|kernel" a2.log r/a/log.txt | head; }
det_cols r/ref/metrics.csv > ref.csv; det_cols r/a/metrics.csv > a.csv
cmp -s ref.csv a.csv && cmp -s r/ref/policy_final.bin r/a/policy_final.bin &&
  ok "stopped and resumed on $K1: bit-identical to the uninterrupted run ($(($(wc -l < a.csv) - 1)) rows)" ||
  { bad "the resumed run differs from the uninterrupted one"; diff ref.csv a.csv | head -4; }

# ---- the user chooses another kernel: goes on, says so, marks the rows
stop_at_epoch r b 2
OPENBLAS_CORETYPE=$K2 "$DIST" $RUN --set run.dir=r --set run.name=b --resume > b2.log 2>&1; rc=$?
[ $rc = 0 ] && grep -q "computed with OpenBLAS's $K1 kernel .* this process runs $K2" r/b/log.txt &&
  ok "resumed on $K2 by the user's choice: it goes on and says so" || { bad "resume on $K2: exit $rc"; grep -i kernel r/b/log.txt; }
col=$(head -1 r/b/metrics.csv | tr ',' '\n' | grep -n '^blas_kernel_changes$' | cut -d: -f1)
marks=$(cut -d, -f"$col" r/b/metrics.csv | tail -n +2 | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
case $marks in
  "0:"*" 1:"*) ok "blas_kernel_changes: $marks(0 before the resume, 1 from it)" ;;
  *) bad "blas_kernel_changes: '$marks'" ;;
esac
det_cols r/b/metrics.csv > b.csv
cmp -s ref.csv b.csv && bad "the run on another kernel equals the reference (the kernels do not differ here?)" ||
  ok "  and its numbers do differ from the uninterrupted $K1 run"

# ---- the sweep's --status shows such a cell
cat > k.toml <<'EOF'
[experiment]
name = "k"
base = "tiny-base.toml"
seeds = [0]
total_steps = 900
baseline = "a"
[[variant]]
label = "a"
set = ["run.threads=1"]
EOF
mkdir -p exp/k/inverted_pendulum/a
cp -r r/b exp/k/inverted_pendulum/a/s0
sed -i 's|^dir = .*|dir = "exp/k/inverted_pendulum/a"|; s|^name = "b"|name = "s0"|' exp/k/inverted_pendulum/a/s0/config.toml
"$SWEEP" k.toml --status > st.txt 2>&1
grep -q "a/s0 .*+kernel1" st.txt && grep -q "^+kernelN: 1 cell" st.txt &&
  ok "--status marks the cell (+kernel1) and says what it means" || { bad "--status"; cat st.txt; }

# ---- a CPU that cannot run the recorded kernel (a fake one without AVX2)
if [ "$K2" = Haswell ]; then
  OPENBLAS_CORETYPE=Haswell "$DIST" $RUN --set run.dir=r --set run.name=c > c.log 2>&1 &
  p=$!
  for _ in $(seq 600); do grep -q "epoch 2:" c.log 2> /dev/null && break; sleep 0.1; done
  kill -USR1 $p; wait $p
  USBPO_TEST_CPU="" "$DIST" $RUN --set run.dir=r --set run.name=c --resume > c2.log 2>&1; rc=$?
  [ $rc = 0 ] && grep -q "computed with OpenBLAS's Haswell kernel .* which this CPU (no AVX2 / AVX-512) cannot run" c2.log &&
    ok "a CPU that cannot run the recorded kernel: goes on with a warning" || { bad "cannot-run case: exit $rc"; grep -i kernel c2.log | head -3; }
fi
exit $fail
