#!/bin/bash
# queue.sh — the machine's one campaign queue: cells of several experiments, LANES at a time
# (default 2: one per core), each a one-thread cell, in the order of a queue file, so that no
# core idles at the end of one experiment while another has cells left.
#
#   experiments/queue.sh QUEUE_FILE [--lanes N] [--sweep PATH] [--exp DIR]   (resumable: run it again)
#   experiments/queue.sh QUEUE_FILE --plan     what each lane will run, and when (queue hours), by
#                                              usbpo_sweep --status's ETAs; starts nothing
#   kill -USR1 <pid in exp/queue.pid>     every running cell checkpoints and stops (exit 75)
#
# A queue file has one sweep selection per line, in priority order: an experiment file and the
# usbpo_sweep arguments that pick its cells ('#' starts a comment), e.g.
#   experiments/hopper-standard.toml --variants mbpo --seeds 0
#   experiments/variants.toml --variants faithful
# Each lane takes the first line that has a cell neither done nor running, runs that line's
# sweep with --jobs 1 --set run.threads=1 (the sweep resumes a cell from its newest checkpoint
# and skips the ones another lane runs), and goes back to the top of the file after each
# sweep: a line added or moved up is picked at the next free lane. A line whose sweep fails
# is reported and skipped until the queue is started again. A line that begins with @K (K a lane
# number, e.g. "@1 experiments/hopper-standard.toml --variants mbpo --seeds 1") is lane K's
# first choice: a free lane takes the first of its own @-lines that has work, else the first
# line of the whole file that has work (any lane may take any line, so no core idles while work
# is left). With two lanes, @1 on the long cells and @2 on the short ones keeps one core on each
# kind: a machine that ends with the round loses at most one long cell's progress. The queue ends when no line has
# work left; a signal (TERM, INT, HUP, USR1) stops every lane's sweep at a checkpoint and the
# queue exits 75. The queue file is read afresh at every pick, so it may be edited while the
# queue runs. Cells run with OPENBLAS_CORETYPE=Haswell unless the environment sets another
# kernel. Logs: exp/queue.log (one line per start and end), exp/queue-lane<k>.log; --exp DIR puts
# them, the pid file and the queue's state (.queue/) in DIR instead of the source tree's exp/.
set -u
QUEUE=${1:?usage: queue.sh QUEUE_FILE [--lanes N] [--sweep PATH] [--exp DIR] [--plan]}
shift
LANES=2
PLAN=0
SRC=$(cd "$(dirname "$0")/.." && pwd)
SWEEP=$SRC/build/usbpo_sweep
EXP=$SRC/exp
while [ $# -gt 0 ]; do
  case $1 in
  --lanes) LANES=$2; shift 2 ;;
  --sweep) SWEEP=$2; shift 2 ;;
  --exp) EXP=$2; shift 2 ;;
  --plan) PLAN=1; shift ;;
  *) echo "queue.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -r "$QUEUE" ] || { echo "queue.sh: cannot read $QUEUE" >&2; exit 2; }
[ -x "$SWEEP" ] || { echo "queue.sh: no usbpo_sweep at $SWEEP (build first, or --sweep)" >&2; exit 2; }
# the BLAS kernel of the campaign's runs (a resumed run must keep the one it started with)
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
STATE=$EXP/.queue

# the queue file's selections, one per line as "<mark><TAB><selection>": comments and blank lines
# dropped, the @K mark taken off ("-" for none); read afresh at each call
queue_lines() {
  local line at
  while IFS= read -r line; do
    line=${line%%#*}
    line=$(echo "$line" | sed 's/[[:space:]]*$//; s/^[[:space:]]*//')
    at=-
    case $line in
    @*) at=${line%%[[:space:]]*}; at=${at#@}; line=$(echo "${line#@"$at"}" | sed 's/^[[:space:]]*//') ;;
    esac
    [ -n "$line" ] && printf '%s\t%s\n' "$at" "$line"
  done < "$QUEUE"
}

# --plan: the lanes' picks simulated over the ETAs usbpo_sweep --status gives each line's cells
# (a running line stays on the lane the log says runs it); nothing is started or locked
if [ "$PLAN" = 1 ]; then
  {
    for k in $(seq 1 "$LANES"); do
      pidf=$STATE/lane$k.pid
      if [ -e "$pidf" ] && kill -0 "$(cat "$pidf")" 2> /dev/null; then
        echo "running $k $(grep "lane $k: start: " "$EXP/queue.log" | tail -1 | sed 's/.*start: //')"
      fi
    done
    while IFS=$'\t' read -r at line; do
      # shellcheck disable=SC2086
      tot=$("$SWEEP" $line --status 2> /dev/null | grep '^total:')
      [ -n "$tot" ] || { echo "refused $at $line"; continue; }
      work=$(echo "$tot" | sed -n 's/.*; \([0-9]*\)h\([0-9]*\)m of single-cell work left.*/\1 \2/p')
      open=$(echo "$tot" | sed -n 's/.* \([0-9]*\) running, \([0-9]*\) partial, \([0-9]*\) new, \([0-9]*\) failed.*/\1 \2 \3 \4/p')
      echo "line $at ${work:-0 0} ${open:-0 0 0 0} $line"
    done < <(queue_lines)
  } | awk -v lanes="$LANES" '
    function hm(s) { return sprintf("%dh%02dm", int(s / 3600), int(s / 60) % 60) }
    # work left with cells open and no hours: no cell of its variant or env has a row to go by
    function guess(i) { return secs[i] == 0 ? "  (no estimate: no cell of its variant or env has a row yet)" : "" }
    $1 == "running" { run[$2] = substr($0, index($0, $3)); next }
    $1 == "refused" { print "refused by usbpo_sweep (skipped): " substr($0, index($0, $3)); next }
    $1 == "line" {
      n++; at[n] = $2; secs[n] = ($3 * 60 + $4) * 60; open[n] = $5 + $6 + $7 + $8
      txt[n] = $0; for (f = 1; f <= 8; f++) sub(/^[^ ]+ /, "", txt[n])
    }
    END {
      for (k = 1; k <= lanes; k++) {
        free[k] = 0
        for (i = 1; i <= n; i++)
          if (k in run && txt[i] == run[k] && !(i in taken)) {
            taken[i] = k; free[k] = secs[i]
            printf "lane %d  %8s -> %-8s %s (running)%s\n", k, "now", hm(secs[i]), txt[i], guess(i)
          }
      }
      while (1) {
        k = 0
        for (j = 1; j <= lanes; j++) if (!(j in done) && (k == 0 || free[j] < free[k])) k = j
        if (k == 0) break
        pick = 0
        for (pass = 1; pass <= 2 && !pick; pass++)
          for (i = 1; i <= n && !pick; i++)
            if (!(i in taken) && open[i] > 0 && (pass == 2 || at[i] == k)) pick = i
        if (!pick) { done[k] = 1; continue }
        taken[pick] = k
        printf "lane %d  %8s -> %-8s %s%s\n", k, hm(free[k]), hm(free[k] + secs[pick]), txt[pick], guess(pick)
        free[k] += secs[pick]
      }
      end = 0
      for (k = 1; k <= lanes; k++) if (free[k] > end) end = free[k]
      printf "every line done after %s of queue time (%d lanes)\n", hm(end), lanes
    }'
  exit 0
fi
mkdir -p "$STATE"
exec 8> "$STATE/queue.lock"
flock -n 8 || { echo "queue.sh: another queue runs here ($STATE/queue.lock)" >&2; exit 1; }
rm -f "$STATE"/stop "$STATE"/failed-* "$STATE"/lane*.pid
echo $$ > "$EXP/queue.pid"
LOG=$EXP/queue.log
say() { echo "$(date '+%F %T') $*" >> "$LOG"; }

# the selection's cells: "todo" when one is neither done nor running
has_work() { # line...
  # shellcheck disable=SC2086
  "$SWEEP" $1 --status 2> /dev/null | awk '
    $1 == "total:" { next }
    NR > 1 && $4 ~ /^(new|partial|failed)/ { todo = 1 }
    END { exit todo ? 0 : 1 }'
}

lane() { # k
  local k=$1 line key rc
  while [ ! -e "$STATE/stop" ]; do
    local picked="" pass at
    # pass 1: this lane's own @k lines; pass 2: every line
    for pass in own any; do
      while IFS=$'\t' read -r at line; do
        if [ $pass = own ] && [ "$at" != "$k" ]; then continue; fi
        key=$(echo "$line" | cksum | cut -d' ' -f1)
        [ -e "$STATE/failed-$key" ] && continue
        # one lane per line at a time; the other lane takes the next line
        exec 9> "$STATE/line-$key.lock"
        flock -n 9 || continue
        if has_work "$line"; then
          picked=$line
          break
        fi
        exec 9>&-
      done < <(queue_lines)
      [ -n "$picked" ] && break
    done
    [ -n "$picked" ] || return 0
    say "lane $k: start: $picked"
    # shellcheck disable=SC2086
    nice -n "${QUEUE_NICE:-5}" "$SWEEP" $picked --jobs 1 --set run.threads=1 \
      >> "$EXP/queue-lane$k.log" 2>&1 < /dev/null &
    echo $! > "$STATE/lane$k.pid"
    wait $! 2> /dev/null
    rc=$?
    rm -f "$STATE/lane$k.pid"
    exec 9>&-
    say "lane $k: exit $rc: $picked"
    case $rc in
    0) ;;
    75) return 75 ;;
    *) touch "$STATE/failed-$key"; say "lane $k: FAILED ($rc), skipped until the next start: $picked" ;;
    esac
  done
  return 75
}

stop() {
  touch "$STATE/stop"
  say "stop requested: every running cell checkpoints and stops"
  for p in "$STATE"/lane*.pid; do
    [ -e "$p" ] && kill -TERM "$(cat "$p")" 2> /dev/null
  done
}
trap stop TERM INT HUP USR1

say "queue $QUEUE: $LANES lanes, $SWEEP, OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE"
# with the kernel's autogroup scheduling on, nice orders processes only inside one session: the
# queue (a session of its own under setsid) then gets no more CPU than a build beside it
if [ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2> /dev/null)" = 1 ]; then
  say "warning: sched_autogroup_enabled = 1: the cells' nice ranks them only against their own" \
    "session; echo 0 > /proc/sys/kernel/sched_autogroup_enabled (root) makes nice work machine-wide"
fi
pids=""
for k in $(seq 1 "$LANES"); do
  lane "$k" &
  pids="$pids $!"
  sleep 2 # the first lane takes its line's lock before the second looks
done
status=0
for p in $pids; do
  while :; do
    wait "$p"
    rc=$?
    # a trapped signal interrupts wait (rc > 128) while the lane goes on: wait again
    kill -0 "$p" 2> /dev/null || break
  done
  [ "$rc" -eq 75 ] && status=75
done
[ -e "$STATE/stop" ] && status=75
say "queue ended (exit $status)"
rm -f "$EXP/queue.pid"
exit $status
