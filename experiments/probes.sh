#!/bin/bash
# probes.sh RUN_DIR NAME AT:DATA_AT [AT:DATA_AT ...] — issue 32's probe series: from each of a run's
# kept checkpoints (at or before AT total env steps), ROUNDS model trainings in a row (default 8),
# each with the next real rows of the checkpoint at or before DATA_AT, for every phase-2 variant in
# VARIANTS (default "faithful,faithful+moments=own": the official phase 2 and the variant that gave
# it its own Adam moments), written to docs/results/probe/NAME-<AT in thousands>k-rounds.md (a file
# already there is kept: the new one is NAME-...-<date>.md). The probes run one after another at
# the campaign's priority (nice 5, NICE= to change), on the run's thread count, with the BLAS kernel
# the environment sets. Example (Walker2d's MBPO run of experiments/probe-data.toml):
#   experiments/probes.sh exp/probe-data/walker2d/mbpo/s0 walker2d-mbpo-s0 6000:11000 16000:21000 26000:31000
# USBPO_DIST: the binary (default build/usbpo_dist); --dry-run prints the commands only; --wait
# probes a run that is still going: each point waits (polling every WAIT_POLL seconds, default 60)
# until the run has a checkpoint at or past its DATA_AT, or has ended (policy_final.bin), so that a
# series can be started with the data run and follows it. Checkpoints are written atomically: a
# checkpoint directory that is there is whole.
set -u
cd "$(dirname "$0")/.."
DIST=${USBPO_DIST:-build/usbpo_dist}
ROUNDS=${ROUNDS:-8}
VARIANTS=${VARIANTS:-faithful,faithful+moments=own}
NICE=${NICE:-5}
OUT=${OUT:-docs/results/probe}
dry=0 wait=0
args=()
for a in "$@"; do
  case $a in
    --dry-run) dry=1 ;;
    --wait) wait=1 ;;
    *) args+=("$a") ;;
  esac
done
set -- "${args[@]}"
if [ $# -lt 3 ]; then
  echo "usage: experiments/probes.sh RUN_DIR NAME AT:DATA_AT [AT:DATA_AT ...] [--dry-run] [--wait]" >&2
  exit 2
fi
run=$1 name=$2
shift 2
[ $wait = 1 ] || [ -d "$run/ckpt" ] || { echo "probes.sh: $run has no ckpt/ directory (a run with its checkpoints kept)" >&2; exit 2; }
for p in "$@"; do
  case $p in
    [0-9]*:[0-9]*) ;;
    *) echo "probes.sh: '$p': expected AT:DATA_AT (total env steps, e.g. 6000:11000)" >&2; exit 2 ;;
  esac
  at=${p%%:*} data=${p#*:}
  if [ "$data" -le "$at" ]; then
    echo "probes.sh: '$p': DATA_AT must be past AT (its real rows come from a later checkpoint)" >&2
    exit 2
  fi
done
# reached DATA_AT: the run has a checkpoint at or past it, or has ended
reached() {
  [ -e "$run/policy_final.bin" ] && return 0
  local newest
  newest=$(ls "$run/ckpt" 2> /dev/null | grep -E '^[0-9]+$' | sort | tail -n 1)
  [ -n "$newest" ] && [ $((10#$newest)) -ge "$1" ]
}
mkdir -p "$OUT"
status=0
for p in "$@"; do
  at=${p%%:*} data=${p#*:}
  f="$OUT/$name-$((at / 1000))k-rounds.md"
  [ -e "$f" ] && f="$OUT/$name-$((at / 1000))k-rounds-$(date -u +%F).md"
  cmd=(nice -n "$NICE" "$DIST" --probe-model "$run" --at "$at" --data-at "$data" --rounds "$ROUNDS"
    --variants "$VARIANTS")
  if [ $dry = 1 ]; then
    echo "${cmd[*]} > $f"
    continue
  fi
  if [ $wait = 1 ] && ! reached "$data"; then
    echo "probes.sh: $(date -u +%H:%M:%S) waiting for $run to pass $data total env steps" >&2
    until reached "$data"; do sleep "${WAIT_POLL:-60}"; done
  fi
  echo "probes.sh: $(date -u +%H:%M:%S) ${cmd[*]} > $f" >&2
  if "${cmd[@]}" > "$f.part"; then
    mv "$f.part" "$f"
    tail -n "$(grep -c '^- ' "$f")" "$f" >&2
  else
    status=$?
    echo "probes.sh: the probe at $at failed (exit $status); its output so far: $f.part" >&2
  fi
done
exit $status
