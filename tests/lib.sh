# lib.sh — sourced by the shell tests after they set SRC: a scratch directory $T removed on exit
# (with any child a test left running), and the ok / bad reporters; a test ends with `exit $fail`.
T=$(mktemp -d)
trap 'pkill -P $$ 2>/dev/null; rm -rf "$T"' EXIT
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAILED: $*"; fail=1; }
