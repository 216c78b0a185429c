# slurm_env.sh — sourced by the Slurm tests after BIN and SRC are set: a local single-node
# Slurm (../shared/tools/slurm-local.sh, or $USBPO_SHARED_TOOLS) started in $SLURM_LOCAL_DIR,
# a work directory $T (the cwd), both cleaned up on exit; skips (77) without the tool.
TOOLS=${USBPO_SHARED_TOOLS:-$SRC/../shared/tools}
[ -x "$TOOLS/slurm-local.sh" ] || { echo "SKIP: no $TOOLS/slurm-local.sh"; exit 77; }
. "$SRC/tests/mpi_env.sh"
T=$(mktemp -d /tmp/usbpo-slurm-XXXXXX)
cleanup() { "$TOOLS/slurm-local.sh" stop > /dev/null 2>&1; rm -rf "$T"; }
trap cleanup EXIT
"$TOOLS/slurm-local.sh" install > "$T/install.log" 2>&1 || { echo "FAILED: slurm install"; tail "$T/install.log"; exit 1; }
"$TOOLS/slurm-local.sh" start > "$T/start.log" 2>&1 || { echo "FAILED: slurm start"; tail "$T/start.log"; exit 1; }
export USBPO_BIN=$BIN
cd "$T" || exit 1
