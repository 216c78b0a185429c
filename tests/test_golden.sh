#!/bin/bash
# test_golden — a tiny fixed-seed run against stored values, so that a change of behaviour that
# is consistent (the same every run, which every other test of a run would accept) fails: its
# metrics (every column the reference has but the wall-clock ones), its episodes and its final
# policy's checksum, per OpenBLAS kernel (tests/data/golden/<kernel>/), for InvertedPendulum
# with USB-PO's official phase 2 (finetune.mode = faithful, shared moments) and for SAC.
# The kernel: the environment's OPENBLAS_CORETYPE, else the one OpenBLAS picks here, if a
# reference exists for it; else the first of the stored kernels this CPU can run (said).
#   test_golden.sh USBPO_DIST SOURCE_ROOT            check
#   test_golden.sh USBPO_DIST SOURCE_ROOT --update   rewrite every kernel's reference this CPU
#                                                    runs (an intended change: commit the new
#                                                    values with the reason in the message)
set -u
DIST=$(readlink -f "$1"); SRC=$(readlink -f "$2"); MODE=${3:-check}
. "$SRC/tests/lib.sh"
G=$SRC/tests/data/golden
KERNELS="Haswell Zen SkylakeX Cooperlake Sandybridge Nehalem Prescott"
RUNS="usbpo:--set run.algo=usbpo --set finetune.mode=faithful
sac:--set run.algo=sac"
golden_run() { # kernel out_dir
  echo "$RUNS" | while IFS=: read -r name sets; do
    # shellcheck disable=SC2086
    OPENBLAS_CORETYPE=$1 "$DIST" "$SRC/tests/data/sweep/tiny-base.toml" --set run.threads=1 \
      --set run.total_steps=400 --set run.seed=7 --set run.dir="$2" --set run.name=$name $sets \
      > "$2-$name.log" 2>&1 || { echo "golden run $name on $1 failed"; tail -3 "$2-$name.log"; }
  done
}
cols_of() { # metrics.csv -> the columns kept: every one but the wall-clock ones
  det_cols_named "$1"
}
det_cols_named() {
  awk -F, 'NR==1{for(i=1;i<=NF;i++) keep[i] = ($i !~ /^(updates_per_s|steps_per_s|t_.*_s|wall_s)$/)}
           {out=""; for(i=1;i<=NF;i++) if(keep[i]) out=out $i ","; print out}' "$1"
}
# the reference's columns, picked by name from a run's metrics (a column added later is not
# compared; one the reference has must be there, with the same values)
pick_as() { # reference.csv run.csv
  python3 - "$1" "$2" <<'EOF'
import csv, sys
ref = list(csv.reader(open(sys.argv[1]))); run = list(csv.reader(open(sys.argv[2])))
names = [c for c in ref[0] if c]
missing = [c for c in names if c not in run[0]]
if missing:
    print("missing columns: " + " ".join(missing)); sys.exit(0)
ix = [run[0].index(c) for c in names]
for r in run:
    print(",".join(r[i] for i in ix) + ",")
EOF
}
kernel_of() { grep -o "BLAS: OpenBLAS kernel [A-Za-z0-9]*" "$1" | head -1 | awk '{print $4}'; }

if [ "$MODE" = --update ]; then
  for k in $KERNELS; do
    rm -rf "$T/$k"
    golden_run "$k" "$T/$k"
    got=$(kernel_of "$T/$k-usbpo.log")
    if [ "$got" != "$k" ]; then echo "skip $k: this CPU loads $got for it"; continue; fi
    mkdir -p "$G/$k"
    for name in usbpo sac; do
      cols_of "$T/$k/$name/metrics.csv" > "$G/$k/$name-metrics.csv"
      cp "$T/$k/$name/episodes.csv" "$G/$k/$name-episodes.csv"
      md5sum < "$T/$k/$name/policy_final.bin" | cut -d' ' -f1 > "$G/$k/$name-policy.md5"
    done
    echo "wrote $G/$k"
  done
  exit 0
fi

# which kernel: the environment's, OpenBLAS's own pick here, or the first stored one that runs
want=${OPENBLAS_CORETYPE:-}
if [ -z "$want" ]; then
  "$DIST" --version > /dev/null 2>&1
  probe=$("$DIST" "$SRC/tests/data/sweep/tiny-base.toml" --set run.total_steps=100 --set run.dir="$T/probe" 2>&1 | kernel_of /dev/stdin)
  want=$probe
fi
if [ ! -d "$G/$want" ]; then
  pick=""
  for k in $KERNELS; do
    [ -d "$G/$k" ] || continue
    rm -rf "$T/try"; OPENBLAS_CORETYPE=$k "$DIST" "$SRC/tests/data/sweep/tiny-base.toml" \
      --set run.total_steps=100 --set run.dir="$T/try" > "$T/try.log" 2>&1
    [ "$(kernel_of "$T/try.log")" = "$k" ] && { pick=$k; break; }
  done
  echo "  no golden reference for kernel '$want': using $pick, the first stored one this CPU runs"
  want=$pick
fi
[ -n "$want" ] || { bad "no stored kernel runs here"; exit 1; }
golden_run "$want" "$T/run"
for name in usbpo sac; do
  got=$(kernel_of "$T/run-$name.log")
  [ "$got" = "$want" ] || bad "$name ran on '$got', not $want"
  pick_as "$G/$want/$name-metrics.csv" "$T/run/$name/metrics.csv" > "$T/$name.csv"
  if cmp -s "$G/$want/$name-metrics.csv" "$T/$name.csv"; then
    ok "$name on $want: metrics equal the golden values ($(($(wc -l < "$T/$name.csv") - 1)) rows, $(head -1 "$T/$name.csv" | tr ',' '\n' | grep -c .) columns)"
  else
    bad "$name on $want: metrics differ from the golden values"
    diff "$G/$want/$name-metrics.csv" "$T/$name.csv" | head -4 | cut -c1-200
  fi
  cmp -s "$G/$want/$name-episodes.csv" "$T/run/$name/episodes.csv" && ok "  its episodes equal" ||
    { bad "  its episodes differ"; diff "$G/$want/$name-episodes.csv" "$T/run/$name/episodes.csv" | head -3; }
  [ "$(md5sum < "$T/run/$name/policy_final.bin" | cut -d' ' -f1)" = "$(cat "$G/$want/$name-policy.md5")" ] &&
    ok "  its final policy equals" || bad "  its final policy differs"
done
exit $fail
