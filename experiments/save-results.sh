#!/bin/bash
# save-results.sh EXPERIMENT... — what the campaign's cells have produced so far, into the
# repository (the machine and exp/ do not outlive the round): for every cell of each experiment
# that has run here (not imported), its metrics.csv and episodes.csv as
# docs/results/<experiment name>/<env>-<variant>-s<seed>-{metrics,episodes}.csv (partial cells
# too: the files say how far they got; a committed file with more rows than its cell is kept),
# and the experiment's report with its figures as docs/results/<experiment name>-report.md and .png
# (usbpo_sweep --report at the experiment's own budget). Run from the source root; commit what it
# writes.
#   experiments/save-results.sh experiments/hopper-standard.toml experiments/variants.toml
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$SRC" || exit 1
SWEEP=${USBPO_SWEEP:-build/usbpo_sweep}
for x in "$@"; do
  name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$x" | head -1)
  [ -n "$name" ] || name=$(basename "$x" .toml)
  root=exp/$name
  [ -d "$root" ] || { echo "save-results: $x: nothing under $root"; continue; }
  out=docs/results/$name
  mkdir -p "$out"
  n=0
  for m in "$root"/*/*/s*/metrics.csv; do
    [ -f "$m" ] || continue
    d=$(dirname "$m")
    [ -e "$d/IMPORTED" ] && continue
    s=$(basename "$d"); v=$(basename "$(dirname "$d")"); e=$(basename "$(dirname "$(dirname "$d")")")
    dst=$out/$e-$v-$s-metrics.csv
    # a cell started again on a new machine (exp/ lost with its checkpoints) has fewer rows than
    # the run committed before: keep the longer file until the new run passes it (a sync run is
    # deterministic, so the new rows equal the old ones where both exist)
    if [ -f "$dst" ] && [ "$(wc -l < "$dst")" -gt "$(wc -l < "$m")" ]; then
      echo "save-results: kept $dst ($(($(wc -l < "$dst") - 1)) rows; the cell has $(($(wc -l < "$m") - 1)))"
      continue
    fi
    cp "$m" "$dst"
    [ -f "$d/episodes.csv" ] && cp "$d/episodes.csv" "$out/$e-$v-$s-episodes.csv"
    n=$((n + 1))
  done
  "$SWEEP" "$x" --report > /tmp/save-results-$name.log 2>&1 || echo "save-results: $x: the report had problems (see /tmp/save-results-$name.log)"
  if [ -f "$root/report.md" ]; then
    sed -E "s#\]\(([^/)]+\.png)\)#](${name}-\1)#g" "$root/report.md" > "docs/results/$name-report.md"
    for png in "$root"/*.png; do [ -f "$png" ] && cp "$png" "docs/results/$name-$(basename "$png")"; done
  fi
  echo "save-results: $x: $n cells -> $out/, report -> docs/results/$name-report.md"
done
