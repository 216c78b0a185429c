#!/bin/sh
# install-deps.sh — every Debian package usbpo needs to build, test and run.
# Idempotent: packages already present are skipped by apt; `apt-get update` runs once per call
# and only when something is missing.
#   scripts/install-deps.sh           build + test deps
#   scripts/install-deps.sh --ci      also what the default test suite uses (CI)
#   scripts/install-deps.sh --extras  everything: also the optional tools (slurm, valgrind,
#                                     clang for the fuzzer)
# The base set includes what usbpo_plot (gnuplot) and --eval --video (EGL + Mesa's software
# OpenGL, ffmpeg) need.
set -eu

PKGS="meson ninja-build pkg-config cmake gcc g++ \
libopenmpi-dev openmpi-bin libopenblas-dev libmujoco-dev libmsgpack-dev libtomlplusplus-dev \
iproute2 procps gnuplot-nox ffmpeg libegl-dev libegl-mesa0 libgl1-mesa-dri"
CI="python3 clang clang-format libclang-rt-14-dev munge slurmctld slurmd slurm-client util-linux"
EXTRAS="munge slurm-wlm slurmctld slurmd slurm-client clang libclang-rt-14-dev valgrind"

case "${1:-}" in
  --ci) PKGS="$PKGS $CI" ;;
  --extras) PKGS="$PKGS $CI $EXTRAS" ;;
  "") ;;
  *) echo "usage: $0 [--ci|--extras]" >&2; exit 2 ;;
esac

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
if [ -z "$missing" ]; then
  echo "install-deps: all packages present"
  exit 0
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
