#!/bin/sh
# check-format.sh [SOURCE_ROOT] — every C/C++ file of the project is as clang-format (the
# checked-in .clang-format, clang-format 14 as Debian 12 ships it) writes it. Fix with:
#   clang-format -i $(git ls-files '*.c' '*.h' '*.cpp')
set -u
ROOT=${1:-$(dirname "$0")/..}
cd "$ROOT" || exit 2
command -v clang-format > /dev/null || { echo "check-format: clang-format is not installed (scripts/install-deps.sh --ci)"; exit 1; }
files=$(find common learner modelsvc actors tools tests bench scripts ./*.c \
          \( -name '*.c' -o -name '*.h' -o -name '*.cpp' \) -type f | sort)
if clang-format --dry-run --Werror $files 2> /tmp/check-format.$$; then
  echo "check-format: ok ($(echo "$files" | wc -l) files)"
  rm -f /tmp/check-format.$$
  exit 0
fi
grep -o '^[^:]*\.\(c\|h\|cpp\):' /tmp/check-format.$$ | sort -u | sed 's/:$//; s/^/check-format: not formatted: /'
rm -f /tmp/check-format.$$
exit 1
