#!/bin/sh
# test_layers — scripts/check-layers.sh passes on the tree, and fails (naming the file) when a
# role includes another role's header, when core reaches up into the runtime, and when base
# reaches up into core; and the build itself refuses such an include (no include path).
#   test_layers.sh SOURCE_ROOT
set -u
SRC=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
out=$("$SRC/scripts/check-layers.sh" "$SRC") || { echo "FAILED: the tree breaks the layer rule"; echo "$out" | grep VIOLATION; exit 1; }
echo "ok: the tree keeps the layer rule"
for case in "learner/sync.c:../modelsvc/modelsvc.h" "common/core/sac.c:ckpt.h" \
            "common/base/nn.c:../core/policy.h" "modelsvc/rollout_role.c:../actors/actors.h" \
            "tools/sweep_report.c:ckpt.h" "tools/usbpo_plot.c:../learner/coord.h"; do
  f=${case%%:*}; inc=${case#*:}
  rm -rf "$T/tree"; mkdir -p "$T/tree"
  (cd "$SRC" && tar cf - common learner modelsvc actors tools ./*.c scripts) | (cd "$T/tree" && tar xf -)
  sed -i "1i #include \"$inc\"" "$T/tree/$f"
  if out=$("$T/tree/scripts/check-layers.sh" "$T/tree"); then
    echo "FAILED: $f including $inc was not caught"; fail=1
  elif echo "$out" | grep VIOLATION | grep -q "$f"; then
    echo "ok: $f including $inc refused"
  else
    echo "FAILED: the violation report does not name $f"; echo "$out" | grep VIOLATION; fail=1
  fi
done
# the compiler sees no path from one role to another: a plain include of a sibling role's
# header does not resolve from learner/
if cc -fsyntax-only -I"$SRC/common/base" -I"$SRC/common/core" -I"$SRC/common/runtime" \
     -x c - -o /dev/null 2>/dev/null <<'C'
#include "modelsvc.h"
C
then echo "FAILED: a role header resolves on the roles' include path"; fail=1
else echo "ok: another role's header is not on a role's include path"; fi
exit $fail
