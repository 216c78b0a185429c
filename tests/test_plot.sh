#!/bin/bash
# test_plot — usbpo_plot on made-up runs with known numbers: three seeds of one configuration
# and two of another (resolved configs from usbpo_dist --check-config) are grouped into two
# curves whose mean / min / max / std per epoch are checked against hand-computed values (with
# and without smoothing); the PNG has the requested size, the same data gives the same image and
# different data a different one; SVG output carries the legend; bad input is named.
#   test_plot.sh USBPO_DIST USBPO_PLOT SOURCE_ROOT
set -u
DIST=$(readlink -f "$1"); PLOT=$(readlink -f "$2"); SRC=$(readlink -f "$3")
command -v gnuplot > /dev/null || { echo "SKIP: gnuplot is not installed (scripts/install-deps.sh)"; exit 77; }
. "$SRC/tests/lib.sh"

# run directories: algo seed offset -> y = 100 * epoch + 10 * seed + offset at env_steps = 250 (epoch + 1)
mkrun() {
  local d="$T/runs/$1-s$2"; mkdir -p "$d"
  "$DIST" "$SRC/configs/inverted_pendulum.toml" --set run.algo="$1" --set run.seed="$2" --check-config > "$d/config.toml" 2>/dev/null
  { echo "epoch,env_steps,eval_return,other"
    for e in 0 1 2 3; do echo "$e,$((250 * (e + 1))),$((100 * e + 10 * $2 + $3)),nan"; done; } > "$d/metrics.csv"
}
for s in 0 1 2; do mkrun usbpo $s 0; done
for s in 0 1; do mkrun sac $s 5; done

"$PLOT" "$T/runs" -o "$T/a.png" --size 640x400 --table "$T/a.csv" 2> "$T/a.log" || { bad "plot failed"; cat "$T/a.log"; }
# group 0 (sac, sorted first): seeds 0,1 offset 5 -> mean 100e + 10, min 100e + 5, max 100e + 15, std 5
# group 1 (usbpo): seeds 0,1,2 -> mean 100e + 10, min 100e, max 100e + 20, std sqrt(200/3)
if awk -F, 'NR > 1 {e = $3 / 250 - 1
     if ($1 == 0) { want = ($2 == "sac (2 seeds)") && $4 == 100*e+10 && $5 == 100*e+5 && $6 == 100*e+15 && $7 == 5 && $8 == 2 }
     else { want = ($2 == "usbpo (3 seeds)") && $4 == 100*e+10 && $5 == 100*e && $6 == 100*e+20 && ($7 - sqrt(200/3))^2 < 1e-12 && $8 == 3 }
     if (!want) { print "  bad row: " $0; bad = 1 } n++}
     END {exit bad || n != 8}' "$T/a.csv"; then ok "two groups, mean/min/max/std per epoch as computed by hand"
else bad "aggregated table"; cat "$T/a.csv"; fi
# the phase 2 that is not the default is named in the label (faithful is the default since
# issue 32)
mkdir -p "$T/ft/f" && cp "$T/runs/usbpo-s0/metrics.csv" "$T/ft/f/" &&
  "$DIST" "$SRC/configs/inverted_pendulum.toml" --set finetune.mode=w2 --check-config > "$T/ft/f/config.toml" 2>/dev/null
"$PLOT" "$T/ft" "$T/runs/usbpo-s0" -o "$T/f.png" --table "$T/f.csv" 2> /dev/null
grep -q ',usbpo (w2) (1 seed),' "$T/f.csv" && grep -q ',usbpo (1 seed),' "$T/f.csv" &&
  ok "a w2 run is labelled as such, the default (faithful) is not" || { bad "w2 label"; cat "$T/f.csv"; }

# smoothing over a centred window of 3: usbpo seed 0 at epoch 0 -> (0 + 100) / 2; epoch 1 -> 100
"$PLOT" "$T/runs/usbpo-s0" -o "$T/s.png" --smooth 3 --table "$T/s.csv" 2> /dev/null
if [ "$(sed -n 2p "$T/s.csv" | cut -d, -f4)" = 50 ] && [ "$(sed -n 3p "$T/s.csv" | cut -d, -f4)" = 100 ] &&
   [ "$(sed -n 5p "$T/s.csv" | cut -d, -f4)" = 250 ]; then ok "--smooth 3"; else bad "--smooth"; cat "$T/s.csv"; fi

# the image: a PNG of the requested size
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4 "x" $5*16777216+$6*65536+$7*256+$8}'; }
if [ "$(head -c 8 "$T/a.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] && [ "$(png_size "$T/a.png")" = 640x400 ]; then
  ok "PNG of 640x400"; else bad "PNG header/size: $(png_size "$T/a.png")"; fi
"$PLOT" "$T/runs" -o "$T/b.png" --size 640x400 2> /dev/null
cmp -s "$T/a.png" "$T/b.png" && ok "same data, same image" || bad "same data gave different images"
sed -i '3s/,110,/,400,/' "$T/runs/usbpo-s1/metrics.csv"
"$PLOT" "$T/runs" -o "$T/c.png" --size 640x400 2> /dev/null
cmp -s "$T/a.png" "$T/c.png" && bad "changed data, same image" || ok "changed data, different image"

"$PLOT" "$T/runs" -o "$T/d.svg" --labels "SAC,USB-PO" --band std --title "IP" 2> /dev/null
grep -q '<svg' "$T/d.svg" && grep -q 'USB-PO (3 seeds)' "$T/d.svg" && ok "SVG with the given labels" || bad "SVG"

# bad input
"$PLOT" "$T/runs" --y nope -o "$T/e.png" 2> "$T/e.log"; rc=$?
[ $rc -eq 1 ] && grep -q "metrics.csv: no column 'nope'" "$T/e.log" && ok "a missing column is named" || bad "missing column: $(cat "$T/e.log")"
"$PLOT" "$T/nowhere" 2> "$T/f.log"; rc=$?
[ $rc -eq 1 ] && grep -q "nowhere" "$T/f.log" && ok "a missing directory is named" || bad "missing directory"
"$PLOT" "$T/runs" -o "$T/x.jpg" 2> /dev/null; [ $? -eq 2 ] && ok "-o must be .png or .svg" || bad "-o extension"
# issue 16: user text reaches gnuplot quoted (an apostrophe works, nothing runs); every run is
# drawn however many; epoch numbers do not size memory; a bad cell is named with file:line
"$PLOT" "$T/runs" -o "$T/it's.png" --title "x' ; system('touch $T/PWNED') ; set title 'y" \
  --labels "Bob's sac,usbpo" 2> "$T/q.log"; rc=$?
[ $rc = 0 ] && [ -s "$T/it's.png" ] && [ ! -e "$T/PWNED" ] &&
  ok "a title with quotes and a command is drawn as text, nothing runs" ||
  { bad "quoting: exit $rc, PWNED $( [ -e "$T/PWNED" ] && echo exists)"; cat "$T/q.log"; }
mkdir -p "$T/many"
for s in $(seq 0 299); do d="$T/many/r$s"; mkdir -p "$d"; cp "$T/runs/sac-s0/config.toml" "$d/"
  printf 'epoch,env_steps,eval_return\n0,250,%d\n' "$s" > "$d/metrics.csv"; done
"$PLOT" "$T/many" -o "$T/m.png" --table "$T/m.csv" 2> "$T/m.log"; rc=$?
[ $rc = 0 ] && grep -q "(300 seeds)" "$T/m.csv" && grep -q "149.5" "$T/m.csv" &&
  ok "300 run directories are all drawn (300 seeds, mean 149.5)" || { bad "300 runs: exit $rc"; head -3 "$T/m.csv"; }
d="$T/big/r0"; mkdir -p "$d"; cp "$T/runs/sac-s0/config.toml" "$d/"
printf 'epoch,env_steps,eval_return\n0,250,1\n2147483647,500,2\n' > "$d/metrics.csv"
timeout 10 "$PLOT" "$d" -o "$T/b.png" 2> "$T/b.log"; rc=$?
[ $rc = 0 ] && ok "an epoch of 2147483647 costs nothing" || { bad "huge epoch: exit $rc"; cat "$T/b.log"; }
printf 'epoch,env_steps,eval_return\n0,250,1\n1,500,abc\n' > "$d/metrics.csv"
"$PLOT" "$d" -o "$T/b.png" 2> "$T/c.log"; rc=$?
[ $rc = 1 ] && grep -q "metrics.csv:3: eval_return = 'abc' is not a number" "$T/c.log" &&
  ok "a non-numeric cell is refused with file:line" || { bad "bad cell: exit $rc"; cat "$T/c.log"; }
# a published curve (--ref), dashed, named with its seed count, on our axis (--ref-shift)
printf 'step,time,reward,seed\n5000,0,10,0\n6000,0,20,0\n7000,0,40,0\n5000,0,30,1\n6000,0,40,1\n7000,0,60,1\n' > "$T/pub.csv"
"$PLOT" "$T/runs/sac-s0" -o "$T/ref.svg" --ref "$T/pub.csv=Paper's MBPO" --ref-shift 5000 2> "$T/ref.log"; rc=$?
[ $rc = 0 ] && grep -q "Paper's MBPO (published, 2 seeds)" "$T/ref.svg" &&
  ok "--ref: a published curve in the legend (2 seeds)" || { bad "--ref: exit $rc"; cat "$T/ref.log"; }
exit $fail
