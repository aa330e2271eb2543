#!/usr/bin/env bash
# Formats tessel's C++ sources with the repository's .clang-format, or checks that they are.
#
#   bash tools/format.sh            reformat every tracked .cpp/.h in place
#   bash tools/format.sh --check    list the files clang-format would change; exit 1 if any
#   bash tools/format.sh FILE...    reformat only these
#
# The clang-format is Debian 12's (`clang-format`, version 14) unless CLANG_FORMAT names another:
# versions format differently, so CI (ctest style.clang_format) uses the same one. Generated files
# (a "do not edit" header written by a script) are left as their generator writes them.
set -euo pipefail
cd "$(dirname "$0")/.."
clang_format="${CLANG_FORMAT:-clang-format}"
if ! command -v "$clang_format" >/dev/null; then
  echo "tools/format.sh: $clang_format not found (Debian: apt-get install clang-format)" >&2
  exit 2
fi

check=0
if [[ "${1:-}" == "--check" ]]; then
  check=1
  shift
fi

files=()
if (($#)); then
  files=("$@")
else
  while IFS= read -r f; do
    # Generated sources keep their generator's layout.
    if head -n 3 "$f" | grep -q "do not edit"; then continue; fi
    files+=("$f")
  done < <(git ls-files '*.cpp' '*.h')
fi

if ((check)); then
  bad=()
  for f in "${files[@]}"; do
    if ! "$clang_format" --dry-run -Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
  done
  if ((${#bad[@]})); then
    echo "tools/format.sh: ${#bad[@]} file(s) are not formatted (run bash tools/format.sh):"
    printf '  %s\n' "${bad[@]}"
    exit 1
  fi
  echo "tools/format.sh: ${#files[@]} files formatted as .clang-format says"
else
  "$clang_format" -i "${files[@]}"
fi
