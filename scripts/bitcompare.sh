#!/bin/sh
# bitcompare.sh OLD_BIN NEW_BIN [OUT_DIR] — is a change behaviour-neutral? Runs the same sync runs
# with two usbpo_dist binaries and compares them bit for bit: every metrics.csv column the two
# versions share except the wall-clock ones (by name, so a version that adds columns compares on
# the old ones), episodes.csv, and the final policy's bytes. Then a run of OLD stopped at a
# checkpoint and resumed by NEW against NEW's uninterrupted run (a running campaign's upgrade).
#   RUNS: the runs, "label|np|--set args" lines (default below: InvertedPendulum 2 000 steps)
#   OLD_SETS / NEW_SETS: extra --set arguments for each binary (e.g. a renamed option)
# Prints one line per run and "bitcompare: N same, M differ"; exits 1 when any differs.
set -u
OLD=$1; NEW=$2; OUT=${3:-$(mktemp -d)}
SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/tests/mpi_env.sh" # mpirun as root, oversubscribed, on loopback
CFG="$SRC/configs/inverted_pendulum.toml"
: "${RUNS:=usbpo-w2|1|--set run.algo=usbpo --set finetune.mode=w2
usbpo-w2-np4|4|--set run.algo=usbpo --set finetune.mode=w2
mbpo|1|--set run.algo=mbpo
sac|1|--set run.algo=sac}"
: "${OLD_SETS:=}"; : "${NEW_SETS:=}"
: "${STEPS:=2000}"
mkdir -p "$OUT"

run() { # bin dir np extra... (stdin: /dev/null, or mpirun would swallow the rest of RUNS)
  bin=$1; dir=$2; np=$3; shift 3
  if [ "$np" = 1 ]; then
    "$bin" "$CFG" --set run.total_steps="$STEPS" --set run.dir="$dir" --set run.name=r \
      --set log.progress_s=1000 "$@" > "$dir.log" 2>&1 < /dev/null
  else
    mpirun --oversubscribe -np "$np" "$bin" "$CFG" --set run.total_steps="$STEPS" \
      --set run.dir="$dir" --set run.name=r --set log.progress_s=1000 "$@" > "$dir.log" 2>&1 < /dev/null
  fi
}

# the shared non-wall columns of two metrics files, as two comparable texts
# (and of a third when given: the old binary's layout, for a run the new binary migrated)
cols() {
  python3 - "$1" "$2" "$OUT/a.cmp" "$OUT/b.cmp" "${3:-$2}" <<'EOF'
import csv, sys
wall = {"updates_per_s", "steps_per_s", "wall_s"}
a = list(csv.reader(open(sys.argv[1]))); b = list(csv.reader(open(sys.argv[2])))
c = next(csv.reader(open(sys.argv[5])))
common = [x for x in a[0] if x in b[0] and x in c and x not in wall and not x.startswith("t_")]
for rows, out in ((a, sys.argv[3]), (b, sys.argv[4])):
    ix = [rows[0].index(c) for c in common]
    with open(out, "w") as f:
        for r in rows:
            f.write(",".join(r[i] for i in ix) + "\n")
EOF
}

compare() { # label dirA dirB [metrics file whose columns bound the comparison]
  a=$2/r; b=$3/r; why=""
  if [ ! -f "$a/metrics.csv" ] || [ ! -f "$b/metrics.csv" ]; then
    why="a run failed (see $2.log, $3.log)"
  else
    cols "$a/metrics.csv" "$b/metrics.csv" "${4:-}"
    cmp -s "$OUT/a.cmp" "$OUT/b.cmp" || why="metrics differ: $(diff "$OUT/a.cmp" "$OUT/b.cmp" | sed -n 2p | cut -c1-120)"
    cmp -s "$a/episodes.csv" "$b/episodes.csv" || why="$why episodes differ"
    cmp -s "$a/policy_final.bin" "$b/policy_final.bin" || why="$why final policy differs"
  fi
  if [ -z "$why" ]; then
    echo "same: $1 ($(($(wc -l < "$OUT/a.cmp") - 1)) rows, $(head -1 "$OUT/a.cmp" | tr ',' '\n' | wc -l) columns)"
  else
    echo "DIFFER: $1: $why"
  fi
}

echo "$RUNS" | while IFS='|' read -r label np sets; do
  [ -n "$label" ] || continue
  # the old binary's runs are kept and reused by a later comparison into the same OUT_DIR
  # the old binary's run is kept for the next comparison only when it ran to its end (a run
  # stopped by a signal also writes its policy)
  if ! grep -q "(end of run)" "$OUT/old-$label/r/log.txt" 2> /dev/null; then
    rm -rf "$OUT/old-$label"
    # shellcheck disable=SC2086
    run "$OLD" "$OUT/old-$label" "$np" $sets $OLD_SETS
  fi
  rm -rf "$OUT/new-$label"
  # shellcheck disable=SC2086
  run "$NEW" "$OUT/new-$label" "$np" $sets $NEW_SETS
  compare "$label" "$OUT/old-$label" "$OUT/new-$label"
done > "$OUT/results.txt"
cat "$OUT/results.txt"

# the upgrade: OLD runs half the budget (its last epoch's checkpoint), NEW resumes to the end
first=$(echo "$RUNS" | head -1)
label=${first%%|*}; rest=${first#*|}; np=${rest%%|*}; sets=${rest#*|}
full=$STEPS; STEPS=$((full / 2))
rm -rf "$OUT/up-$label"
# shellcheck disable=SC2086
run "$OLD" "$OUT/up-$label" 1 $sets $OLD_SETS
half=$STEPS; STEPS=$full
# shellcheck disable=SC2086
"$NEW" "$CFG" --set run.total_steps="$STEPS" --set run.dir="$OUT/up-$label" --set run.name=r \
  --set log.progress_s=1000 --resume $sets $NEW_SETS >> "$OUT/up-$label.log" 2>&1
compare "$label: $half steps by the old binary, resumed by the new one" "$OUT/up-$label" \
  "$OUT/new-$label" "$OUT/old-$label/r/metrics.csv" >> "$OUT/results.txt"
tail -1 "$OUT/results.txt"
s=$(grep -c '^same' "$OUT/results.txt"); d=$(grep -c '^DIFFER' "$OUT/results.txt")
echo "bitcompare: $s same, $d differ (runs in $OUT)"
[ "$d" -eq 0 ]
