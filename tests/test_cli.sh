#!/bin/sh
# test_cli — the binary's interface: --help / --version, --check-config, config errors that name
# their place, tiny real runs of sac, mbpo and usbpo with their outputs, and refusal to overwrite.
#   test_cli.sh BIN SOURCE_ROOT
set -u
BIN=$1
SRC=$2
. "$SRC/tests/lib.sh"
expect() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

# --help lists keys, --version prints the version
"$BIN" --help > "$T/help" 2>&1; expect "--help exits 0" "[ $? -eq 0 ]"
expect "--help lists config keys" "grep -q 'finetune.mode' '$T/help'"
"$BIN" --version > "$T/ver" 2>&1; expect "--version" "grep -q '^usbpo_dist [0-9]' '$T/ver'"
"$BIN" --bogus > /dev/null 2>&1; expect "unknown option exits 2" "[ $? -eq 2 ]"
"$BIN" > /dev/null 2>&1; expect "no arguments exits 2" "[ $? -eq 2 ]"

# --check-config prints the resolved config, which re-parses
"$BIN" "$SRC/configs/hopper.toml" --check-config --set sac.lr=0.001 > "$T/resolved.toml" 2>&1
expect "--check-config exits 0" "[ $? -eq 0 ]"
expect "resolved config holds the override" "grep -q '^lr = 0.001' '$T/resolved.toml'"
"$BIN" "$T/resolved.toml" --check-config > "$T/again.toml" 2>&1
expect "the resolved config re-parses to itself" "diff -q '$T/resolved.toml' '$T/again.toml' > /dev/null"

# errors name file:line:col and the key
printf '[env]\nname = "hopper"\n[sac]\nlrr = 0.1\n' > "$T/typo.toml"
"$BIN" "$T/typo.toml" > "$T/err" 2>&1; rc=$?
expect "a typo fails with exit 1" "[ $rc -eq 1 ]"
expect "the typo message names the place and suggests" \
  "grep -q \"typo.toml:4:1: unknown key 'sac.lrr' (did you mean 'sac.lr'?)\" '$T/err'"
"$BIN" "$T/missing.toml" > "$T/err2" 2>&1
expect "a missing file is named" "grep -q 'missing.toml: cannot read config' '$T/err2'"

# issue 16: a config must be a regular file of bounded size (no blocking on a FIFO, no reading
# /dev/zero until memory runs out); --set followed by an option is a command-line error; a
# topology the ranks cannot hold is refused, not silently shrunk
mkfifo "$T/fifo.toml"
timeout 10 "$BIN" "$T/fifo.toml" --check-config > "$T/err3" 2>&1; rc=$?
expect "a FIFO config is refused at once (exit 1)" "[ $rc -eq 1 ] && grep -q 'not a regular file' '$T/err3'"
timeout 10 "$BIN" /dev/zero --check-config > "$T/err4" 2>&1; rc=$?
expect "/dev/zero as config is refused at once (exit 1)" "[ $rc -eq 1 ]"
"$BIN" "$SRC/configs/hopper.toml" --set --check-config > /dev/null 2>&1; rc=$?
expect "--set --check-config exits 2" "[ $rc -eq 2 ]"
"$BIN" "$SRC/configs/inverted_pendulum.toml" --set topology.rollout_workers=10 \
  --set run.dir="$T/topo" > "$T/err5" 2>&1; rc=$?
expect "rollout_workers beyond the ranks is refused" \
  "[ $rc -eq 1 ] && grep -q 'topology.rollout_workers = 10' '$T/err5'"
"$BIN" "$SRC/configs/inverted_pendulum.toml" --set sac.buffer_size=1000000000 \
  --set run.dir="$T/topo" > "$T/err6" 2>&1; rc=$?
expect "a budget beyond the machine is refused (exit 5)" \
  "[ $rc -eq 5 ] && grep -q \"exceeds this machine's memory\" '$T/err6'"
(ulimit -v 400000; "$BIN" "$SRC/configs/inverted_pendulum.toml" --set run.dir="$T/topo" \
  > "$T/err7" 2>&1); rc=$?
expect "a budget beyond ulimit -v is refused at once (exit 5, no hang)" \
  "[ $rc -eq 5 ] && grep -q 'more than this process may use' '$T/err7'"

# the BLAS kernel: a generic fallback on a CPU with AVX2 restarts with the matching core (a fake
# CPU and core: the test hooks); a value already set is never overridden
env -u OPENBLAS_CORETYPE USBPO_TEST_BLAS_CORE=Prescott USBPO_TEST_CPU=avx2 "$BIN" \
  "$SRC/configs/inverted_pendulum.toml" --set run.algo=sac --set run.total_steps=50 \
  --set env.init_steps=50 --set env.min_pool_size=50 --set env.epoch_length=50 \
  --set run.dir="$T/blas" --set run.name=a > "$T/blas1" 2>&1; rc=$?
expect "a generic OpenBLAS kernel is replaced (OPENBLAS_CORETYPE=Haswell, restart)" \
  "[ $rc -eq 0 ] && grep -q 'restarting with OPENBLAS_CORETYPE=Haswell' '$T/blas1' && grep -q 'kernel Haswell (chosen by usbpo' '$T/blas/a/log.txt'"
OPENBLAS_CORETYPE=Haswell USBPO_TEST_BLAS_CORE=Prescott USBPO_TEST_CPU=avx2,avx512f "$BIN" \
  "$SRC/configs/inverted_pendulum.toml" --set run.algo=sac --set run.total_steps=50 \
  --set env.init_steps=50 --set env.min_pool_size=50 --set env.epoch_length=50 \
  --set run.dir="$T/blas" --set run.name=b > "$T/blas2" 2>&1; rc=$?
expect "OPENBLAS_CORETYPE set by the user is kept" \
  "[ $rc -eq 0 ] && ! grep -q restarting '$T/blas2' && grep -q 'OPENBLAS_CORETYPE=Haswell from the environment' '$T/blas/b/log.txt'"

# tiny real runs (small networks, few steps): every algorithm, every output
TINY="--set run.dir=$T/runs --set run.total_steps=300 --set env.init_steps=150
      --set env.min_pool_size=150 --set env.epoch_length=100 --set model.train_freq=100
      --set sac.hidden=32 --set sac.updates_per_step=2 --set model.hidden=32
      --set rollout.batch_size=2000 --set finetune.max_steps=5 --set log.progress_s=1000"
for algo in sac mbpo usbpo; do
  # shellcheck disable=SC2086
  "$BIN" "$SRC/configs/inverted_pendulum.toml" --set run.algo=$algo $TINY > "$T/$algo.out" 2>&1
  rc=$?
  d="$T/runs/inverted_pendulum-$algo-s0"
  expect "$algo run exits 0" "[ $rc -eq 0 ]"
  [ $rc -eq 0 ] || cat "$T/$algo.out"
  expect "$algo: config.toml" "[ -s '$d/config.toml' ]"
  expect "$algo: metrics.csv header" \
    "head -1 '$d/metrics.csv' | grep -q '^epoch,env_steps,total_env_steps,eval_return'"
  expect "$algo: metrics.csv has the required columns" \
    "head -1 '$d/metrics.csv' | tr ',' '\n' | grep -cxE 'env_steps|eval_return|train_return|sac_q_loss|sac_pi_loss|alpha|updates_per_s|wall_s' | grep -qx 8"
  expect "$algo: 4 epochs of 100 steps (epoch 0 longer)" "[ \$(tail -n +2 '$d/metrics.csv' | wc -l) -ge 3 ]"
  expect "$algo: last row reaches 300 steps" "tail -1 '$d/metrics.csv' | cut -d, -f2 | grep -qx 300"
  expect "$algo: episodes.csv" "grep -q ',explore,' '$d/episodes.csv' && grep -q ',train,' '$d/episodes.csv' && grep -q ',eval,' '$d/episodes.csv'"
  expect "$algo: log.txt" "grep -q 'epoch 0' '$d/log.txt'"
  "$BIN" "$d/config.toml" --check-config > /dev/null 2>&1
  expect "$algo: the run's config.toml is valid" "[ $? -eq 0 ]"
done
d="$T/runs/inverted_pendulum-usbpo-s0"
expect "usbpo: phase 2 ran (ft_steps > 0 in the last row)" \
  "awk -F, 'NR==1{for(i=1;i<=NF;i++) if(\$i==\"ft_steps\") c=i} END{exit !(\$c > 0)}' '$d/metrics.csv'"
expect "mbpo: no phase 2" \
  "awk -F, 'NR==1{for(i=1;i<=NF;i++) if(\$i==\"ft_steps\") c=i} END{exit !(\$c == 0)}' '$T/runs/inverted_pendulum-mbpo-s0/metrics.csv'"

# an existing run is never overwritten without being told
cp "$d/metrics.csv" "$T/before.csv"
# shellcheck disable=SC2086
"$BIN" "$SRC/configs/inverted_pendulum.toml" --set run.algo=usbpo $TINY > "$T/again.out" 2>&1
rc=$?
expect "a second run into the same directory is refused" "[ $rc -eq 1 ]"
expect "the refusal explains" "grep -q 'already holds a run' '$T/again.out'"
expect "nothing already written was touched" "cmp -s '$T/before.csv' '$d/metrics.csv'"

[ $fail -eq 0 ] && echo "all CLI checks passed"
exit $fail
