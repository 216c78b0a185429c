#!/bin/bash
# experiments/probes.sh, issue 32's probe series, with a stand-in for usbpo_dist (prints what it
# was asked and a summary line per variant): one file per point named by its step in thousands,
# an existing file never written over (the new one is dated), a failed probe left as .part with
# the script's exit status, --dry-run running nothing, --wait following a run that is still going
# (no probe before the run has a checkpoint past the point's DATA_AT or has ended), and malformed
# points or a run without checkpoints refused before any probe runs. About 4 s.
#   test_probes.sh SOURCE_ROOT
set -u
SRC=$(readlink -f "$1")
T=$(mktemp -d /tmp/usbpo-probes.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAILED: $*"; fail=1; }
ok() { echo "ok: $*"; }

cat > "$T/dist" << 'EOS'
#!/bin/bash
echo "$*" >> "$(dirname "$0")/calls"
at=; while [ $# -gt 0 ]; do [ "$1" = --at ] && at=$2; shift; done
[ "$at" = 13000 ] && { echo "partial table"; exit 4; }
echo "probe at $at"
echo "| table |"
echo "- faithful: phase 2 kept step 0 in 3 of 4 trainings"
EOS
chmod +x "$T/dist"
mkdir -p "$T/run/ckpt" "$T/out"
P="$SRC/experiments/probes.sh"
export USBPO_DIST="$T/dist" OUT="$T/out" NICE=0 ROUNDS=4 VARIANTS=faithful

"$P" "$T/run" w 5000:10000 25000:30000 > "$T/o1" 2> "$T/e1"; rc=$?
[ $rc = 0 ] && grep -q "^probe at 5000$" "$T/out/w-5k-rounds.md" && grep -q "^probe at 25000$" "$T/out/w-25k-rounds.md" &&
  grep -q -- "--probe-model $T/run --at 5000 --data-at 10000 --rounds 4 --variants faithful" "$T/calls" &&
  grep -q "kept step 0 in 3 of 4" "$T/e1" && [ -z "$(ls "$T/out" | grep part)" ] &&
  ok "one file per point, the probe's arguments, its summary on stderr" || { bad "two points: exit $rc"; cat "$T/e1"; ls "$T/out"; }

echo precious > "$T/out/w-5k-rounds.md"
"$P" "$T/run" w 5000:10000 > /dev/null 2>&1
[ "$(cat "$T/out/w-5k-rounds.md")" = precious ] && [ -s "$T/out/w-5k-rounds-$(date -u +%F).md" ] &&
  ok "an existing file is kept; the new one is dated" || { bad "existing file"; ls "$T/out"; }

"$P" "$T/run" w 13000:16000 20000:21000 > /dev/null 2> "$T/e3"; rc=$?
[ $rc = 4 ] && [ -s "$T/out/w-13k-rounds.md.part" ] && [ ! -e "$T/out/w-13k-rounds.md" ] &&
  [ -s "$T/out/w-20k-rounds.md" ] && grep -q "the probe at 13000 failed (exit 4)" "$T/e3" &&
  ok "a failed probe: its output kept as .part, the next point still probed, its exit status" ||
  { bad "failed probe: exit $rc"; cat "$T/e3"; ls "$T/out"; }

n=$(wc -l < "$T/calls")
"$P" "$T/run" w 40000:45000 --dry-run > "$T/o4" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(wc -l < "$T/calls")" = "$n" ] && grep -q -- "--at 40000 --data-at 45000 .* > $T/out/w-40k-rounds.md$" "$T/o4" &&
  ok "--dry-run prints the commands, runs none" || { bad "--dry-run: exit $rc"; cat "$T/o4"; }

# --wait: a run not started yet (no ckpt/), then one checkpoint short of DATA_AT: no probe; the
# checkpoint past it: the first point probed; the run's end: the second point probed though no
# checkpoint reached its DATA_AT
mkdir -p "$T/live"
WAIT_POLL=0.1 "$P" "$T/live" v 5000:10000 22000:30000 --wait > /dev/null 2> "$T/e5" &
wp=$!
sleep 0.6
mkdir -p "$T/live/ckpt/000000009006"
sleep 0.6
[ "$(wc -l < "$T/calls")" = "$n" ] && grep -q "waiting for $T/live to pass 10000" "$T/e5" &&
  ok "--wait: no probe before the run has a checkpoint past DATA_AT" || { bad "--wait probed early"; cat "$T/e5"; }
mkdir -p "$T/live/ckpt/000000010005"
for _ in $(seq 100); do [ -s "$T/out/v-5k-rounds.md" ] && break; sleep 0.1; done
sleep 0.3
grep -q -- "--probe-model $T/live --at 5000 --data-at 10000" "$T/calls" && [ -s "$T/out/v-5k-rounds.md" ] &&
  ! grep -q -- "--at 22000" "$T/calls" && kill -0 $wp 2> /dev/null &&
  ok "--wait: the point probed once a checkpoint passed its DATA_AT, the next one still waiting" ||
  { bad "--wait first point"; cat "$T/e5"; }
touch "$T/live/policy_final.bin"
for _ in $(seq 100); do kill -0 $wp 2> /dev/null || break; sleep 0.1; done
wait $wp; rc=$?
[ $rc = 0 ] && [ -s "$T/out/v-22k-rounds.md" ] && ok "--wait: a run that ended is probed at what it has" ||
  { bad "--wait at the run's end: exit $rc"; cat "$T/e5"; }
n=$(wc -l < "$T/calls")

refuse() { # what, expected message, args...
  local what=$1 msg=$2; shift 2
  "$P" "$@" > "$T/r" 2>&1; local rc=$?
  if [ $rc = 2 ] && grep -q -- "$msg" "$T/r" && [ "$(wc -l < "$T/calls")" = "$n" ]; then ok "refused: $what"
  else bad "$what: exit $rc"; cat "$T/r"; fi
}
refuse "a point without DATA_AT" "expected AT:DATA_AT" "$T/run" w 5000:10000 6000
refuse "DATA_AT not past AT" "DATA_AT must be past AT" "$T/run" w 9000:9000
refuse "a run without ckpt/" "has no ckpt/ directory" "$T/out" w 5000:10000
refuse "too few arguments" "usage:" "$T/run" w
exit $fail
