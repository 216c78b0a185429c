#!/bin/bash
# test_eval — usbpo_dist --eval: the final policy evaluated with the last epoch's keys
# (--as-epoch) gives exactly the last row's eval_return; without a checkpoint it falls back to
# policy_final.bin; --video films the best episode offscreen (EGL) into an H.264 MP4 with one
# frame per state (reset + steps) and the replayed return equal to the evaluated one; bad
# input is refused with the reason.
#   test_eval.sh BIN SOURCE_ROOT
set -u
BIN=$(readlink -f "$1"); SRC=$(readlink -f "$2")
. "$SRC/tests/lib.sh"
R="$T/inverted_pendulum-usbpo-s0"
"$BIN" "$SRC/configs/inverted_pendulum.toml" --set run.total_steps=500 --set env.init_steps=150 \
  --set env.min_pool_size=150 --set env.epoch_length=100 --set model.train_freq=100 \
  --set sac.hidden=32 --set model.hidden=32 --set rollout.batch_size=2000 \
  --set finetune.max_steps=5 --set run.eval_episodes=3 --set log.progress_s=1000 \
  --set checkpoint.every_steps=200 --set checkpoint.keep=10 \
  --set run.dir="$T" > "$T/run.log" 2>&1 || { bad "training run"; tail "$T/run.log"; exit 1; }

last=$(tail -1 "$R/metrics.csv" | cut -d, -f1,4)
epoch=${last%%,*}; want=${last##*,}
got=$("$BIN" --eval "$R" --episodes 3 --as-epoch "$epoch" 2> "$T/e.log" | sed -n 's/^eval: .* mean \([^ ]*\) .*/\1/p')
if awk -v a="$got" -v b="$want" 'BEGIN{exit !(a != "" && (a - b)^2 < 1e-6)}'; then
  ok "--as-epoch $epoch reproduces the last row's eval_return $want"
else bad "--as-epoch $epoch gave '$got', the last row says $want"; cat "$T/e.log"; fi
grep -q "policy from checkpoint" "$T/e.log" && ok "the policy comes from the newest checkpoint" || bad "policy source"

"$BIN" --eval "$R" --episodes 4 > "$T/e4.out" 2>/dev/null
[ "$(grep -c '^episode' "$T/e4.out")" = 4 ] && grep -q '^eval: 4 episodes, return mean' "$T/e4.out" &&
  ok "4 episodes and a summary line" || bad "--episodes 4"

mv "$R/ckpt" "$T/ckpt-aside"
got2=$("$BIN" --eval "$R" --episodes 3 --as-epoch "$epoch" 2> "$T/e2.log" | sed -n 's/^eval: .* mean \([^ ]*\) .*/\1/p')
[ "$got2" = "$got" ] && grep -q "policy_final.bin" "$T/e2.log" && ok "falls back to policy_final.bin" ||
  bad "fallback: '$got2' vs '$got'"
mv "$T/ckpt-aside" "$R/ckpt"

if command -v ffmpeg > /dev/null && command -v ffprobe > /dev/null; then
  "$BIN" --eval "$R" --episodes 3 --video "$T/best.mp4" > "$T/v.out" 2> "$T/v.log"; rc=$?
  line=$(grep '^video:' "$T/v.out")
  frames=$(echo "$line" | sed -n 's/.* \([0-9]*\) frames of.*/\1/p')
  best=$(echo "$line" | sed -n 's/.*episode \([0-9]*\) .*/\1/p')
  len=$(sed -n "s/^episode $best: return .*, length \([0-9]*\)/\1/p" "$T/v.out")
  probe=$(ffprobe -v error -count_frames -select_streams v:0 \
          -show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 "$T/best.mp4" 2>&1)
  if [ $rc -eq 0 ] && [ "$probe" = "h264,640,480,$((len + 1))" ] && [ "$frames" = $((len + 1)) ]; then
    ok "video of the best episode (episode $best, $len steps): $probe"
  else bad "video: exit $rc, '$line', probe '$probe', episode length '$len'"; cat "$T/v.log"; fi
  # a frame is not blank: the rendered scene has many distinct colours
  ffmpeg -v error -y -i "$T/best.mp4" -vframes 1 -f rawvideo -pix_fmt gray "$T/f.gray"
  distinct=$(od -An -tu1 -v "$T/f.gray" | tr -s ' ' '\n' | sort -u | wc -l)
  [ "$distinct" -gt 20 ] && ok "first frame has $distinct grey levels" || bad "blank frame ($distinct levels)"
else
  echo "SKIP (video part): no ffmpeg/ffprobe (scripts/install-deps.sh installs them)"
fi

"$BIN" --eval "$T/nowhere" > /dev/null 2> "$T/x.log"; rc=$?
[ $rc -eq 1 ] && grep -q "not a run directory" "$T/x.log" && ok "a missing run directory is named" || bad "missing run dir: exit $rc"
"$BIN" --eval "$R" --episodes 0 > /dev/null 2>&1; [ $? -eq 2 ] && ok "--episodes 0 refused" || bad "--episodes 0"
"$BIN" --eval "$R" --frobnicate > /dev/null 2>&1; [ $? -eq 2 ] && ok "unknown option refused" || bad "unknown option"
"$BIN" --eval "$R" --as-epoch abc > /dev/null 2> "$T/ae.log"; [ $? -eq 2 ] && grep -q "abc" "$T/ae.log" &&
  ok "--as-epoch abc refused" || bad "--as-epoch abc"
# a garbage policy_final.bin (no checkpoint to fall back on): NaN bits, random bits, wrong size
mv "$R/ckpt" "$T/ckpt-aside"
cp "$R/policy_final.bin" "$T/good.bin"
size=$(stat -c %s "$T/good.bin")
for kind in nan random short; do
  case $kind in
    nan) head -c "$size" /dev/zero | tr '\0' '\377' > "$R/policy_final.bin" ;;
    random) head -c "$size" /dev/urandom > "$R/policy_final.bin" ;;
    short) head -c 100 "$T/good.bin" > "$R/policy_final.bin" ;;
  esac
  "$BIN" --eval "$R" --episodes 1 > "$T/g.out" 2> "$T/g.log"; rc=$?
  [ $rc -eq 1 ] && ! grep -q "return mean" "$T/g.out" && grep -q "policy_final.bin is" "$T/g.log" &&
    ok "a $kind policy_final.bin is refused with the reason" || { bad "$kind policy: exit $rc"; cat "$T/g.log"; }
done
# without the checksum beside it no policy is trusted, finite bytes included (issue 35)
mv "$R/policy_final.bin.sum" "$T/sum-aside"
head -c "$size" /dev/zero | tr '\0' '\377' > "$R/policy_final.bin"
"$BIN" --eval "$R" --episodes 1 > /dev/null 2> "$T/g.log"; [ $? -eq 1 ] && grep -q "without its checksum file" "$T/g.log" &&
  ok "NaN parameters without a checksum file are refused" || bad "NaN without checksum"
cp "$T/good.bin" "$R/policy_final.bin"
"$BIN" --eval "$R" --episodes 1 > /dev/null 2> "$T/g.log"; [ $? -eq 1 ] && grep -q "without its checksum file" "$T/g.log" &&
  ok "finite parameters without a checksum file are refused too" || bad "finite without checksum"
cp "$T/good.bin" "$R/policy_final.bin"; mv "$T/sum-aside" "$R/policy_final.bin.sum"; mv "$T/ckpt-aside" "$R/ckpt"

# --probe-model: one model training per phase-2 variant from the newest checkpoint
"$BIN" --probe-model "$R" --variants mbpo,faithful,faithful+old_own_scaler,w2,faithful+bias > "$T/p.md" 2> "$T/p.log"; rc=$?
rows=$(grep -c '^| [a-z]' "$T/p.md")
if [ $rc -eq 0 ] && [ "$rows" = 6 ] && grep -q '^| mbpo | .* | 1.00 | – |' "$T/p.md" &&
   grep -q '^| faithful+bias | ' "$T/p.md"; then ok "--probe-model: 5 variants (mbpo: ratio 1, no phase 2)"
else bad "--probe-model: exit $rc, $rows rows"; cat "$T/p.md" "$T/p.log"; fi
# the bias-only variant minimises the bias term alone: its J equals its bias, before and after
awk -F'|' '$2 ~ /faithful\+bias/ {gsub(/ /, "", $6); gsub(/ /, "", $8); exit !($6 == $8)}' "$T/p.md" &&
  ok "--probe-model: bias only: J is the bias term" || bad "bias-only J"
# a variant without lr= takes its mode's own step (w2 1e-5, faithful 1e-4), whatever the run's:
# its row equals the one with that step spelt out, and differs from w2 at the other step
"$BIN" --probe-model "$R" --variants w2,w2+lr=1e-5,w2+lr=1e-4,faithful,faithful+lr=1e-4 > "$T/pl.md" 2> "$T/pl.log"; rc=$?
row() { awk -F'|' -v v="$1" '{l = $2; gsub(/ /, "", l)} l == v {print $3 $4 $5 $6 $7 $8 $9}' "$T/pl.md"; }
if [ $rc -eq 0 ] && [ -n "$(row w2)" ] && [ "$(row w2)" = "$(row w2+lr=1e-5)" ] &&
   [ "$(row faithful)" = "$(row faithful+lr=1e-4)" ] && [ "$(row w2)" != "$(row w2+lr=1e-4)" ]; then
  ok "--probe-model: w2 takes 1e-5 and faithful 1e-4 unless lr= is given"
else bad "--probe-model default steps: exit $rc"; cat "$T/pl.md" "$T/pl.log"; fi
# --at: the newest checkpoint at or before the step; none that early is an error
oldest=$(ls "$R/ckpt" | sort | head -1); n=$((10#$oldest))
"$BIN" --probe-model "$R" --at "$n" --variants mbpo > "$T/p3.md" 2> "$T/p3.log"; rc=$?
[ $rc -eq 0 ] && grep -q "checkpoint $R/ckpt/$oldest," "$T/p3.md" && [ "$oldest" != "$(ls "$R/ckpt" | sort | tail -1)" ] &&
  ok "--probe-model --at $n: the checkpoint $oldest (newest: $(ls "$R/ckpt" | sort | tail -1))" ||
  { bad "--at $n: exit $rc"; cat "$T/p3.md" "$T/p3.log"; }
"$BIN" --probe-model "$R" --at $((n - 1)) --variants mbpo > /dev/null 2> "$T/p4.log"; rc=$?
[ $rc -eq 1 ] && grep -q "no valid checkpoint at or before $((n - 1)) env steps" "$T/p4.log" &&
  ok "--probe-model --at before the first checkpoint: refused" || { bad "--at early: exit $rc"; cat "$T/p4.log"; }
# --data-at: the model of one checkpoint, the next train_freq (100) real rows from a later one
newest=$(ls "$R/ckpt" | sort | tail -1)
"$BIN" --probe-model "$R" --at "$n" --data-at $((10#$newest)) --variants mbpo,faithful > "$T/p6.md" 2> "$T/p6.log"; rc=$?
[ $rc -eq 0 ] && grep -q "checkpoint $R/ckpt/$oldest, .*(100 new to the model: the next ones from checkpoint $R/ckpt/$newest)" "$T/p6.md" &&
  grep -q '^| faithful | ' "$T/p6.md" && ok "--probe-model --data-at: 100 new rows from the later checkpoint" ||
  { bad "--data-at: exit $rc"; cat "$T/p6.md" "$T/p6.log"; }
# the bound change: faithful's phase 2 moves the log-variance bounds, which no keep-best
# restores (deviation 6), even where it keeps step 0; mbpo has no phase 2 ("-")
awk -F'|' '{l = $2; gsub(/ /, "", l); b = $11; gsub(/ /, "", b)}
  l == "faithful" {f = (b + 0 > 0)} l == "mbpo" {m = (b == "-")} END {exit !(f && m)}' "$T/p6.md" &&
  ok "--probe-model: the bound change column (faithful > 0, mbpo -)" ||
  { bad "bound change column"; cat "$T/p6.md"; }
# --rounds 2: two trainings in a row; the first is the single training above, number for number
"$BIN" --probe-model "$R" --at "$n" --data-at $((10#$newest)) --rounds 2 --variants mbpo,faithful > "$T/p7.md" 2> "$T/p7.log"; rc=$?
first=$(grep '^| faithful | ' "$T/p6.md" | cut -d'|' -f3-8)
[ $rc -eq 0 ] && [ "$(grep -c '^| faithful, training [12] ' "$T/p7.md")" = 2 ] &&
  [ "$(grep '^| faithful, training 1 ' "$T/p7.md" | cut -d'|' -f3-8)" = "$first" ] &&
  ok "--probe-model --rounds 2: two trainings, the first equal to the single one" ||
  { bad "--rounds 2: exit $rc"; cat "$T/p7.md" "$T/p7.log"; }
"$BIN" --probe-model "$R" --at "$n" --data-at $((10#$newest)) --rounds 1000 --variants mbpo > /dev/null 2> "$T/p8.log"; rc=$?
[ $rc -eq 1 ] && grep -q "training(s) of 100 new rows need" "$T/p8.log" &&
  ok "--probe-model --rounds beyond the later checkpoint's rows: refused" || { bad "--rounds 1000: exit $rc"; cat "$T/p8.log"; }
"$BIN" --probe-model "$R" --at 12x > /dev/null 2> "$T/p5.log"; rc=$?
[ $rc -eq 2 ] && ok "--probe-model --at 12x: refused (exit 2)" || bad "--at 12x: exit $rc"
"$BIN" --probe-model "$R" --variants faithful+frob > /dev/null 2> "$T/p2.log"; rc=$?
[ $rc -eq 2 ] && grep -q "unknown variant 'faithful+frob'" "$T/p2.log" && ok "--probe-model: an unknown variant is refused" ||
  bad "unknown variant: exit $rc"
exit $fail
