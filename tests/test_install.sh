#!/bin/bash
# test_install — the toolset installs and runs from where it is installed (issue 36, item 2):
# `meson install` into a temporary DESTDIR puts usbpo_dist, usbpo_sweep, usbpo_plot, the Slurm
# template, the published reference curves, the presets and the docs under the prefix; from a
# directory outside the source tree, with the source tree out of reach (its data moved away for
# the test's duration is not needed: the tools find theirs relative to their own location), the
# installed usbpo_sweep writes a Slurm array script that names the installed template
# (--slurm --dry-run), runs a real local cell and reports it against the installed published
# curves, and the installed usbpo_plot draws the cell.
#   test_install.sh BUILD_ROOT SOURCE_ROOT
set -u
BUILD=$(readlink -f "$1"); SRC=$(readlink -f "$2")
. "$SRC/tests/lib.sh"
D=$T/dest
PREFIX=$(meson introspect "$BUILD" --buildoptions | python3 -c '
import json, sys
print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
meson install -C "$BUILD" --no-rebuild --destdir "$D" > "$T/install.log" 2>&1 ||
  { bad "meson install failed"; tail "$T/install.log"; exit 1; }
P=$D$PREFIX
for f in bin/usbpo_dist bin/usbpo_sweep bin/usbpo_plot share/usbpo/slurm/usbpo.sbatch \
         share/usbpo/reference/published/mbpo_Hopper.csv share/usbpo/configs/hopper.toml \
         share/doc/usbpo/README.md; do
  [ -e "$P/$f" ] || bad "not installed: $f"
done
[ $fail = 0 ] && ok "installed under DESTDIR: the three programs, the Slurm template, the published curves, the presets, the docs"

# a tiny experiment in a directory of its own, outside the source tree
W=$T/work
mkdir -p "$W"
cp "$SRC/tests/data/sweep/tiny-base.toml" "$W/"
cat > "$W/mini.toml" <<'EOF'
[experiment]
name = "mini"
base = "tiny-base.toml"
envs = ["hopper"]
seeds = [0]
total_steps = 200
baseline = "mbpo"
[[variant]]
label = "mbpo"
set = ["run.algo=mbpo", "env.init_steps=200", "env.min_pool_size=200"]
EOF
cd "$W" || exit 1
# nothing of the build or the source tree on the path or in the environment
env -i PATH=/usr/bin:/bin HOME="$HOME" OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  "$P/bin/usbpo_sweep" mini.toml --slurm --dry-run > sb.txt 2> sb.log; rc=$?
[ $rc = 0 ] && grep -q "exec bash '$P/share/usbpo/slurm/usbpo.sbatch'" sb.txt &&
  grep -q "USBPO_BIN='$P/bin/usbpo_dist'" sb.txt &&
  ok "installed usbpo_sweep --slurm --dry-run: the installed template and usbpo_dist" ||
  { bad "--slurm --dry-run: exit $rc"; cat sb.log; grep -E "exec|USBPO_BIN" sb.txt; }
env -i PATH=/usr/bin:/bin HOME="$HOME" "$P/bin/usbpo_sweep" mini.toml --jobs 1 --set run.threads=1 > run.log 2>&1; rc=$?
[ $rc = 0 ] && [ -f exp/mini/hopper/mbpo/s0/policy_final.bin ] && ok "installed usbpo_sweep ran the cell" ||
  { bad "the local cell: exit $rc"; tail -5 run.log; tail -5 exp/mini/hopper/mbpo/s0/sweep.out 2> /dev/null; }
env -i PATH=/usr/bin:/bin HOME="$HOME" "$P/bin/usbpo_sweep" mini.toml --report > rep.log 2>&1; rc=$?
[ $rc = 0 ] && grep -q "published MBPO" exp/mini/report.md && [ -s exp/mini/hopper.png ] &&
  ok "its report has the published rows (from the installed data) and its figure" ||
  { bad "--report: exit $rc"; cat rep.log; }
env -i PATH=/usr/bin:/bin HOME="$HOME" "$P/bin/usbpo_plot" exp/mini/hopper/mbpo/s0 -o cell.png > plot.log 2>&1; rc=$?
[ $rc = 0 ] && [ -s cell.png ] && ok "installed usbpo_plot drew the cell" || { bad "usbpo_plot: exit $rc"; cat plot.log; }
# the data path: $USBPO_DATA wins over the installed one
mkdir -p alt/slurm && printf '#!/bin/bash\n' > alt/slurm/usbpo.sbatch
env -i PATH=/usr/bin:/bin USBPO_DATA="$W/alt" "$P/bin/usbpo_sweep" mini.toml --slurm --dry-run > sb2.txt 2> /dev/null
grep -q "exec bash '$W/alt/slurm/usbpo.sbatch'" sb2.txt && ok "\$USBPO_DATA names another data directory" ||
  { bad "USBPO_DATA ignored"; grep exec sb2.txt; }
exit $fail
