#!/bin/bash
# experiments/queue.sh, the campaign queue, with a stand-in for usbpo_sweep (a cell per line that
# sleeps, and records which lane ran it): the order lanes pick lines in (a lane's own @K lines
# first, then the file's first line with work, one lane per line), a failing line skipped, the
# queue's end when no line has work, a signal that stops every cell and exits 75, a second queue
# refused while one runs, a mark that names no lane, and --plan's simulated schedule. About 35 s.
#   test_queue.sh SOURCE_ROOT
set -u
SRC=$(readlink -f "$1")
T=$(mktemp -d /tmp/usbpo-queue.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAILED: $*"; fail=1; }

# the stand-in: `sweep CELL --status` says new/done; `sweep CELL --jobs 1 ...` runs it
cat > "$T/sweep" << 'EOF'
#!/bin/bash
c=$1; shift
D=$(dirname "$0")
if [ "${1:-}" = --status ]; then
  # as the real one: a line whose @-mark was not taken off names no experiment file
  case $c in @*) echo "usbpo_sweep: no experiment file '$c'" >&2; exit 2 ;; esac
  echo "cell steps eval state"
  h=${c//[!0-9]/}
  if [ -e "$D/done-$c" ]; then
    echo "$c 1/1 - done -"
    echo "total: 1 cells: 1 done, 0 running, 0 partial, 0 new, 0 failed; 1 of 1 steps (100.0%); 0h00m of single-cell work left"
  elif [ "${c#R}" != "$c" ]; then # R<h>: a cell a lane runs, <h> hours left
    echo "$c 0/1 - running -"
    echo "total: 1 cells: 0 done, 1 running, 0 partial, 0 new, 0 failed; 0 of 1 steps (0.0%); ${h}h00m of single-cell work left"
  else
    echo "$c 0/1 - new -"
    echo "total: 1 cells: 0 done, 0 running, 0 partial, 1 new, 0 failed; 0 of 1 steps (0.0%); ${h:-1}h00m of single-cell work left"
  fi
  exit 0
fi
echo "$c $(date +%s.%N)" >> "$D/ran"
case $c in
bad) exit 3 ;;
long) trap 'kill $! 2> /dev/null; echo "$c stopped" >> "$D/ran"; exit 75' TERM; sleep 60 & wait; exit 0 ;;
esac
sleep 3
touch "$D/done-$c"
EOF
chmod +x "$T/sweep"
Q="$SRC/experiments/queue.sh"

# 1. lane preference: l3 is lane 1's, s1 and s2 lane 2's; l1, l2 and bad anyone's
mkdir "$T/a"
cat > "$T/a.txt" << 'EOF'
# a comment line, and a comment after a line
@2 s1
l1   # unmarked
l2
@2 s2
@1 l3
bad
EOF
start=$(date +%s)
"$Q" "$T/a.txt" --sweep "$T/sweep" --exp "$T/a" > "$T/a.out" 2>&1
rc=$?
took=$(($(date +%s) - start))
[ "$rc" -eq 0 ] || bad "the queue exited $rc, expected 0 (all lines done or failed)"
for c in s1 s2 l1 l2 l3 bad; do
  n=$(grep -c "^$c " "$T/ran" 2> /dev/null)
  [ "$n" = 1 ] || bad "cell $c ran $n times, expected once"
done
first1=$(grep -m1 'lane 1: start' "$T/a/queue.log" | sed 's/.*start: //')
[ "$first1" = l3 ] || bad "lane 1 began with '$first1', expected its own line l3"
lane2=$(grep 'lane 2: start' "$T/a/queue.log" | sed 's/.*start: //' | head -2 | tr '\n' ' ')
[ "$lane2" = "s1 s2 " ] || bad "lane 2 began with '$lane2', expected its own lines 's1 s2 ' in file order"
grep -q 'lane 1: start: l1' "$T/a/queue.log" || bad "lane 1 did not go on to the first unmarked line l1"
grep -q 'FAILED (3), skipped until the next start: bad' "$T/a/queue.log" ||
  bad "the failing line was not reported as failed"
grep -q 'queue ended (exit 0)' "$T/a/queue.log" || bad "no 'queue ended (exit 0)' in the log"
[ ! -e "$T/a/queue.pid" ] || bad "queue.pid left behind after the queue ended"
# the lanes ran side by side: lane 2's s1 started before lane 1's l3 had ended
s1_start=$(awk '$1 == "s1" { print $2 }' "$T/ran")
l3_end=$(stat -c %.9Y "$T/done-l3")
awk -v a="$s1_start" -v b="$l3_end" 'BEGIN { exit !(a < b) }' ||
  bad "s1 started at $s1_start, after l3 ended at $l3_end: the lanes did not run side by side"
echo "lanes: ${took} s; lane 1 first: $first1; lane 2: $lane2"

# 2. a signal: every running cell stops (exit 75), the queue exits 75; a second queue is refused
mkdir "$T/b"
rm -f "$T/ran"
printf 'long\nl9\n' > "$T/b.txt"
"$Q" "$T/b.txt" --sweep "$T/sweep" --exp "$T/b" > "$T/b.out" 2>&1 &
qpid=$!
for _ in $(seq 50); do grep -q '^l9 ' "$T/ran" 2> /dev/null && grep -q '^long ' "$T/ran" && break; sleep 0.2; done
"$Q" "$T/b.txt" --sweep "$T/sweep" --exp "$T/b" > "$T/b2.out" 2>&1
rc2=$?
[ "$rc2" -eq 1 ] && grep -q 'another queue runs here' "$T/b2.out" ||
  bad "a second queue on the same directory: exit $rc2, $(cat "$T/b2.out")"
[ "$(cat "$T/b/queue.pid" 2> /dev/null)" = "$qpid" ] || bad "queue.pid does not hold the queue's pid"
kill -USR1 "$qpid"
t0=$(date +%s)
wait "$qpid"
rc=$?
[ "$rc" -eq 75 ] || bad "the queue exited $rc after SIGUSR1, expected 75"
[ $(($(date +%s) - t0)) -le 10 ] || bad "the queue took more than 10 s to stop"
grep -q '^long stopped' "$T/ran" || bad "the running cell was not stopped by the signal"
grep -q 'lane .: exit 75: long' "$T/b/queue.log" || bad "the stopped cell's exit 75 is not logged"

# 3. a mark that names no lane: the line is nobody's first choice, and still runs
mkdir "$T/c"
rm -f "$T/ran" "$T"/done-*
printf '@x l5\nl6\n' > "$T/c.txt"
"$Q" "$T/c.txt" --sweep "$T/sweep" --exp "$T/c" --lanes 1 > "$T/c.out" 2>&1
rc=$?
[ "$rc" -eq 0 ] || bad "queue with an unknown lane mark exited $rc"
grep -q '^l5 ' "$T/ran" && grep -q '^l6 ' "$T/ran" || bad "an @-mark of no lane stopped its line from running"
# 4. --plan: the lanes' picks simulated over the sweep's ETAs (a name's digits: its hours), with
# lane 1 running R4 (4 h left) and lane 2 R0 (no rows yet: no estimate, said so): lane 2 takes its
# own S2 (0-2 h), then the first line left, L5, though it is lane 1's (2-7 h); lane 1, free at
# 4 h, takes S1 (4-5 h), then L3 (5-8 h)
mkdir -p "$T/d/.queue"
rm -f "$T"/done-* "$T/ran"
printf '@1 L5\nS1\n@2 S2\nL3\nR4\nR0\n' > "$T/d.txt"
sleep 300 &
echo $! > "$T/d/.queue/lane1.pid"
echo $! > "$T/d/.queue/lane2.pid"
printf '2026-12-07 10:00:00 lane 1: start: R4\n2026-12-07 10:00:01 lane 2: start: R0\n' > "$T/d/queue.log"
"$Q" "$T/d.txt" --sweep "$T/sweep" --exp "$T/d" --plan > "$T/plan.txt" 2>&1
rc=$?
kill %1 2> /dev/null
plan=$(sed 's/  */ /g' "$T/plan.txt")
expect="lane 1 now -> 4h00m R4 (running)
lane 2 now -> 0h00m R0 (running) (no estimate: no cell of its variant or env has a row yet)
lane 2 0h00m -> 2h00m S2
lane 2 2h00m -> 7h00m L5
lane 1 4h00m -> 5h00m S1
lane 1 5h00m -> 8h00m L3
every line done after 8h00m of queue time (2 lanes)"
[ "$rc" = 0 ] && [ "$plan" = "$expect" ] || bad "--plan (exit $rc) printed:
$(cat "$T/plan.txt")
expected:
$expect"
[ ! -e "$T/d/queue.pid" ] && [ ! -e "$T/ran" ] || bad "--plan started something"
echo "--plan: $(tail -1 "$T/plan.txt")"

[ "$fail" = 0 ] && echo "queue: all checks passed"
exit $fail
