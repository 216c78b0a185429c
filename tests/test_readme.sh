#!/bin/bash
# test_readme — every command the README shows, run as written, so that the front door cannot rot
# (issue 36, item 3). The README's ```sh blocks are read line by line; each command runs in a
# scratch copy of the source tree whose build/ is this build, from the copy's root:
#  * a command that ends by itself must exit 0 within its time;
#  * a command that starts a run or a sweep (usbpo_dist on a config or --resume, mpirun, usbpo_sweep without
#    --status/--report/--dry-run) is started as written, then stopped, once it has started (the
#    quickstart: once its first epoch is written), with SIGUSR1 to its process group: it must
#    checkpoint and exit 75 (the README says how to resume);
#  * a command marked `# needs a cluster` is checked for its script and arguments only;
#  * a command marked `# CI runs this` (the test suite itself) is checked against .ci/run.
#   test_readme.sh BUILD_ROOT SOURCE_ROOT
set -u
BUILD=$(readlink -f "$1"); SRC=$(readlink -f "$2")
. "$SRC/tests/mpi_env.sh"
. "$SRC/tests/lib.sh"
W=$T/src
mkdir -p "$W"
(cd "$SRC" && tar cf - --exclude='./build*' --exclude=./exp --exclude=./runs --exclude=./.git .) |
  (cd "$W" && tar xf -)
ln -s "$BUILD" "$W/build"
# the README's commands: the lines of its sh blocks, continuation lines joined
python3 - "$SRC/README.md" > "$T/cmds.txt" <<'EOF'
import sys
inside, cur = False, ""
for line in open(sys.argv[1]):
    s = line.rstrip("\n")
    if s.startswith("```"):
        inside = s.strip() == "```sh" if not inside else False
        continue
    if not inside:
        continue
    cur += s[:-1] + " " if s.endswith("\\") else s
    if s.endswith("\\"):
        continue
    if cur.strip() and not cur.strip().startswith("#"):
        print(cur)
    cur = ""
EOF
n=$(wc -l < "$T/cmds.txt")
[ "$n" -ge 5 ] || { bad "only $n commands found in the README"; exit 1; }
i=0
while IFS= read -r cmd; do
  i=$((i + 1))
  tag=""
  case $cmd in
    *"# needs a cluster"*) tag=cluster ;;
    *"# CI runs this"*) tag=ci ;;
  esac
  run=${cmd%%#*}
  if [ "$tag" = cluster ]; then
    script=$(echo "$run" | grep -o 'deploy/[^ ]*' | head -1)
    [ -n "$script" ] && bash -n "$W/$script" && ok "[$i] needs a cluster: $script parses ($run)" ||
      bad "[$i] needs a cluster: no script in '$run'"
    continue
  fi
  if [ "$tag" = ci ]; then
    grep -q "meson test -C" "$SRC/.ci/run" && ok "[$i] CI runs this: $run" || bad "[$i] .ci/run does not run '$run'"
    continue
  fi
  long=0
  case $run in
    *"usbpo_sweep"*"--status"* | *"usbpo_sweep"*"--report"* | *"--dry-run"* | *"--check-config"* | *"--help"*) long=0 ;;
    *"usbpo_dist "*"configs/"* | *"usbpo_dist --resume"* | *"mpirun "* | *"usbpo_sweep "*) long=1 ;;
  esac
  log=$T/cmd$i.log
  t0=$(date +%s)
  # the shell survives the group's USR1 (a trap, not an ignore: children get the default)
  (cd "$W" && exec setsid bash -c "trap true USR1; $run" > "$log" 2>&1 < /dev/null) &
  pid=$!
  if [ $long = 1 ]; then
    # started: a run's first log line, or a sweep's first cell; the quickstart runs its first
    # epoch (the commands after it look at that run)
    started="run directory|usbpo_sweep: start "
    case $run in *configs/quickstart.toml*) started="epoch 0:" ;; esac
    for _ in $(seq 3000); do
      grep -q -E "$started" "$log" 2> /dev/null && break
      kill -0 $pid 2> /dev/null || break
      sleep 0.1
    done
    sleep 2
    kill -USR1 -- -$pid 2> /dev/null
  fi
  for _ in $(seq 3000); do kill -0 $pid 2> /dev/null || break; sleep 0.1; done
  if kill -0 $pid 2> /dev/null; then
    kill -KILL -- -$pid 2> /dev/null
    bad "[$i] still running after 5 minutes: $run"
    continue
  fi
  wait $pid
  rc=$?
  want=0
  [ $long = 1 ] && want=75
  [ $rc = $want ] && ok "[$i] exit $rc ($(($(date +%s) - t0)) s): $run" ||
    { bad "[$i] exit $rc (want $want): $run"; tail -n 5 "$log"; }
done < "$T/cmds.txt"
exit $fail
