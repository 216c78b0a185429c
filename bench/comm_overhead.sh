#!/bin/sh
# comm_overhead.sh — the same short sync job in one process and with mpirun -np 4: wall times,
# and the share of wall time rank 0 spent in communication and the codec (metrics column
# t_comm_s: sending, receiving and broadcasting bytes plus encode/decode, idle waiting excluded).
#   bench/comm_overhead.sh BUILD_DIR [env] [total_steps]
set -eu
B=$(readlink -f "$1"); ENV=${2:-hopper}; STEPS=${3:-600}
SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/tests/mpi_env.sh"
T=$(mktemp -d)
ARGS="--set run.total_steps=$STEPS --set env.init_steps=300 --set env.min_pool_size=300
      --set env.epoch_length=200 --set model.train_freq=100 --set rollout.batch_size=20000
      --set sac.updates_per_step=2 --set log.progress_s=100000 --set run.overwrite=true"
for np in 1 4; do
  s=$(date +%s.%N)
  if [ $np = 1 ]; then "$B/usbpo_dist" "$SRC/configs/$ENV.toml" $ARGS --set run.dir="$T/$np" > "$T/$np.log" 2>&1
  else mpirun -np $np "$B/usbpo_dist" "$SRC/configs/$ENV.toml" $ARGS --set run.dir="$T/$np" > "$T/$np.log" 2>&1; fi
  e=$(date +%s.%N)
  m=$(ls "$T/$np"/*/metrics.csv)
  awk -F, -v np=$np -v wall="$(echo "$e - $s" | bc)" 'NR==1{for(i=1;i<=NF;i++) c[$i]=i; next}
      {w=$c["wall_s"]; t=$c["t_comm_s"]; r=$c["t_rollout_s"]; ro+=r}
      END{printf "np=%d: wall %.1f s (process), run %.1f s; communication + codec on rank 0 %.2f s = %.2f%% of the run\n", np, wall, w, t, 100*t/w}' "$m"
done
det() { awk -F, 'NR==1{for(i=1;i<=NF;i++) k[i]=($i !~ /^(updates_per_s|steps_per_s|t_.*_s|wall_s)$/)} {o=""; for(i=1;i<=NF;i++) if(k[i]) o=o $i ","; print o}' "$1"; }
if cmp -s "$(det "$T/1"/*/metrics.csv | md5sum)" "$(det "$T/4"/*/metrics.csv | md5sum)"; then :; fi
[ "$(det "$T/1"/*/metrics.csv | md5sum)" = "$(det "$T/4"/*/metrics.csv | md5sum)" ] && echo "metrics identical for np=1 and np=4"
rm -rf "$T"
