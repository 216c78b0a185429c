#!/bin/bash
# mutate.sh [MUTANTS_FILE] [--only N,M] — mutation testing: each mutant of the list (default
# scripts/mutants.txt: file | text | replacement | tests | what) is applied to a scratch copy of
# the tree, built, and the tests it names are run against it ("fast": the unit tests but the
# slow pool, layers and format checks, plus semantics and golden); a mutant is killed when a
# test fails (or the build does). Prints one line per mutant, the survivors, and the kill rate.
#   scripts/mutate.sh                      every mutant (about 2 min each on two cores)
#   scripts/mutate.sh --only 3,12          those (1-based, in file order)
#   MUTATE_DIR=/tmp/m scripts/mutate.sh    keep the scratch build there (reused by the next run);
#                                          run again after a stop, it goes on: a mutant already
#                                          judged on the same tree (its files' hashes) and the same
#                                          list entry is reported from $MUTATE_DIR/judged.tsv, not rerun
#   MUTATE_TIMEOUT_MULTIPLIER=4 scripts/mutate.sh   on a loaded machine (the tests' own limits
#                                          assume two free cores); a kill by a time-out says so
# Runs from `meson test --suite mutation` too (not in the default suite: it takes hours).
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
LIST=$SRC/scripts/mutants.txt
ONLY=""
while [ $# -gt 0 ]; do
  case $1 in
  --only) ONLY=$2; shift 2 ;;
  *) LIST=$1; shift ;;
  esac
done
W=${MUTATE_DIR:-$(mktemp -d)}
TM=${MUTATE_TIMEOUT_MULTIPLIER:-1}
mkdir -p "$W"
# a scratch copy of the tracked tree as it is now (made afresh every run: a kept MUTATE_DIR must
# not test yesterday's sources; tar keeps the files' times, so the kept build redoes only what
# changed), and a build of it
rm -rf "$W/src"
mkdir -p "$W/src"
(cd "$SRC" && git ls-files -z | xargs -0 tar cf - 2> /dev/null) | (cd "$W/src" && tar xf -) ||
  (cd "$SRC" && tar cf - --exclude='./build*' --exclude=./exp --exclude=./.git .) | (cd "$W/src" && tar xf -)
if [ ! -f "$W/build/build.ninja" ]; then
  meson setup "$W/build" "$W/src" --buildtype=release > "$W/setup.log" 2>&1 ||
    { echo "mutate: meson setup failed (see $W/setup.log)"; exit 2; }
fi
ninja -C "$W/build" > "$W/ninja.log" 2>&1 || { echo "mutate: the unmutated tree does not build"; exit 2; }
# the tree's identity: a verdict recorded on another tree is not reused (the code, the tests,
# their data and the build; not docs/, experiments/ or the *.md pages, which no mutant's test reads)
TREE=$(cd "$W/src" && find . -type f ! -path './docs/*' ! -path './experiments/*' ! -name '*.md' -print0 |
  sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
touch "$W/judged.tsv"
FAST="rng config nn nn_f32 envs sac ensemble finetune buffer rollout runtime codec ckpt durable
      blasinfo tfevents batch semantics golden"

python3 - "$LIST" "$ONLY" > "$W/mutants.tsv" <<'EOF'
import sys
only = {int(x) for x in sys.argv[2].split(",") if x} if sys.argv[2] else None
n = 0
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if not line.strip() or line.lstrip().startswith("#"):
        continue
    fields, cur, i = [], "", 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line) and line[i + 1] == "|":
            cur += "|"; i += 2; continue
        if line[i] == "|":
            fields.append(cur); cur = ""; i += 1; continue
        cur += line[i]; i += 1
    fields.append(cur)
    n += 1
    if len(fields) != 5:
        print(f"BAD\t{n}\tline has {len(fields)} fields: {line[:80]}"); continue
    if only and n not in only:
        continue
    f, a, b, tests, what = fields
    enc = lambda s: s.replace("\\n", "\n").encode().hex()
    print(f"{n}\t{f}\t{enc(a)}\t{enc(b)}\t{tests}\t{what}")
EOF
# the baseline: every test a mutant names passes on the unmutated tree (else a "kill" would
# be the test's own failure)
all=""
while IFS=$'\t' read -r _ _ _ _ tests _; do all="$all ${tests//fast/$FAST}"; done < "$W/mutants.tsv"
all=$(echo $all | tr ' ' '\n' | sort -u | tr '\n' ' ')
if grep -qx "$TREE $(echo $all | sha256sum | cut -c1-16)" "$W/baseline.ok" 2> /dev/null; then
  echo "mutate: baseline: passed earlier on this tree ($TREE)"
elif ! meson test -C "$W/build" --no-rebuild --timeout-multiplier "$TM" $all > "$W/baseline.log" 2>&1 < /dev/null; then
  echo "mutate: the unmutated tree fails a test the mutants rely on:"
  grep -E '^ *[0-9]+/[0-9]+ .*(FAIL|TIMEOUT)' "$W/baseline.log"
  exit 2
else
  echo "mutate: baseline: $(echo $all | wc -w) tests pass on the unmutated tree ($TREE)"
  echo "$TREE $(echo $all | sha256sum | cut -c1-16)" >> "$W/baseline.ok"
fi
total=0; killed=0; survivors=""; unapplied=""
# the list is read on descriptor 3 and every command runs with stdin from /dev/null: a test that
# starts mpirun (hostile, semantics) reads its stdin and would swallow the rest of the list
while IFS=$'\t' read -r n file a b tests what <&3; do
  if [ "$n" = BAD ]; then echo "mutate: mutant $file: $a"; exit 2; fi
  total=$((total + 1))
  key="$TREE $(printf '%s\t' "$n" "$file" "$a" "$b" "$tests" | sha256sum | cut -c1-16)"
  earlier=$(grep -F "$key	" "$W/judged.tsv" | tail -n 1 | cut -f2-)
  if [ -n "$earlier" ]; then
    echo "$earlier (judged earlier on this tree)"
    case "$earlier" in
      *": SURVIVED: "*) survivors="$survivors\n  $n: $what ($file)" ;;
      *) killed=$((killed + 1)) ;;
    esac
    continue
  fi
  f="$W/src/$file"
  cp "$f" "$W/orig"
  if ! python3 - "$f" "$a" "$b" <<'EOF'
import sys
p, a, b = sys.argv[1], bytes.fromhex(sys.argv[2]).decode(), bytes.fromhex(sys.argv[3]).decode()
s = open(p).read()
if s.count(a) != 1:
    print(f"  the text is in {p} {s.count(a)} times (want 1)"); sys.exit(1)
open(p, "w").write(s.replace(a, b))
EOF
  then
    echo "mutant $n ($file): NOT APPLIED (fix its text in the list): $what"
    cp "$W/orig" "$f"
    total=$((total - 1)); unapplied="$unapplied $n"
    continue
  fi
  t0=$(date +%s)
  names=$tests
  [ "$tests" = fast ] && names=$FAST
  names=${names//fast/$FAST}
  if ! ninja -C "$W/build" > "$W/ninja.log" 2>&1; then
    verdict="killed (build)"
  elif meson test -C "$W/build" --no-rebuild --timeout-multiplier "$TM" $names > "$W/test.log" 2>&1 < /dev/null; then
    verdict="SURVIVED"
  else
    verdict="killed by $(grep -E '^ *[0-9]+/[0-9]+ .*(FAIL|TIMEOUT)' "$W/test.log" |
      sed -E 's|.*usbpo:[a-z]+ / ([A-Za-z0-9_]+) +([A-Z]+) .*|\1\2|; s/FAIL$//; s/TIMEOUT$/ (time-out)/' |
      tr '\n' ' ' | sed 's/ $//')"
  fi
  cp "$W/orig" "$f"
  line="mutant $n ($file, $(($(date +%s) - t0)) s): $verdict: $what"
  echo "$line"
  printf '%s\t%s\n' "$key" "$line" >> "$W/judged.tsv"
  if [ "$verdict" = SURVIVED ]; then survivors="$survivors\n  $n: $what ($file)"; else killed=$((killed + 1)); fi
done 3< "$W/mutants.tsv"
ninja -C "$W/build" > /dev/null 2>&1
listed=$(wc -l < "$W/mutants.tsv")
seen=$((total + $(echo $unapplied | wc -w)))
if [ "$seen" -ne "$listed" ]; then
  echo "mutate: only $seen of the $listed mutants listed were tried"
  exit 2
fi
echo
[ -n "$survivors" ] && printf "survivors:%b\n" "$survivors"
[ -n "$unapplied" ] && echo "not applied (their text is not in the tree once):$unapplied"
rate=$(awk -v k=$killed -v t=$total 'BEGIN { printf "%.1f", t ? 100 * k / t : 0 }')
echo "mutate: $killed of $total mutants killed ($rate %)"
[ -z "${MUTATE_DIR:-}" ] && rm -rf "$W"
[ -z "$unapplied" ] && awk -v k=$killed -v t=$total 'BEGIN { exit !(t > 0 && k >= 0.9 * t) }'
