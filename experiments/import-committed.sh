#!/bin/bash
# import-committed.sh [--dry-run] — put the committed per-seed metrics of earlier runs
# (docs/results/) into their experiments' cell directories under exp/, so that `usbpo_sweep
# --report` compares new cells with them without running them again. Each imported cell gets the
# committed metrics.csv, the configuration the cell resolves to (usbpo_dist --check-config with
# the cell's own arguments) and IMPORTED naming the source file. A sync run is deterministic, and
# these were computed with OpenBLAS's Haswell (and the numerically identical Zen) kernel, the
# kernel the campaign queue runs with: running such a cell again gives the same numbers.
# A cell that already holds a metrics.csv is left alone. Run from the source root after a build.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$SRC" || exit 1
DIST=${USBPO_DIST:-build/usbpo_dist}
DRY=${1:-}
# experiment | env | variant | seeds | committed file pattern (%s: the seed)
MAP="variants.toml|inverted_pendulum|mbpo|0 1 2 3 4|docs/results/variants/ip-mbpo-s%s-metrics.csv
variants.toml|inverted_pendulum|sac|0 1 2 3 4|docs/results/variants/ip-sac-s%s-metrics.csv
variants.toml|inverted_pendulum|faithful-own|0 1 2 3 4|docs/results/variants/ip-faithful-own-s%s-metrics.csv
variants.toml|inverted_pendulum|faithful-own-scaler|0 1 2 3 4|docs/results/variants/ip-faithful-own-scaler-s%s-metrics.csv
variants.toml|inverted_pendulum|w2|0 1 2 3 4|docs/results/variants/ip-w2-s%s-metrics.csv
variants.toml|inverted_pendulum|bias-only|0 1 2 3 4|docs/results/variants/ip-bias-only-s%s-metrics.csv
variants.toml|inverted_pendulum|faithful|0 1 2 3 4|docs/results/variants/inverted_pendulum-faithful-s%s-metrics.csv
idp-phase2.toml|inverted_double_pendulum|mbpo|0|docs/results/idp/mbpo-s%s-metrics.csv
idp-phase2.toml|inverted_double_pendulum|mbpo|1 2|docs/results/idp-phase2/inverted_double_pendulum-mbpo-s%s-metrics.csv
idp-phase2.toml|inverted_double_pendulum|faithful|0 1 2|docs/results/idp-phase2/inverted_double_pendulum-faithful-s%s-metrics.csv
idp-phase2.toml|inverted_double_pendulum|faithful-own|0|docs/results/idp/faithful-own-s%s-metrics.csv
idp-phase2.toml|inverted_double_pendulum|faithful-lr1e-5|0|docs/results/idp/faithful-lr1e-5-s%s-metrics.csv
idp-phase2.toml|inverted_double_pendulum|faithful-own-scaler|0|docs/results/idp/faithful-own-scaler-s%s-metrics.csv
halfcheetah.toml|halfcheetah|mbpo|0 1 2|docs/results/halfcheetah/mbpo-s%s-metrics.csv
halfcheetah.toml|halfcheetah|faithful-own|0 1 2|docs/results/halfcheetah/faithful-own-s%s-metrics.csv
halfcheetah.toml|halfcheetah|w2-lr1e-5|0 1 2|docs/results/halfcheetah/w2-lr1e-5-s%s-metrics.csv
halfcheetah.toml|halfcheetah|w2|0 1 2|docs/results/halfcheetah/w2-s%s-metrics.csv
halfcheetah.toml|halfcheetah|bias-only|0 1|docs/results/halfcheetah/bias-only-s%s-metrics.csv
halfcheetah.toml|halfcheetah|faithful-own-scaler|0|docs/results/halfcheetah/faithful-own-scaler-s%s-metrics.csv
phase2-lr.toml|inverted_pendulum|lr-1e-5|0 1 2|docs/results/phase2-lr/ip-lr-1e-5-s%s-metrics.csv
phase2-lr.toml|inverted_pendulum|lr-3e-5|0 1 2|docs/results/phase2-lr/ip-lr-3e-5-s%s-metrics.csv
phase2-lr.toml|inverted_pendulum|lr-3e-4|0 1 2|docs/results/phase2-lr/ip-lr-3e-4-s%s-metrics.csv
phase2-lr.toml|inverted_pendulum|lr-1e-3|0 1 2|docs/results/phase2-lr/ip-lr-1e-3-s%s-metrics.csv
phase2-lr.toml|inverted_pendulum|lr-1e-4|0 1 2|docs/results/variants/ip-w2-s%s-metrics.csv
phase2-lr-faithful.toml|inverted_pendulum|lr-1e-4|0 1 2|docs/results/variants/inverted_pendulum-faithful-s%s-metrics.csv
phase2-lr-faithful.toml|inverted_pendulum|lr-1e-5|0 1 2|docs/results/phase2-lr-faithful/inverted_pendulum-lr-1e-5-s%s-metrics.csv
phase2-lr-faithful.toml|inverted_pendulum|lr-3e-5|0 1 2|docs/results/phase2-lr-faithful/inverted_pendulum-lr-3e-5-s%s-metrics.csv
phase2-lr-faithful.toml|inverted_pendulum|lr-3e-4|0 1 2|docs/results/phase2-lr-faithful/inverted_pendulum-lr-3e-4-s%s-metrics.csv
phase2-lr-faithful.toml|inverted_pendulum|lr-1e-3|0 1 2|docs/results/phase2-lr-faithful/inverted_pendulum-lr-1e-3-s%s-metrics.csv
hopper-standard.toml|hopper|mbpo|0|docs/results/hopper-standard/hopper-mbpo-s%s-metrics.csv
hopper-standard.toml|hopper|w2-lr1e-5|0|docs/results/hopper-standard/hopper-w2-lr1e-5-s%s-metrics.csv
hopper-standard.toml|hopper|sac|0|docs/results/hopper-standard/hopper-sac-s%s-metrics.csv
hopper-standard.toml|hopper|sac-g1|0 1 2|docs/results/hopper-standard/hopper-sac-g1-s%s-metrics.csv
hopper-standard.toml|hopper|sac-g1-ent3|0 1 2|docs/results/hopper-standard/hopper-sac-g1-ent3-s%s-metrics.csv
halfcheetah.toml|halfcheetah|faithful|0|docs/results/halfcheetah/halfcheetah-faithful-s%s-metrics.csv"
n=0
echo "$MAP" | while IFS='|' read -r exp env label seeds pat; do
  file=experiments/$exp
  name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$file" | head -1)
  [ -n "$name" ] || name=$(basename "$exp" .toml)
  base=$(sed -n 's/^base = "\(.*\)"/\1/p' "$file" | head -1)
  steps=$(sed -n 's/^total_steps = \([0-9]*\)/\1/p' "$file" | head -1)
  # the variant's own overrides, as --set arguments
  sets=$(python3 - "$file" "$label" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
for block in text.split("[[variant]]")[1:]:
    if re.search(r'label\s*=\s*"%s"' % re.escape(sys.argv[2]), block):
        m = re.search(r"set\s*=\s*\[(.*?)\]", block, re.S)
        print(" ".join("--set " + s for s in re.findall(r'"([^"]*)"', m.group(1))))
        break
EOF
)
  for s in $seeds; do
    src=$(printf "$pat" "$s")
    dir=exp/$name/$env/$label/s$s
    [ -f "$src" ] || { echo "missing: $src"; continue; }
    if [ -e "$dir/metrics.csv" ]; then echo "kept: $dir (it holds a metrics.csv)"; continue; fi
    if [ "$DRY" = --dry-run ]; then echo "would import $src -> $dir"; continue; fi
    mkdir -p "$dir"
    # shellcheck disable=SC2086
    "$DIST" "experiments/$base" --set env.name="$env" $sets --set run.total_steps="$steps" \
      --set run.seed="$s" --set run.dir="exp/$name/$env/$label" --set run.name="s$s" \
      --check-config > "$dir/config.toml" || { echo "config of $dir refused"; rm -rf "$dir"; continue; }
    cp "$src" "$dir/metrics.csv"
    ep=${src%-metrics.csv}-episodes.csv
    [ -f "$ep" ] && cp "$ep" "$dir/episodes.csv"
    printf 'imported from %s (commit %s), not run here\n' "$src" "$(git log -1 --format=%h -- "$src")" > "$dir/IMPORTED"
    echo "imported $src -> $dir"
  done
done
