#!/bin/bash
# test_moments_upgrade — a `faithful` run made before 2026-12 (phase 2 with Adam moments of its
# own; tests/data/old-faithful/, written by that version) under today's faithful (phase 1's
# moments, spec deviation 10): its resume is refused, nothing is written, and the message says
# what changed and how to continue it; with --set finetune.moments=own it resumes as it was, both
# from the config and from the run's own config.toml (--resume RUN_DIR).
#   test_moments_upgrade.sh USBPO_DIST SOURCE_ROOT
set -u
DIST=$(readlink -f "$1"); SRC=$(readlink -f "$2")
. "$SRC/tests/lib.sh"
cd "$T" || exit 1
cp "$SRC/tests/data/sweep/tiny-base.toml" .
mkdir runs && cp -r "$SRC/tests/data/old-faithful/run" runs/old-faithful
R=runs/old-faithful
ARGS="tiny-base.toml --set run.algo=usbpo --set finetune.mode=faithful --set run.threads=1
      --set run.dir=runs --set run.name=old-faithful --set run.total_steps=300"
snap() { (cd "$R" && find . -type f ! -name .run.lock | sort | xargs md5sum); } # the lock: bookkeeping
snap > before.txt
"$DIST" $ARGS --resume > r1.log 2>&1; rc=$?
snap > after.txt
[ $rc = 1 ] && grep -q "faithful phase 2 is the one of usbpo before 2026-12" r1.log &&
  grep -q -- "--set finetune.moments=own" r1.log && ok "today's faithful refuses the old run, saying why and how to go on" ||
  { bad "resume under today's faithful: exit $rc"; grep -i error r1.log; }
cmp -s before.txt after.txt && ok "  and wrote nothing" || bad "  the refused resume changed the run"
"$DIST" --resume "$R" --set run.total_steps=300 > r2.log 2>&1; rc=$?
[ $rc = 1 ] && grep -q "finetune.moments=own" r2.log && ok "--resume RUN_DIR (its own config.toml): refused the same way" ||
  { bad "--resume RUN_DIR: exit $rc"; grep -i error r2.log; }
"$DIST" --resume "$R" --set run.total_steps=300 --set finetune.moments=own > r3.log 2>&1; rc=$?
rows=$(($(wc -l < "$R/metrics.csv") - 1))
[ $rc = 0 ] && grep -q "resuming from checkpoint" r3.log && [ "$rows" = 3 ] &&
  ok "with finetune.moments=own it resumes as it was and finishes (3 epochs)" ||
  { bad "resume with moments=own: exit $rc, $rows rows"; tail -3 r3.log; }
exit $fail
