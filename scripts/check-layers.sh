#!/bin/sh
# check-layers.sh [SOURCE_ROOT] — the one rule of the layout (README, Layout): a file includes
# only headers of its own layer and of the layers below it; a role never includes another
# role's headers.
#   common/base     -> base
#   common/core     -> core, base
#   common/runtime  -> runtime, base
#   learner/ modelsvc/ actors/ (the roles) -> the role's own folder, core, runtime, base
#   tools/ (the experiment tools: usbpo_sweep, its report, usbpo_plot) -> tools, base: they read
#     run directories as files and run usbpo_dist as a program, never link the core or a role
#   usbpo_dist.c (the program) -> anything
# Prints each folder's project includes (folder: header <- layer) and every violation; exits 1
# if there is one. The meson build enforces the same rule through include directories; this
# script says which include broke it, in words.
set -u
ROOT=${1:-$(dirname "$0")/..}
cd "$ROOT" || exit 2

layer_of() { # path -> layer name
  case $1 in
    common/base/*) echo base ;;
    common/core/*) echo core ;;
    common/runtime/*) echo runtime ;;
    learner/*) echo learner ;;
    modelsvc/*) echo modelsvc ;;
    actors/*) echo actors ;;
    tools/*) echo tools ;;
    *) echo top ;;
  esac
}

allowed() { # from to -> 0 if from may include to
  case $1:$2 in
    base:base) return 0 ;;
    core:core | core:base) return 0 ;;
    runtime:runtime | runtime:base) return 0 ;;
    learner:learner | modelsvc:modelsvc | actors:actors) return 0 ;;
    learner:core | learner:runtime | learner:base) return 0 ;;
    modelsvc:core | modelsvc:runtime | modelsvc:base) return 0 ;;
    actors:core | actors:runtime | actors:base) return 0 ;;
    tools:tools | tools:base) return 0 ;;
    top:*) return 0 ;;
  esac
  return 1
}

# where "name" resolves from a file: its own folder, then the layers' include directories (and
# the root, for the programs' "role/header.h")
resolve() { # file name -> path or ""
  d=$(dirname "$1")
  for base in "$d" common/base common/core common/runtime .; do
    if [ -f "$base/$2" ]; then
      case "$base/$2" in
        *..*) realpath -m --relative-to=. "$base/$2" ;;
        ./*) p="$base/$2"; echo "${p#./}" ;;
        *) echo "$base/$2" ;;
      esac
      return
    fi
  done
  echo ""
}

bad=0
files=$(find common learner modelsvc actors tools -name '*.[ch]' -o -name '*.cpp' | sort)
files="$files $(ls ./*.c ./*.h 2>/dev/null | sed 's|^\./||')"
current=""
for f in $files; do
  from=$(layer_of "$f")
  folder=$(dirname "$f")
  if [ "$folder" != "$current" ]; then
    current=$folder
    echo "$folder/ ($from):"
  fi
  incs=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
  line=""
  for i in $incs; do
    p=$(resolve "$f" "$i")
    if [ -z "$p" ]; then
      echo "  VIOLATION: $f includes \"$i\", which is not a header of this project's layers"
      bad=1
      continue
    fi
    to=$(layer_of "$p")
    [ "$p" = "$f" ] && continue
    line="$line $i<-$to"
    if ! allowed "$from" "$to"; then
      echo "  VIOLATION: $f ($from) includes $p ($to): $from may use only what is below it"
      bad=1
    fi
  done
  echo "  $(basename "$f"):$line"
done
if [ $bad -ne 0 ]; then
  echo "check-layers: FAILED (see VIOLATION lines)"
  exit 1
fi
echo "check-layers: ok"
