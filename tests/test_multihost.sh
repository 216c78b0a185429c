#!/bin/bash
# test_multihost — ranks spread over three "hosts" (network namespaces on a private bridge,
# ../shared/tools/netns-hosts.sh + netns-mpirun.sh: MPI over TCP between them) run a tiny sync
# job that must produce the same metrics and final policy as the one-process run.
#   test_multihost.sh BIN SOURCE_ROOT
set -u
BIN=$(readlink -f "$1"); SRC=$(readlink -f "$2")
TOOLS=${USBPO_SHARED_TOOLS:-$SRC/../shared/tools}
[ -x "$TOOLS/netns-hosts.sh" ] || { echo "SKIP: no $TOOLS/netns-hosts.sh"; exit 77; }
. "$SRC/tests/mpi_env.sh"
export NETNS_STATE=/run/usbpo-netns-test NETNS_SLOTS=2 NETNS_SUBNET=10.213.7
T=$(mktemp -d /tmp/usbpo-mh-XXXXXX)
cleanup() { "$TOOLS/netns-hosts.sh" down > /dev/null 2>&1; rm -rf "$T"; }
trap cleanup EXIT
"$TOOLS/netns-hosts.sh" down > /dev/null 2>&1
"$TOOLS/netns-hosts.sh" up 3 || { echo "FAILED: netns hosts"; exit 1; }
TINY="--set run.total_steps=400 --set env.init_steps=150 --set env.min_pool_size=150
      --set env.epoch_length=100 --set model.train_freq=100 --set sac.hidden=32
      --set sac.updates_per_step=2 --set model.hidden=32 --set rollout.batch_size=3000
      --set finetune.max_steps=5 --set topology.rollout_shards=6 --set log.progress_s=1000"
"$BIN" "$SRC/configs/inverted_pendulum.toml" $TINY --set run.dir="$T/one" > "$T/one.log" 2>&1 \
  || { echo "FAILED: the one-process run"; tail "$T/one.log"; exit 1; }
NETNS_MPI_TIMEOUT=300 "$TOOLS/netns-mpirun.sh" -np 5 --map-by node "$BIN" \
  "$SRC/configs/inverted_pendulum.toml" $TINY --set run.dir="$T/multi" > "$T/multi.log" 2>&1
rc=$?
fail=0
[ $rc -eq 0 ] && echo "ok: 5 ranks on 3 hosts finished" || { echo "FAILED: exit $rc"; tail -20 "$T/multi.log"; exit 1; }
hosts=$(grep -o 'on host [^,]*' "$T/multi.log" | sort -u | wc -l)
if [ "$hosts" -ge 3 ]; then echo "ok: ranks ran on $hosts distinct hosts"; else
  echo "FAILED: ranks on $hosts host(s)"; grep 'on host' "$T/multi.log"; fail=1; fi
a="$T/one/inverted_pendulum-usbpo-s0" b="$T/multi/inverted_pendulum-usbpo-s0"
if cmp -s <(det_cols "$a/metrics.csv") <(det_cols "$b/metrics.csv"); then echo "ok: metrics equal np=1"; else
  echo "FAILED: metrics differ"; fail=1; fi
if cmp -s "$a/policy_final.bin" "$b/policy_final.bin"; then echo "ok: final policy equal np=1"; else
  echo "FAILED: final policy differs"; fail=1; fi
exit $fail
